"""Guide step 5: the user pool, its app client and the identity pool."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from stage_kit import Recorder, Stack, actions, details, ok

from chatdeploy.engine import Action
from chatdeploy.names import STACK_TAG
from chatdeploy.stages.auth import PASSWORD_POLICY

POOL = "ChatUserPool"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What one default deployment made, as described by Cognito."""
    with mock_aws():
        recorded = ok(Stack.new(tmp_path_factory.mktemp("auth")).up()).state.resources()
        pool_id = recorded["auth.user_pool"]["id"]
        return {
            "pool": idp().describe_user_pool(UserPoolId=pool_id)["UserPool"],
            "client": idp().describe_user_pool_client(
                UserPoolId=pool_id, ClientId=recorded["auth.client"]["id"]
            )["UserPoolClient"],
            "identity_pool": identity().describe_identity_pool(
                IdentityPoolId=recorded["auth.identity_pool"]["id"]
            ),
        }


def idp() -> Any:
    return boto3.client("cognito-idp")


def identity() -> Any:
    return boto3.client("cognito-identity")


def user_pools() -> list[dict[str, Any]]:
    return list(idp().list_user_pools(MaxResults=60)["UserPools"])


def test_the_user_pool_signs_in_by_email_with_the_guides_password_policy(
    deployed: dict[str, Any],
) -> None:
    pool = deployed["pool"]
    assert pool["Name"] == POOL
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["UsernameConfiguration"] == {"CaseSensitive": False}
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["Policies"]["PasswordPolicy"].items() >= PASSWORD_POLICY.items()
    assert pool["DeletionProtection"] == "INACTIVE"
    assert pool["UserPoolTags"] == {STACK_TAG: "chat"}


def test_the_app_client_has_no_secret_and_only_the_guides_flows(
    deployed: dict[str, Any],
) -> None:
    client = deployed["client"]
    assert client["UserPoolId"] == deployed["pool"]["Id"]
    assert "ClientSecret" not in client
    assert sorted(client["ExplicitAuthFlows"]) == [
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
    ]
    validity = (client["IdTokenValidity"], client["AccessTokenValidity"])
    assert validity == (60, 60) and client["RefreshTokenValidity"] == 30
    assert client["TokenValidityUnits"] == {
        "IdToken": "minutes",
        "AccessToken": "minutes",
        "RefreshToken": "days",
    }


def test_a_display_name_given_at_sign_up_is_in_the_id_token(aws: None, tmp_path: Path) -> None:
    """The chat shows `name` from the ID token; the client must be allowed to write and read it."""
    recorded = ok(Stack.new(tmp_path).up()).state.resources()
    pool_id, client_id = recorded["auth.user_pool"]["id"], recorded["auth.client"]["id"]
    email, password = "ana@example.com", "Passw0rdPassw0rd"
    idp().sign_up(
        ClientId=client_id,
        Username=email,
        Password=password,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "name", "Value": "Ana"}],
    )
    idp().admin_confirm_sign_up(UserPoolId=pool_id, Username=email)
    tokens = idp().initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )["AuthenticationResult"]
    payload = tokens["IdToken"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert (claims["name"], claims["email"], claims["token_use"]) == ("Ana", email, "id")


def test_the_identity_pool_trusts_only_this_client_and_no_guests(
    deployed: dict[str, Any],
) -> None:
    pool = deployed["identity_pool"]
    assert pool["AllowUnauthenticatedIdentities"] is False
    [provider] = pool["CognitoIdentityProviders"]
    user_pool = deployed["pool"]["Id"]
    assert provider["ProviderName"] == f"cognito-idp.us-east-1.amazonaws.com/{user_pool}"
    assert provider["ClientId"] == deployed["client"]["ClientId"]
    assert pool["IdentityPoolTags"] == {STACK_TAG: "chat"}


def test_a_new_token_validity_updates_the_client_and_nothing_else(
    aws: None, tmp_path: Path
) -> None:
    stack = Stack.new(tmp_path)
    recorded = ok(stack.up()).state.resources()
    shorter = stack.with_config(auth={"id_token_validity_minutes": 15})
    report, _ = shorter.plan()
    assert actions(report)["auth.client"] is Action.UPDATE
    assert details(report, "auth.client") == ["IdTokenValidity"]
    report, ctx = shorter.up()
    assert report.ok
    assert ctx.aws.calls.names(mutating_only=True) == ["cognito-idp.UpdateUserPoolClient"]
    client = idp().describe_user_pool_client(
        UserPoolId=recorded["auth.user_pool"]["id"], ClientId=recorded["auth.client"]["id"]
    )["UserPoolClient"]
    assert client["IdTokenValidity"] == 15
    assert sorted(client["ExplicitAuthFlows"]) == [
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
    ]


def test_guest_identities_come_only_when_asked_for_and_with_a_warning(
    aws: None, tmp_path: Path
) -> None:
    stack = Stack.new(tmp_path)
    engine, _ = stack.engine()
    assert not [w for w in engine.warnings() if "guest" in w]
    recorded = ok(stack.up()).state.resources()
    guests = stack.with_config(auth={"allow_unauthenticated_identities": True})
    engine, _ = guests.engine()
    assert any("gets guest AWS credentials" in warning for warning in engine.warnings())
    report, ctx = guests.up()
    assert report.ok
    assert ctx.aws.calls.names(mutating_only=True) == ["cognito-identity.UpdateIdentityPool"]
    pool = identity().describe_identity_pool(IdentityPoolId=recorded["auth.identity_pool"]["id"])
    assert pool["AllowUnauthenticatedIdentities"] is True


def test_destroy_respects_deletion_protection_until_the_config_lifts_it(
    aws: None, tmp_path: Path
) -> None:
    protected = Stack.new(tmp_path).with_config(auth={"deletion_protection": True})
    pool_id = ok(protected.up()).state.resources()["auth.user_pool"]["id"]
    report, _ = protected.destroy()
    [failure] = report.failures
    assert failure.key == "auth.user_pool"
    assert failure.error is not None and "deletion protection" in failure.error.message
    assert "auth.deletion_protection: false" in (failure.error.hint or "")
    assert [p["Id"] for p in user_pools()] == [pool_id]

    unprotected = protected.with_config(auth={"deletion_protection": False})
    report, ctx = unprotected.up()
    assert report.ok
    assert "cognito-idp.UpdateUserPool" in ctx.aws.calls.names(mutating_only=True)
    pool = idp().describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["DeletionProtection"] == "INACTIVE"
    assert ok(unprotected.destroy()) and user_pools() == []


def test_two_untagged_pools_of_the_stacks_name_are_a_conflict_not_a_guess(
    aws: None, tmp_path: Path
) -> None:
    for _ in range(2):
        idp().create_user_pool(PoolName=POOL)
    report, _ = Stack.new(tmp_path).up()
    [failure] = report.failures
    assert failure.error is not None and "found 2 user pools" in failure.error.message
    assert len(user_pools()) == 2


def test_the_tagged_pool_is_adopted_and_a_namesake_left_alone(aws: None, tmp_path: Path) -> None:
    stack = Stack.new(tmp_path)
    ours = ok(stack.up()).state.resources()["auth.user_pool"]["id"]
    namesake = idp().create_user_pool(PoolName=POOL)["UserPool"]["Id"]
    idp().create_user_pool_client(UserPoolId=namesake, ClientName="ChatWebClient")
    stack.lose_state()
    report, ctx = stack.up()
    assert report.ok
    assert ctx.state.resources()["auth.user_pool"]["id"] == ours
    assert ctx.aws.calls.mutating() == []

    stack.lose_state()
    stack.destroy()
    assert [p["Id"] for p in user_pools()] == [namesake]
    clients = idp().list_user_pool_clients(UserPoolId=namesake, MaxResults=60)
    assert [c["ClientName"] for c in clients["UserPoolClients"]] == ["ChatWebClient"]


def test_a_hand_made_pool_of_the_stacks_name_is_adopted_and_tagged_keeping_its_tags(
    aws: None, tmp_path: Path
) -> None:
    made_by_hand = idp().create_user_pool(
        PoolName=POOL, UsernameAttributes=["email"], UserPoolTags={"team": "chat-ops"}
    )
    pool_id = made_by_hand["UserPool"]["Id"]
    recorder = Recorder()
    report, _ = Stack.new(tmp_path).up(reporter=recorder)
    assert report.ok
    assert actions(report)["auth.user_pool"] is Action.ADOPTED
    assert any("did not create" in warning for warning in recorder.warnings)
    pool = idp().describe_user_pool(UserPoolId=pool_id)["UserPool"]
    assert pool["UserPoolTags"] == {STACK_TAG: "chat", "team": "chat-ops"}
    assert pool["Policies"]["PasswordPolicy"].items() >= PASSWORD_POLICY.items()
    assert len(user_pools()) == 1
