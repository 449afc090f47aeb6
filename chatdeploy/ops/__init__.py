"""Operating a deployed stack (guide steps 8 and 9): users, the WebSocket tests, logs, metrics.

The modules here hold the logic and return plain data; chatdeploy/commands/operate.py parses
the command line, calls them and renders the results (through ops/views.py). Nothing here
imports click.
"""
