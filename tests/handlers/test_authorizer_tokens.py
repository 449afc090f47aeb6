"""The $connect authorizer against real RS256 ID tokens from moto's Cognito, and forgeries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import authorizer
import boto3
import pytest
from chat_testkit import HANDLERS_DIR
from chatlib import idtoken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto import mock_aws
from moto.utilities.utils import load_resource

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/production/$connect"
PASSWORD = "Correct-Horse-9-Battery"


# --- a tiny JWKS endpoint on loopback -------------------------------------------------------


MOTO_KEYS = load_resource("cognitoidp/resources/jwks-public.json")["keys"]


@dataclass
class JwksServer:
    """Serves `keys` as a JWKS document and counts the requests."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    requests: int = 0
    status: int = 200
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        self.keys, self.requests, self.status = list(MOTO_KEYS), 0, 200

    def answer(self) -> tuple[int, bytes]:
        with self._lock:
            self.requests += 1
        return self.status, json.dumps({"keys": self.keys}).encode()


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = state.answer()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/pool/.well-known/jwks.json"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def jwks(jwks_server: JwksServer) -> JwksServer:
    jwks_server.reset()
    return jwks_server


# --- a user pool in moto --------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    pool_id: str
    client_id: str
    issuer: str
    cognito: Any
    _signed_in: dict[str, dict[str, str]] = field(default_factory=dict)

    def tokens(self, email: str, name: str | None = None) -> dict[str, str]:
        """The user's tokens from USER_PASSWORD_AUTH (the user is created on first use)."""
        if email not in self._signed_in:
            self._signed_in[email] = self._sign_up_and_in(email, name)
        return self._signed_in[email]

    def _sign_up_and_in(self, email: str, name: str | None) -> dict[str, str]:
        attributes = [{"Name": "email", "Value": email}]
        if name is not None:
            attributes.append({"Name": "name", "Value": name})
        self.cognito.admin_create_user(
            UserPoolId=self.pool_id,
            Username=email,
            UserAttributes=attributes,
            MessageAction="SUPPRESS",
        )
        self.cognito.admin_set_user_password(
            UserPoolId=self.pool_id, Username=email, Password=PASSWORD, Permanent=True
        )
        result = self.cognito.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
        )
        return result["AuthenticationResult"]


def create_pool(cognito: Any, name: str) -> Pool:
    pool_id = cognito.create_user_pool(
        PoolName=name, UsernameAttributes=["email"], AutoVerifiedAttributes=["email"]
    )["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="web",
        ReadAttributes=["email", "name"],
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"
    return Pool(pool_id, client_id, issuer, cognito)


@pytest.fixture(scope="module")
def moto_pool() -> Iterator[Pool]:
    # One pool for the module: moto spends a third of a second on each pool's key.
    with mock_aws():
        yield create_pool(boto3.client("cognito-idp"), "chat")


@pytest.fixture
def pool(moto_pool: Pool, jwks: JwksServer, monkeypatch: pytest.MonkeyPatch) -> Pool:
    monkeypatch.setenv("TOKEN_ISSUER", moto_pool.issuer)
    monkeypatch.setenv("USER_POOL_CLIENT_ID", moto_pool.client_id)
    monkeypatch.setenv("JWKS_URL", jwks.url)
    monkeypatch.setattr(idtoken, "_key_sets", {})  # a fresh container
    return moto_pool


# --- tokens we sign ourselves ---------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: object) -> str:
    return b64url(json.dumps(value).encode())


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        as_bytes = lambda value: value.to_bytes((value.bit_length() + 7) // 8, "big")  # noqa: E731
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": b64url(as_bytes(numbers.n)),
            "e": b64url(as_bytes(numbers.e)),
        }

    def sign(
        self,
        claims: dict[str, Any],
        header: dict[str, Any] | None = None,
        digest: hashes.HashAlgorithm | None = None,
    ) -> str:
        head = {"alg": "RS256", "kid": self.kid, **(header or {})}
        signing_input = f"{b64url_json(head)}.{b64url_json(claims)}"
        signature = self.private.sign(
            signing_input.encode(), padding.PKCS1v15(), digest or hashes.SHA256()
        )
        return f"{signing_input}.{b64url(signature)}"


@pytest.fixture(scope="module")
def test_key() -> SigningKey:
    return SigningKey("test-key", rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def attacker_key() -> SigningKey:
    return SigningKey("attacker", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def id_claims(pool: Pool, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": pool.issuer,
        "aud": pool.client_id,
        "sub": "sub-ana",
        "token_use": "id",
        "email": "ana@example.com",
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def authorizer_event(
    query: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "headers": headers or {},
        "queryStringParameters": query,
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "connectionId": "conn-1",
            "requestId": "req-1",
        },
    }


def authorize(token: str) -> dict[str, Any]:
    return authorizer.handler(authorizer_event(query={"token": token}), None)


def effect(answer: dict[str, Any]) -> str:
    [statement] = answer["policyDocument"]["Statement"]
    assert statement["Resource"] == METHOD_ARN
    assert statement["Action"] == "execute-api:Invoke"
    return str(statement["Effect"])


def replace_part(token: str, index: int, new_part: str) -> str:
    parts = token.split(".")
    parts[index] = new_part
    return ".".join(parts)


def payload_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# --- valid tokens ---------------------------------------------------------------------------


def test_a_real_cognito_id_token_is_allowed_with_identity_in_the_context(
    pool: Pool, jwks: JwksServer
) -> None:
    token = pool.tokens("ana@example.com", name="Ana")["IdToken"]
    sub = payload_of(token)["sub"]

    answer = authorize(token)

    assert effect(answer) == "Allow"
    assert answer["principalId"] == sub
    assert answer["context"] == {"userId": sub, "displayName": "Ana"}
    assert jwks.requests == 1  # fetched over HTTP from JWKS_URL


def test_display_name_falls_back_to_the_email(pool: Pool, jwks: JwksServer) -> None:
    token = pool.tokens("ben@example.com")["IdToken"]

    assert authorize(token)["context"]["displayName"] == "ben@example.com"


def test_keys_are_fetched_once_per_container(pool: Pool, jwks: JwksServer) -> None:
    tokens = pool.tokens("ana@example.com", name="Ana")

    for _ in range(3):
        assert effect(authorize(tokens["IdToken"])) == "Allow"

    assert jwks.requests == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-WebSocket-Protocol": "chatdeploy, {token}"},
        {"sec-websocket-protocol": "chatdeploy,{token}"},
        {"SEC-WEBSOCKET-PROTOCOL": "{token}, chatdeploy"},
        {"Sec-WebSocket-Protocol": "{token}"},
    ],
)
def test_the_token_may_travel_as_a_subprotocol(pool: Pool, headers: dict[str, str]) -> None:
    token = pool.tokens("ana@example.com", name="Ana")["IdToken"]
    filled = {name: value.format(token=token) for name, value in headers.items()}

    assert effect(authorizer.handler(authorizer_event(headers=filled), None)) == "Allow"


def test_multi_value_headers_are_read_too(pool: Pool) -> None:
    token = pool.tokens("ana@example.com", name="Ana")["IdToken"]
    event = authorizer_event()
    event["multiValueHeaders"] = {"Sec-WebSocket-Protocol": ["chatdeploy", token]}

    assert effect(authorizer.handler(event, None)) == "Allow"


def test_expiry_has_a_small_leeway(pool: Pool, jwks: JwksServer, test_key: SigningKey) -> None:
    jwks.keys.append(test_key.jwk())
    recent = int(time.time()) - 30

    assert effect(authorize(test_key.sign(id_claims(pool, exp=recent)))) == "Allow"


# --- refused before verification: 401 ------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        authorizer_event(),
        authorizer_event(query={"room": "general"}),
        authorizer_event(query={"token": ""}),
        authorizer_event(headers={"Sec-WebSocket-Protocol": "chatdeploy"}),
        authorizer_event(headers={"Sec-WebSocket-Protocol": "chatdeploy, a.b.c, d.e.f"}),
    ],
)
def test_no_token_is_unauthorized(pool: Pool, event: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler(event, None)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "two.parts",
        "a.b.c.d",
        "!!!.???.***",
        f"{b64url(b'not json')}.{b64url_json({'sub': 'x'})}.c2ln",
        f"{b64url_json(['alg'])}.{b64url_json({'sub': 'x'})}.c2ln",
        f"{b64url_json({'alg': 'RS256'})}.{b64url(b'[1, 2]')}.c2ln",
        "x" * 20_000,
    ],
)
def test_malformed_tokens_are_unauthorized(pool: Pool, jwks: JwksServer, token: str) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(token)
    assert jwks.requests == 0  # not even worth fetching keys for


# --- tokens that fail verification: Deny (403) ----------------------------------------------


def test_alg_none_is_denied(pool: Pool) -> None:
    claims = id_claims(pool)
    token = f"{b64url_json({'alg': 'none', 'kid': 'dummy'})}.{b64url_json(claims)}."

    assert effect(authorize(token)) == "Deny"


def test_hs256_signed_with_the_public_key_is_denied(pool: Pool, jwks: JwksServer) -> None:
    # The classic confusion attack: the public key, known to all, used as an HMAC secret.
    secret = json.dumps(jwks.keys[0]).encode()
    signing_input = (
        f"{b64url_json({'alg': 'HS256', 'kid': 'dummy'})}.{b64url_json(id_claims(pool))}"
    )
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()

    assert effect(authorize(f"{signing_input}.{b64url(mac)}")) == "Deny"


@pytest.mark.parametrize("alg", ["RS512", "PS256", "ES256", "rs256", None])
def test_anything_but_rs256_is_denied(pool: Pool, alg: str | None) -> None:
    real = pool.tokens("ana@example.com", name="Ana")["IdToken"]
    header = {"alg": alg, "kid": "dummy"} if alg else {"kid": "dummy"}
    # Same claims and signature: only the header says something else.
    assert effect(authorize(replace_part(real, 0, b64url_json(header)))) == "Deny"


def test_tampered_payload_is_denied(pool: Pool) -> None:
    real = pool.tokens("ana@example.com", name="Ana")["IdToken"]
    claims = payload_of(real)
    claims["sub"] = "sub-of-someone-else"

    assert effect(authorize(replace_part(real, 1, b64url_json(claims)))) == "Deny"


def test_tampered_signature_is_denied(pool: Pool) -> None:
    real = pool.tokens("ana@example.com", name="Ana")["IdToken"]
    signature = bytearray(base64.urlsafe_b64decode(real.split(".")[2] + "=="))
    signature[-1] ^= 0x01

    assert effect(authorize(replace_part(real, 2, b64url(bytes(signature))))) == "Deny"


def test_truncated_signature_is_denied(pool: Pool) -> None:
    real = pool.tokens("ana@example.com", name="Ana")["IdToken"]

    assert effect(authorize(real[:-10])) == "Deny"


@pytest.mark.parametrize("digest", [hashes.SHA512(), hashes.SHA1()], ids=["sha512", "sha1"])
def test_an_rs256_header_over_another_hash_is_denied(
    pool: Pool, jwks: JwksServer, test_key: SigningKey, digest: hashes.HashAlgorithm
) -> None:
    # A valid PKCS#1 v1.5 signature by the right key, but not with SHA-256: not RS256.
    jwks.keys.append(test_key.jwk())

    assert effect(authorize(test_key.sign(id_claims(pool), digest=digest))) == "Deny"


def test_a_key_of_our_own_under_the_pools_kid_is_denied(
    pool: Pool, attacker_key: SigningKey
) -> None:
    forged = attacker_key.sign(id_claims(pool), header={"kid": "dummy"})

    assert effect(authorize(forged)) == "Deny"


def test_the_access_token_is_not_an_id_token(pool: Pool) -> None:
    access = pool.tokens("ana@example.com", name="Ana")["AccessToken"]

    assert effect(authorize(access)) == "Deny"


def test_a_token_of_another_pool_is_denied(pool: Pool) -> None:
    # moto signs every pool's tokens with the same key: only the issuer and audience differ.
    other = create_pool(pool.cognito, "other")

    assert effect(authorize(other.tokens("ana@example.com", name="Ana")["IdToken"])) == "Deny"


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 120},
        {"exp": None},
        {"exp": "tomorrow"},
        {"exp": True},
        {"nbf": int(time.time()) + 600},
        {"aud": "some-other-client"},
        {"aud": None},
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"},
        {"token_use": "access"},
        {"token_use": None},
        {"sub": None},
        {"sub": ""},
    ],
    ids=lambda changes: ",".join(f"{k}={v}" for k, v in changes.items()),
)
def test_claims_that_do_not_match_are_denied(
    pool: Pool, jwks: JwksServer, test_key: SigningKey, changes: dict[str, Any]
) -> None:
    jwks.keys.append(test_key.jwk())
    # The signature is valid: only the claims are wrong.
    assert effect(authorize(test_key.sign(id_claims(pool, **changes)))) == "Deny"


def test_the_same_claims_well_signed_are_allowed(
    pool: Pool, jwks: JwksServer, test_key: SigningKey
) -> None:
    # The control of the test above: the claims helper itself makes acceptable tokens.
    jwks.keys.append(test_key.jwk())

    answer = authorize(test_key.sign(id_claims(pool)))

    assert effect(answer) == "Allow"
    assert answer["context"] == {"userId": "sub-ana", "displayName": "ana@example.com"}


# --- the key cache --------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(pool: Pool, jwks: JwksServer, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(idtoken, "_key_sets", {jwks.url: idtoken.KeySet(jwks.url, clock=fake)})
    return fake


def test_an_unknown_kid_refetches_the_keys_once(
    pool: Pool, jwks: JwksServer, attacker_key: SigningKey, clock: FakeClock
) -> None:
    assert effect(authorize(pool.tokens("ana@example.com", name="Ana")["IdToken"])) == "Allow"
    clock.now += idtoken.REFETCH_INTERVAL_SECONDS

    assert effect(authorize(attacker_key.sign(id_claims(pool)))) == "Deny"
    assert jwks.requests == 2


def test_unknown_kids_do_not_hammer_the_jwks_endpoint(
    pool: Pool, jwks: JwksServer, attacker_key: SigningKey, clock: FakeClock
) -> None:
    for _ in range(5):
        assert effect(authorize(attacker_key.sign(id_claims(pool)))) == "Deny"

    assert jwks.requests == 1


def test_a_rotated_key_is_picked_up(
    pool: Pool, jwks: JwksServer, test_key: SigningKey, clock: FakeClock
) -> None:
    assert effect(authorize(pool.tokens("ana@example.com", name="Ana")["IdToken"])) == "Allow"
    jwks.keys.append(test_key.jwk())  # the pool publishes a new key
    clock.now += idtoken.REFETCH_INTERVAL_SECONDS + 1

    assert effect(authorize(test_key.sign(id_claims(pool)))) == "Allow"
    assert effect(authorize(test_key.sign(id_claims(pool)))) == "Allow"
    assert jwks.requests == 2


def test_keys_that_cannot_be_fetched_are_a_server_error_not_a_401(
    pool: Pool, jwks: JwksServer, capsys: pytest.CaptureFixture[str]
) -> None:
    jwks.status = 503
    token = pool.tokens("ana@example.com", name="Ana")["IdToken"]

    with pytest.raises(idtoken.JwksUnavailable):
        authorize(token)

    line = json.loads(capsys.readouterr().out)
    assert (line["outcome"], line["code"]) == ("error", "jwks_unavailable")


def test_a_misconfigured_authorizer_fails_loudly_not_with_a_401(
    pool: Pool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TOKEN_ISSUER")
    token = pool.tokens("ana@example.com", name="Ana")["IdToken"]

    with pytest.raises(KeyError):
        authorize(token)

    line = json.loads(capsys.readouterr().out)
    assert (line["outcome"], line["error"]) == ("error", "KeyError")


# --- logs -----------------------------------------------------------------------------------


def test_tokens_are_never_logged(
    pool: Pool, attacker_key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    real = pool.tokens("ana@example.com", name="Ana")["IdToken"]
    forged = attacker_key.sign(id_claims(pool), header={"kid": "dummy"})
    authorize(real)
    authorize(forged)
    with pytest.raises(Exception, match="Unauthorized"):
        authorize("garbage.token")

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["outcome"], line.get("reason")) for line in lines] == [
        ("allow", None),
        ("deny", "signature"),
        ("unauthorized", "malformed"),
    ]
    everything = json.dumps(lines)
    for secret in (real, forged):
        for part in secret.split("."):
            assert part not in everything


# --- the zip as Lambda gets it --------------------------------------------------------------


def test_the_authorizer_zip_runs_with_only_the_standard_library(
    pool: Pool, jwks: JwksServer, tmp_path: Path
) -> None:
    from chatdeploy import packaging

    [function] = [f for f in packaging.discover(HANDLERS_DIR) if f.is_authorizer]
    artifact = packaging.build(function)
    archive = tmp_path / "authorizer.zip"
    archive.write_bytes(artifact.data)
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        opened.extractall(tmp_path / "code")
    assert "rsa/pkcs1.py" in names
    assert not [name for name in names if name.startswith(("pyasn1", "boto3", "botocore"))]

    token = pool.tokens("ana@example.com", name="Ana")["IdToken"]
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(tmp_path / 'code')!r})\n"
        "import authorizer\n"
        "event = json.loads(sys.stdin.read())\n"
        "answer = authorizer.handler(event, None)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pyasn1', 'boto3'))\n"
        "print(json.dumps({'answer': answer, 'loaded': loaded}))\n"
    )
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "TOKEN_ISSUER": pool.issuer,
        "USER_POOL_CLIENT_ID": pool.client_id,
        "JWKS_URL": jwks.url,
    }
    finished = subprocess.run(
        [sys.executable, "-S", "-c", script],
        input=json.dumps(authorizer_event(query={"token": token})),
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=True,
    )
    result = json.loads(finished.stdout.splitlines()[-1])
    assert effect(result["answer"]) == "Allow"
    assert result["loaded"] == []
