"""chatdeploy: a serverless WebSocket chat on AWS, deployed, operated and run locally."""

__version__ = "0.1.0"
