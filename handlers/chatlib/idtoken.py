"""Verification of Cognito ID tokens: RS256 JWTs signed by the user pool's keys (JWKS).

The RSA arithmetic is the `rsa` package's (pure Python, bundled into the authorizer's zip);
parsing the JWT and checking its claims is ours. Only the authorizer imports this module.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import rsa

LEEWAY_SECONDS = 60
# A kid we do not know triggers one refetch of the JWKS, but not more often than this:
# otherwise every forged token would cost a request to the pool's JWKS endpoint.
REFETCH_INTERVAL_SECONDS = 30.0
FETCH_TIMEOUT_SECONDS = 5.0
MAX_TOKEN_CHARS = 16 * 1024
MAX_JWKS_BYTES = 1024 * 1024
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class MalformedToken(Exception):
    """Not a JWT at all (API Gateway answers 401)."""


class TokenRejected(Exception):
    """A JWT that fails verification (403); `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JwksUnavailable(Exception):
    """The pool's keys could not be fetched: our failure, not the client's."""


@dataclass(frozen=True)
class Expectations:
    """What a token of this stack must say: the pool (iss) and the app client (aud)."""

    issuer: str
    audience: str
    jwks_url: str

    @classmethod
    def from_environment(cls) -> Expectations:
        return cls(
            issuer=os.environ["TOKEN_ISSUER"],
            audience=os.environ["USER_POOL_CLIENT_ID"],
            jwks_url=os.environ["JWKS_URL"],
        )


@dataclass(frozen=True)
class _Jwt:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def verify_id_token(token: str, expected: Expectations) -> dict[str, Any]:
    """The token's claims if it is a valid ID token of this pool and client; raises
    MalformedToken, TokenRejected or JwksUnavailable otherwise."""
    jwt = _parse(token)
    if jwt.header.get("alg") != "RS256":
        raise TokenRejected("algorithm")
    kid = jwt.header.get("kid")
    if not isinstance(kid, str):
        raise TokenRejected("kid")
    key = key_set(expected.jwks_url).key(kid)
    if key is None:
        raise TokenRejected("unknown_kid")
    _check_signature(jwt, key)
    _check_claims(jwt.claims, expected, time.time())
    return jwt.claims


def _parse(token: str) -> _Jwt:
    if len(token) > MAX_TOKEN_CHARS:
        raise MalformedToken("too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("not three parts")
    header_part, claims_part, signature_part = parts
    return _Jwt(
        header=_json_object(_base64url(header_part)),
        claims=_json_object(_base64url(claims_part)),
        signing_input=f"{header_part}.{claims_part}".encode("ascii"),
        # An empty signature (alg "none") is still a JWT: it is refused by verification.
        signature=_base64url(signature_part) if signature_part else b"",
    )


def _base64url(part: str) -> bytes:
    if not part or not _BASE64URL.fullmatch(part):
        raise MalformedToken("not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise MalformedToken("not base64url") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise MalformedToken("not JSON") from None
    if not isinstance(value, dict):
        raise MalformedToken("not a JSON object")
    return value


def _check_signature(jwt: _Jwt, key: rsa.PublicKey) -> None:
    if len(jwt.signature) != (key.n.bit_length() + 7) // 8:
        raise TokenRejected("signature")
    try:
        hash_method = rsa.verify(jwt.signing_input, jwt.signature, key)
    except (rsa.VerificationError, ValueError, OverflowError):
        raise TokenRejected("signature") from None
    if hash_method != "SHA-256":  # RS256 is RSASSA-PKCS1-v1_5 with SHA-256, nothing else
        raise TokenRejected("signature")


def _check_claims(claims: Mapping[str, Any], expected: Expectations, now: float) -> None:
    if claims.get("iss") != expected.issuer:
        raise TokenRejected("issuer")
    if claims.get("aud") != expected.audience:
        raise TokenRejected("audience")
    if claims.get("token_use") != "id":
        raise TokenRejected("token_use")
    expires = claims.get("exp")
    if not _is_number(expires) or now > expires + LEEWAY_SECONDS:
        raise TokenRejected("expired")
    not_before = claims.get("nbf")
    if not_before is not None and (not _is_number(not_before) or now < not_before - LEEWAY_SECONDS):
        raise TokenRejected("not_yet_valid")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenRejected("subject")


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def display_name(claims: Mapping[str, Any]) -> str:
    """The name the chat shows: the `name` claim, else the email, else the subject."""
    for claim in ("name", "email", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


# --- the pool's public keys -------------------------------------------------------------


def fetch_jwks(url: str) -> bytes:
    """GETs the JWKS document; urllib is imported here because only a cold start needs it."""
    import urllib.request

    if not url.startswith(("https://", "http://")):
        raise JwksUnavailable("JWKS_URL must be an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as answer:
            return bytes(answer.read(MAX_JWKS_BYTES + 1))
    except OSError as error:  # URLError, HTTPError, timeouts
        raise JwksUnavailable(f"fetching the JWKS failed: {type(error).__name__}") from None


class KeySet:
    """The RSA keys of one JWKS URL, fetched on first use and cached for the container."""

    def __init__(
        self,
        url: str,
        fetch: Callable[[str], bytes] = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, rsa.PublicKey] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> rsa.PublicKey | None:
        with self._lock:
            if self._fetched_at is None or (kid not in self._keys and self._may_refetch()):
                self._refresh()
            return self._keys.get(kid)

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or (
            self._clock() - self._fetched_at >= REFETCH_INTERVAL_SECONDS
        )

    def _refresh(self) -> None:
        document = self._fetch(self._url)
        if len(document) > MAX_JWKS_BYTES:
            raise JwksUnavailable("the JWKS document is too large")
        self._keys = parse_jwks(document)
        self._fetched_at = self._clock()


def parse_jwks(document: bytes) -> dict[str, rsa.PublicKey]:
    """The RS256 signing keys of a JWKS document, by kid; other entries are ignored."""
    try:
        keys = json.loads(document).get("keys")
    except (ValueError, AttributeError):
        raise JwksUnavailable("the JWKS document is not a JSON object") from None
    if not isinstance(keys, list):
        raise JwksUnavailable("the JWKS document has no key list")
    found = {}
    for jwk in keys:
        parsed = _rsa_key(jwk)
        if parsed is not None:
            found[jwk["kid"]] = parsed
    return found


def _rsa_key(jwk: object) -> rsa.PublicKey | None:
    if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not isinstance(jwk.get("kid"), str):
        return None
    if jwk.get("alg", "RS256") != "RS256" or jwk.get("use", "sig") != "sig":
        return None
    try:
        modulus = int.from_bytes(_base64url(str(jwk.get("n", ""))), "big")
        exponent = int.from_bytes(_base64url(str(jwk.get("e", ""))), "big")
    except MalformedToken:
        return None
    return rsa.PublicKey(modulus, exponent) if modulus and exponent else None


_key_sets: dict[str, KeySet] = {}


def key_set(url: str) -> KeySet:
    """The cached key set of a URL (one per container, kept between invocations)."""
    cached = _key_sets.get(url)
    if cached is None:
        cached = _key_sets.setdefault(url, KeySet(url))
    return cached
