"""Guide step 5: the Cognito user pool, its app client, and the identity pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatdeploy.engine import Change, Found, Resource, Stage, Unknown
from chatdeploy.errors import ChatdeployError
from chatdeploy.stages.common import ignore_missing, is_ours, missing_tags, or_none, the_one

if TYPE_CHECKING:
    from chatdeploy.context import DeployContext

PASSWORD_POLICY = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
}
AUTH_FLOWS = ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"]
READ_ATTRIBUTES = ["email", "email_verified", "name"]
WRITE_ATTRIBUTES = ["email", "name"]


class UserPool(Resource):
    key = "auth.user_pool"

    def __init__(self, name: str) -> None:
        self.name = name
        self.label = f"user pool {name}"

    def _settings(self, ctx: DeployContext, tags: dict[str, str]) -> dict[str, Any]:
        """What both create and update take; update resets anything left out. `tags`: the
        pool's current tags, kept beside ours (update replaces them all)."""
        return {
            "Policies": {"PasswordPolicy": PASSWORD_POLICY},
            "AutoVerifiedAttributes": ["email"],
            "DeletionProtection": "ACTIVE" if ctx.config.auth.deletion_protection else "INACTIVE",
            "UserPoolTags": {**tags, **ctx.names.tags},
            "AccountRecoverySetting": {
                "RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]
            },
        }

    def find(self, ctx: DeployContext) -> Found | None:
        idp = ctx.aws.client("cognito-idp")
        recorded = ctx.recorded(self.key)
        pool = None
        if recorded:
            pool = or_none(lambda: idp.describe_user_pool(UserPoolId=recorded["id"])["UserPool"])
        if pool is None:
            pool = self._look_up(ctx)
        if pool is None:
            return None
        return Found(
            {"id": pool["Id"], "arn": pool["Arn"], "name": self.name},
            pool,
            owned=is_ours(ctx, pool.get("UserPoolTags", {})),
        )

    def _look_up(self, ctx: DeployContext) -> dict[str, Any] | None:
        """User pools allow duplicate names: match the name, prefer the one with our tag."""
        idp = ctx.aws.client("cognito-idp")
        pages = idp.get_paginator("list_user_pools").paginate(MaxResults=60)
        named = [p for page in pages for p in page["UserPools"] if p["Name"] == self.name]
        pools = [idp.describe_user_pool(UserPoolId=p["Id"])["UserPool"] for p in named]
        tagged = [pool for pool in pools if is_ours(ctx, pool.get("UserPoolTags", {}))]
        return the_one(tagged or pools, f"user pools named {self.name}")

    def create(self, ctx: DeployContext) -> None:
        pool = ctx.aws.client("cognito-idp").create_user_pool(
            PoolName=self.name,
            UsernameAttributes=["email"],
            # Immutable once made; Ana@example.com and ana@example.com are one person.
            UsernameConfiguration={"CaseSensitive": False},
            Schema=[
                {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True}
            ],
            **self._settings(ctx, {}),
        )["UserPool"]
        ctx.record(self.key, id=pool["Id"], arn=pool["Arn"], name=self.name)

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        pool = found.data
        wanted = self._settings(ctx, pool.get("UserPoolTags", {}))
        differences = []
        current_policy = pool.get("Policies", {}).get("PasswordPolicy", {})
        if any(current_policy.get(k) != v for k, v in PASSWORD_POLICY.items()):
            differences.append("password policy")
        if sorted(pool.get("AutoVerifiedAttributes", [])) != ["email"]:
            differences.append("auto-verified email")
        if pool.get("DeletionProtection", "INACTIVE") != wanted["DeletionProtection"]:
            differences.append(f"deletion protection {wanted['DeletionProtection'].lower()}")
        if pool.get("AccountRecoverySetting") != wanted["AccountRecoverySetting"]:
            differences.append("account recovery by verified email")
        if missing_tags(pool.get("UserPoolTags", {}), ctx.names.tags):
            differences.append("tags")
        if not differences:
            return []
        update = lambda: ctx.aws.client("cognito-idp").update_user_pool(  # noqa: E731
            UserPoolId=found.record["id"], **wanted
        )
        return [Change(", ".join(differences), update)]

    def delete(self, ctx: DeployContext, found: Found) -> None:
        # Deletion protection exists to stop exactly this; turning it off is the user's call.
        if found.data.get("DeletionProtection") == "ACTIVE":
            raise ChatdeployError(
                f"{self.label} has deletion protection on, so it and its users stay",
                hint="set auth.deletion_protection: false, run `chatdeploy up`, then destroy again",
            )
        idp = ctx.aws.client("cognito-idp")
        ignore_missing(lambda: idp.delete_user_pool(UserPoolId=found.record["id"]))


def stack_user_pool(ctx: DeployContext) -> Found | None:
    """The stack's user pool: the recorded one, else found by name (the state file was lost, or
    a destroy has not reached the pool yet). Unknown while planning a stack that has none."""
    recorded = ctx.recorded(UserPool.key)
    if recorded:
        return Found(recorded)
    found = UserPool(ctx.names.user_pool).find(ctx)
    if found is None and ctx.plan_mode:
        raise Unknown(UserPool.key)
    return found


def _require_pool_id(ctx: DeployContext) -> str:
    pool = stack_user_pool(ctx)
    if pool is None:
        raise ChatdeployError(f"user pool {ctx.names.user_pool} does not exist")
    return str(pool.record["id"])


class AppClient(Resource):
    key = "auth.client"
    after = (UserPool.key,)

    def __init__(self, name: str) -> None:
        self.name = name
        self.label = f"app client {name}"

    def _settings(self, ctx: DeployContext) -> dict[str, Any]:
        auth = ctx.config.auth
        return {
            "ClientName": self.name,
            "ExplicitAuthFlows": AUTH_FLOWS,
            "IdTokenValidity": auth.id_token_validity_minutes,
            "AccessTokenValidity": auth.access_token_validity_minutes,
            "RefreshTokenValidity": auth.refresh_token_validity_days,
            "TokenValidityUnits": {
                "IdToken": "minutes",
                "AccessToken": "minutes",
                "RefreshToken": "days",
            },
            "PreventUserExistenceErrors": "ENABLED",
            "EnableTokenRevocation": True,
            # The web app signs up with email + an optional display name and shows `name` from
            # the ID token; nothing else needs to be readable or writable by this client.
            "ReadAttributes": READ_ATTRIBUTES,
            "WriteAttributes": WRITE_ATTRIBUTES,
        }

    def find(self, ctx: DeployContext) -> Found | None:
        idp = ctx.aws.client("cognito-idp")
        pool = stack_user_pool(ctx)
        if pool is None:
            return None
        pool_id = pool.record["id"]
        recorded = ctx.recorded(self.key)
        client_id = recorded["id"] if recorded and recorded.get("pool") == pool_id else None
        if client_id is None:
            client_id = self._look_up(ctx, pool_id)
        if client_id is None:
            return None
        client = or_none(
            lambda: idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)[
                "UserPoolClient"
            ]
        )
        if client is None:
            return None
        # A client of a pool that is not this stack's is not ours to delete either.
        return Found({"id": client_id, "pool": pool_id}, client, owned=pool.owned)

    def _look_up(self, ctx: DeployContext, pool_id: str) -> str | None:
        paginator = ctx.aws.client("cognito-idp").get_paginator("list_user_pool_clients")
        pages = or_none(lambda: list(paginator.paginate(UserPoolId=pool_id, MaxResults=60)))
        matches = [
            c["ClientId"]
            for page in pages or []
            for c in page["UserPoolClients"]
            if c["ClientName"] == self.name
        ]
        return the_one(matches, f"app clients named {self.name}")

    def create(self, ctx: DeployContext) -> None:
        pool_id = _require_pool_id(ctx)
        client = ctx.aws.client("cognito-idp").create_user_pool_client(
            UserPoolId=pool_id, GenerateSecret=False, **self._settings(ctx)
        )["UserPoolClient"]
        ctx.record(self.key, id=client["ClientId"], pool=pool_id)

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        client, wanted = found.data, self._settings(ctx)
        differing = [
            name
            for name, value in wanted.items()
            if (sorted(client.get(name, [])) if isinstance(value, list) else client.get(name))
            != value
        ]
        if not differing:
            return []
        update = lambda: ctx.aws.client("cognito-idp").update_user_pool_client(  # noqa: E731
            UserPoolId=found.record["pool"], ClientId=found.record["id"], **wanted
        )
        return [Change(", ".join(differing), update)]

    def delete(self, ctx: DeployContext, found: Found) -> None:
        idp = ctx.aws.client("cognito-idp")
        ignore_missing(
            lambda: idp.delete_user_pool_client(
                UserPoolId=found.record["pool"], ClientId=found.record["id"]
            )
        )


class IdentityPool(Resource):
    key = "auth.identity_pool"
    after = (UserPool.key, AppClient.key)

    def __init__(self, name: str) -> None:
        self.name = name
        self.label = f"identity pool {name}"

    def _settings(self, ctx: DeployContext, tags: dict[str, str]) -> dict[str, Any]:
        """`tags`: the pool's current tags, kept beside ours (update replaces them all)."""
        pool_id = _require_pool_id(ctx)
        return {
            "IdentityPoolName": self.name,
            "AllowUnauthenticatedIdentities": ctx.config.auth.allow_unauthenticated_identities,
            "CognitoIdentityProviders": [
                {
                    "ProviderName": f"cognito-idp.{ctx.region}.amazonaws.com/{pool_id}",
                    "ClientId": ctx.require(AppClient.key, "id"),
                    "ServerSideTokenCheck": False,
                }
            ],
            "IdentityPoolTags": {**tags, **ctx.names.tags},
        }

    def find(self, ctx: DeployContext) -> Found | None:
        identity = ctx.aws.client("cognito-identity")
        recorded = ctx.recorded(self.key)
        pool = None
        if recorded:
            pool = or_none(lambda: identity.describe_identity_pool(IdentityPoolId=recorded["id"]))
        if pool is None:
            pages = identity.get_paginator("list_identity_pools").paginate(MaxResults=60)
            named = [
                p["IdentityPoolId"]
                for page in pages
                for p in page["IdentityPools"]
                if p["IdentityPoolName"] == self.name
            ]
            pools = [identity.describe_identity_pool(IdentityPoolId=i) for i in named]
            tagged = [p for p in pools if is_ours(ctx, p.get("IdentityPoolTags", {}))]
            pool = the_one(tagged or pools, f"identity pools named {self.name}")
        if pool is None:
            return None
        return Found(
            {"id": pool["IdentityPoolId"], "name": self.name},
            pool,
            owned=is_ours(ctx, pool.get("IdentityPoolTags", {})),
        )

    def create(self, ctx: DeployContext) -> None:
        pool = ctx.aws.client("cognito-identity").create_identity_pool(**self._settings(ctx, {}))
        ctx.record(self.key, id=pool["IdentityPoolId"], name=self.name)

    def changes(self, ctx: DeployContext, found: Found) -> list[Change]:
        pool = found.data
        wanted = self._settings(ctx, pool.get("IdentityPoolTags", {}))
        differing = []
        if pool.get("AllowUnauthenticatedIdentities") != wanted["AllowUnauthenticatedIdentities"]:
            differing.append("unauthenticated identities")
        current_providers = [
            {key: p.get(key) for key in ("ProviderName", "ClientId", "ServerSideTokenCheck")}
            for p in pool.get("CognitoIdentityProviders", [])
        ]
        if current_providers != wanted["CognitoIdentityProviders"]:
            differing.append("user pool binding")
        if missing_tags(pool.get("IdentityPoolTags", {}), ctx.names.tags):
            differing.append("tags")
        if not differing:
            return []
        update = lambda: ctx.aws.client("cognito-identity").update_identity_pool(  # noqa: E731
            IdentityPoolId=found.record["id"], **wanted
        )
        return [Change(", ".join(differing), update)]

    def delete(self, ctx: DeployContext, found: Found) -> None:
        identity = ctx.aws.client("cognito-identity")
        ignore_missing(lambda: identity.delete_identity_pool(IdentityPoolId=found.record["id"]))


class AuthStage(Stage):
    name = "auth"
    title = "Cognito (guide step 5)"

    def resources(self, ctx: DeployContext) -> list[Resource]:
        names = ctx.names
        return [
            UserPool(names.user_pool),
            AppClient(names.user_pool_client),
            IdentityPool(names.identity_pool),
        ]

    def warnings(self, ctx: DeployContext) -> list[str]:
        if not ctx.config.auth.allow_unauthenticated_identities:
            return []
        return [
            "auth.allow_unauthenticated_identities is on: anyone who knows the identity pool id "
            "gets guest AWS credentials"
        ]

    def outputs(self, ctx: DeployContext) -> dict[str, Any]:
        return {
            "user_pool_id": (ctx.recorded(UserPool.key) or {}).get("id"),
            "user_pool_client_id": (ctx.recorded(AppClient.key) or {}).get("id"),
            "identity_pool_id": (ctx.recorded(IdentityPool.key) or {}).get("id"),
        }
