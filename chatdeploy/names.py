"""Every name the stack gives AWS, derived from the stack name alone, so that a resource
is found again when the state file is lost.

The default stack `chat` reproduces the guide's names (ChatConnections, ChatMessages, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

STACK_TAG = "chatdeploy:stack"
API_STAGE = "production"
USER_ID_INDEX = "UserIdIndex"
ROOM_INDEX = "RoomIdIndex"
HISTORY_INDEX = "RoomIdTimestampIndex"
# API Gateway closes a WebSocket after 2 hours, so a connection row never needs to outlive that.
CONNECTION_TTL_SECONDS = 2 * 60 * 60


def pascal(text: str) -> str:
    """`send_message` -> `SendMessage`, `my-app` -> `MyApp`."""
    parts = text.replace("-", "_").split("_")
    return "".join(part[:1].upper() + part[1:] for part in parts if part)


@dataclass(frozen=True)
class Names:
    stack: str

    @property
    def prefix(self) -> str:
        return pascal(self.stack)

    @property
    def tags(self) -> dict[str, str]:
        return {STACK_TAG: self.stack}

    @property
    def connections_table(self) -> str:
        return f"{self.prefix}Connections"

    @property
    def messages_table(self) -> str:
        return f"{self.prefix}Messages"

    @property
    def role(self) -> str:
        return f"{self.prefix}LambdaExecutionRole"

    def function(self, logical_name: str) -> str:
        return f"{self.prefix}{pascal(logical_name)}"

    def log_group(self, logical_name: str) -> str:
        return f"/aws/lambda/{self.function(logical_name)}"

    @property
    def api(self) -> str:
        return f"{self.prefix}WebSocketApi"

    @property
    def authorizer(self) -> str:
        return f"{self.prefix}CognitoAuthorizer"

    @property
    def user_pool(self) -> str:
        return f"{self.prefix}UserPool"

    @property
    def user_pool_client(self) -> str:
        return f"{self.prefix}WebClient"

    @property
    def identity_pool(self) -> str:
        return f"{self.prefix}IdentityPool"

    def bucket(self, account: str, region: str) -> str:
        return f"{self.stack}-frontend-{account}-{region}"

    @property
    def origin_access_control(self) -> str:
        return f"{self.prefix}FrontendOAC"

    @property
    def distribution_comment(self) -> str:
        return f"chatdeploy stack {self.stack}"
