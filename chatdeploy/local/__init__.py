"""`chatdeploy local`: the whole chat on one machine, against an embedded AWS emulator.

One module per concern: emulator (moto's server), deployed (what the emulator says was
deployed), function_code (the uploaded zips, checked), workers and worker_main (each function
in its own process), lambda_logs (their output into CloudWatch Logs), http_server (the one
loopback listener), gateway, events, authorization and management_api (API Gateway's
WebSocket side), frontend_server (the bucket over HTTP), and runner (start to Ctrl-C).

Nothing here is imported by `chatdeploy --help`; worker_main imports the standard library only.
"""
