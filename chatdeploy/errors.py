"""Errors a user is expected to meet. Each renders as one line plus a hint, never a traceback."""

from __future__ import annotations


class ChatdeployError(Exception):
    """A failure while working: an AWS error, a failed test. Exit code 1."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(ChatdeployError):
    """Bad usage, bad config or a state file that is not ours: nothing was called. Exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """The config file is missing, unreadable or invalid."""


class StateError(UsageError):
    """The state file is corrupt, of another stack, or of an unknown schema."""


class LockedError(ChatdeployError):
    """Another chatdeploy run holds the stack's lock."""


class AwsError(ChatdeployError):
    """An AWS call failed in a way the user must act on (credentials, permissions, limits)."""


class StageFailed(ChatdeployError):
    """One or more resources could not be converged or removed."""
