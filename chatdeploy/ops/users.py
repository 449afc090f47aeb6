"""Guide step 8.3: the chat's users in the stack's Cognito user pool.

A user is made with AdminCreateUser (no invitation e-mail, e-mail marked verified) and then given
a permanent password, so it can sign in at once. Passwords are never written anywhere.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import botocore.exceptions

from chatdeploy.aws import error_code
from chatdeploy.errors import ChatdeployError, UsageError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A subset of the symbols Cognito accepts that survives copy and paste and a shell unquoted.
_SAFE_SYMBOLS = "-_.!@#%+="
_GENERATED_LENGTH = 20


@dataclass(frozen=True)
class _CharacterClass:
    description: str
    alphabet: str
    member: Callable[[str], bool]


_UPPER = _CharacterClass("an upper-case letter", string.ascii_uppercase, str.isupper)
_LOWER = _CharacterClass("a lower-case letter", string.ascii_lowercase, str.islower)
_DIGIT = _CharacterClass("a digit", string.digits, str.isdigit)
_SYMBOL = _CharacterClass("a symbol", _SAFE_SYMBOLS, lambda c: not c.isalnum() and not c.isspace())


@dataclass(frozen=True)
class PasswordPolicy:
    minimum_length: int = 8
    require_uppercase: bool = True
    require_lowercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = False

    @classmethod
    def of_pool(cls, pool: dict[str, Any]) -> PasswordPolicy:
        policy = pool.get("Policies", {}).get("PasswordPolicy", {})
        return cls(
            minimum_length=int(policy.get("MinimumLength", 8)),
            require_uppercase=bool(policy.get("RequireUppercase", False)),
            require_lowercase=bool(policy.get("RequireLowercase", False)),
            require_numbers=bool(policy.get("RequireNumbers", False)),
            require_symbols=bool(policy.get("RequireSymbols", False)),
        )

    def _required(self) -> list[_CharacterClass]:
        wanted = {
            _UPPER: self.require_uppercase,
            _LOWER: self.require_lowercase,
            _DIGIT: self.require_numbers,
            _SYMBOL: self.require_symbols,
        }
        return [kind for kind, required in wanted.items() if required]

    def problems(self, password: str) -> list[str]:
        """What the password lacks; empty when it satisfies the policy."""
        found = []
        if len(password) < self.minimum_length:
            found.append(f"at least {self.minimum_length} characters")
        for kind in self._required():
            if not any(kind.member(c) for c in password):
                found.append(kind.description)
        return found

    def generate(self) -> str:
        """A random password (secrets module) with at least one of every required class."""
        length = max(self.minimum_length, _GENERATED_LENGTH)
        required = self._required()
        symbols = _SYMBOL.alphabet if self.require_symbols else ""
        alphabet = string.ascii_letters + string.digits + symbols
        characters = [secrets.choice(kind.alphabet) for kind in required]
        characters += [secrets.choice(alphabet) for _ in range(length - len(characters))]
        secrets.SystemRandom().shuffle(characters)
        return "".join(characters)


@dataclass(frozen=True)
class User:
    email: str
    status: str
    enabled: bool
    created: datetime | None
    email_verified: bool


def check_email(email: str) -> str:
    if not _EMAIL.match(email):
        raise UsageError(f"{email!r} is not an e-mail address", hint="users sign in by e-mail")
    return email


class UserDirectory:
    """The users of one user pool."""

    def __init__(self, idp: Any, pool_id: str) -> None:
        self.idp = idp
        self.pool_id = pool_id

    def policy(self) -> PasswordPolicy:
        pool = self.idp.describe_user_pool(UserPoolId=self.pool_id)["UserPool"]
        return PasswordPolicy.of_pool(pool)

    def check_password(self, password: str) -> None:
        lacks = self.policy().problems(password)
        if lacks:
            raise UsageError(
                f"the password does not meet the user pool's policy: it needs {', '.join(lacks)}",
                hint="choose another, or leave --password out to have one generated",
            )

    def create(self, email: str, password: str) -> None:
        """A confirmed user with a verified e-mail and this permanent password."""
        try:
            self.idp.admin_create_user(
                UserPoolId=self.pool_id,
                Username=email,
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                ],
                MessageAction="SUPPRESS",
            )
        except botocore.exceptions.ClientError as error:
            if error_code(error) == "UsernameExistsException":
                raise ChatdeployError(
                    f"user {email} already exists",
                    hint=f"`chatdeploy users delete {email}` first, or choose another e-mail",
                ) from None
            raise
        try:
            self.set_password(email, password)
        except BaseException:
            # Leave no user behind that nobody can sign in as.
            self.idp.admin_delete_user(UserPoolId=self.pool_id, Username=email)
            raise

    def set_password(self, email: str, password: str) -> None:
        self.idp.admin_set_user_password(
            UserPoolId=self.pool_id, Username=email, Password=password, Permanent=True
        )

    def exists(self, email: str) -> bool:
        try:
            self.idp.admin_get_user(UserPoolId=self.pool_id, Username=email)
        except botocore.exceptions.ClientError as error:
            if error_code(error) == "UserNotFoundException":
                return False
            raise
        return True

    def delete(self, email: str) -> None:
        try:
            self.idp.admin_delete_user(UserPoolId=self.pool_id, Username=email)
        except botocore.exceptions.ClientError as error:
            if error_code(error) == "UserNotFoundException":
                raise ChatdeployError(
                    f"no user {email} in the stack's user pool",
                    hint="`chatdeploy users list` shows who there is",
                ) from None
            raise

    def list(self) -> list[User]:
        return sorted(self._all(), key=lambda user: user.email)

    def _all(self) -> Iterator[User]:
        pages = self.idp.get_paginator("list_users").paginate(UserPoolId=self.pool_id)
        for page in pages:
            for entry in page["Users"]:
                attributes = {a["Name"]: a["Value"] for a in entry.get("Attributes", [])}
                yield User(
                    email=attributes.get("email", entry["Username"]),
                    status=entry.get("UserStatus", "?"),
                    enabled=bool(entry.get("Enabled", True)),
                    created=entry.get("UserCreateDate"),
                    email_verified=attributes.get("email_verified") == "true",
                )
