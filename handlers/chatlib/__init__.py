"""Code shared by every chat handler; the packager copies this package into each function's zip.

Importing the package itself imports nothing: each handler pulls in only the modules it uses,
so the authorizer never loads boto3 and cold starts stay short.
"""
