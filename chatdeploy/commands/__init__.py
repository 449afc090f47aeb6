"""One module per group of commands. Keep module-level imports to click and the standard
library: heavy imports (boto3, rich, moto) belong inside the command functions."""
