"""ID tokens for the WebSocket tests: a named user's, or a dedicated test user's.

The dedicated test user gets a fresh random password on every run, used once to sign in and
then forgotten: no password or token is ever stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from chatdeploy.aws import error_code
from chatdeploy.errors import ChatdeployError
from chatdeploy.ops.users import UserDirectory

TEST_USER = "chatdeploy-test-ws@example.com"


@dataclass(frozen=True)
class SignedIn:
    email: str
    id_token: str

    def __repr__(self) -> str:
        return f"SignedIn(email={self.email!r}, id_token=<hidden>)"


def sign_in(idp: Any, client_id: str, email: str, password: str) -> SignedIn:
    """USER_PASSWORD_AUTH with the stack's app client, as the web app does."""
    try:
        answer = idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
    except botocore.exceptions.ClientError as error:
        explained = _sign_in_failure(email, error)
        if explained is None:
            raise
        raise explained from None
    result = answer.get("AuthenticationResult")
    if not result:
        challenge = answer.get("ChallengeName", "an unknown")
        raise ChatdeployError(
            f"{email} cannot sign in yet: Cognito asks for a {challenge} challenge",
            hint=f"set a permanent password with `chatdeploy users create {email}` (after a "
            "delete), or use the web app once",
        )
    return SignedIn(email, str(result["IdToken"]))


def _sign_in_failure(email: str, error: botocore.exceptions.ClientError) -> ChatdeployError | None:
    code = error_code(error)
    if code in {"NotAuthorizedException", "UserNotFoundException"}:
        return ChatdeployError(
            f"Cognito refused the sign-in of {email}: wrong e-mail or password, or a disabled user"
        )
    if code == "UserNotConfirmedException":
        return ChatdeployError(
            f"{email} is not confirmed", hint="`chatdeploy users create` makes confirmed users"
        )
    return None


def sign_in_test_user(directory: UserDirectory, client_id: str) -> SignedIn:
    """Creates the dedicated test user if needed, gives it a new password and signs it in."""
    password = directory.policy().generate()
    if directory.exists(TEST_USER):
        directory.set_password(TEST_USER, password)
    else:
        directory.create(TEST_USER, password)
    return sign_in(directory.idp, client_id, TEST_USER, password)
