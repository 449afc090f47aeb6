"""The load run's caps, kept free of imports so the command line can show them in --help."""

MAX_CLIENTS = 50
MAX_MESSAGES = 200
MAX_TIME_LIMIT = 600.0
DEFAULT_LOAD_MESSAGES = 10
