"""The one way chatdeploy talks to AWS: sessions, clients, the retry policy, call recording.

Every client comes from `AwsContext.client`, which
- points it at the region, profile and endpoint the user chose (AWS_ENDPOINT_URL works as usual),
- lets botocore's standard retry mode handle throttling and 5xx,
- wraps each operation in `RetryPolicy`, which also retries what botocore does not: IAM role
  propagation ("cannot be assumed by Lambda") and "update in progress" conflicts,
- records every call (for `-v`, the no-op tests and the benchmarks), and
- in read-only mode (`chatdeploy plan`) refuses any mutating call before it is sent.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from chatdeploy.errors import AwsError, ChatdeployError, UsageError

log = logging.getLogger("chatdeploy.aws")

T = TypeVar("T")
ClientHook = Callable[[Any], None]

_READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Filter", "Query", "Scan", "Search")


def is_mutating(operation: str) -> bool:
    """True for calls that change something: everything but Describe*/Get*/List*/... ."""
    return not operation.removeprefix("Admin").startswith(_READ_PREFIXES)


class ReadOnlyViolation(RuntimeError):
    """A mutating call was attempted while planning. Always a bug in chatdeploy."""


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    mutating: bool
    at: float


@dataclass
class CallLog:
    """Every AWS call made through an AwsContext, in order."""

    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def mutating(self) -> list[Call]:
        return [call for call in self.calls if call.mutating]

    def names(self, *, mutating_only: bool = False) -> list[str]:
        return [
            f"{call.service}.{call.operation}"
            for call in self.calls
            if call.mutating or not mutating_only
        ]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()


_IN_PROGRESS_HINTS = (
    "in progress",
    "cannot be performed at this time",
    "concurrent",
    "try again",
    "pending",
    "being created",
    "being updated",
    "being deleted",
)
_THROTTLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "ServiceException",
    }
)
_CONFLICT_CODES = frozenset(
    {
        "ResourceConflictException",
        "ConflictException",
        "ConcurrentModificationException",
        "ResourceInUseException",
        "OperationAborted",
        "LimitExceededException",
    }
)


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter and a cap, until a deadline.

    The cap matters: IAM propagation takes ~8 s; an uncapped doubling would wait until ~15 s.
    """

    base_delay: float = 0.25
    max_delay: float = 2.0
    deadline: float = 180.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def reason_to_retry(self, error: botocore.exceptions.ClientError) -> str | None:
        code = error.response.get("Error", {}).get("Code", "")
        message = str(error.response.get("Error", {}).get("Message", "")).lower()
        if "cannot be assumed by lambda" in message or "role defined for the function" in message:
            return "waiting for the IAM role to propagate"
        if code in _THROTTLE_CODES:
            return "throttled by AWS"
        if code in _CONFLICT_CODES and any(hint in message for hint in _IN_PROGRESS_HINTS):
            return "another change to it is in progress"
        return None

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return float(ceiling * (0.5 + self.rng.random() / 2))

    def call(self, operation: Callable[..., T], name: str, **kwargs: Any) -> T:
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return operation(**kwargs)
            except botocore.exceptions.ClientError as error:
                reason = self.reason_to_retry(error)
                wait = self.delay(attempt)
                if reason is None or time.monotonic() - started + wait > self.deadline:
                    raise
                log.info("%s: %s; retrying in %.1fs", name, reason, wait)
                self.sleep(wait)
                attempt += 1


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# An emulator on this machine accepts any credentials; fixed ones mean `chatdeploy local` and
# the commands run against it need no AWS account at all.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def is_loopback(endpoint_url: str | None) -> bool:
    if not endpoint_url:
        return False
    host = endpoint_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in LOOPBACK_HOSTS or endpoint_url.split("://", 1)[-1].startswith("[::1]")


def _session(region: str, profile: str | None, endpoint_url: str | None) -> boto3.Session:
    if is_loopback(endpoint_url):  # whatever AWS_PROFILE says: an emulator takes any key
        return boto3.Session(region_name=region, **EMULATOR_CREDENTIALS)
    return boto3.Session(profile_name=profile, region_name=region)


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region botocore knows; loading its endpoint data takes ~0.3 s, so once."""
    session = boto3.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("lambda", partition_name=partition))
    return frozenset(regions)


class AwsContext:
    """Clients for one region/profile/endpoint, sharing one retry policy and one call log."""

    def __init__(
        self,
        region: str,
        *,
        profile: str | None = None,
        endpoint_url: str | None = None,
        read_only: bool = False,
        retry: RetryPolicy | None = None,
        client_hooks: Iterable[ClientHook] = (),
        calls: CallLog | None = None,
    ) -> None:
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.read_only = read_only
        self.retry = retry or RetryPolicy()
        self.calls = calls if calls is not None else CallLog()
        self._client_hooks = list(client_hooks)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._account: str | None = None
        try:
            self._session = _session(region, profile, endpoint_url)
        except botocore.exceptions.ProfileNotFound:
            raise UsageError(
                f"AWS profile '{profile}' not found",
                hint="check --profile / AWS_PROFILE against ~/.aws/config",
            ) from None

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    @property
    def is_emulator(self) -> bool:
        return self.endpoint_url is not None

    @property
    def poll_delay(self) -> float:
        """How long to wait between polls of a resource that is becoming ready."""
        return 0.05 if self.is_emulator else 1.0

    def derive(self, *, read_only: bool) -> AwsContext:
        """The same target with another mode; shares the call log."""
        return AwsContext(
            self.region,
            profile=self.profile,
            endpoint_url=self.endpoint_url,
            read_only=read_only,
            retry=self.retry,
            client_hooks=self._client_hooks,
            calls=self.calls,
        )

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._make_client(service)
            return self._clients[service]

    @property
    def account(self) -> str:
        if self._account is None:
            identity = self.client("sts").get_caller_identity()
            self._account = str(identity["Account"])
        return self._account

    def _make_client(self, service: str) -> Any:
        config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 4 if self.is_emulator else 8},
            connect_timeout=10,
            read_timeout=70,
            user_agent_extra="chatdeploy",
        )
        client = self._session.client(service, endpoint_url=self.endpoint_url, config=config)
        client.meta.events.register("before-call", self._before_call)
        for method_name in client.meta.method_to_api_mapping:
            self._wrap_operation(client, method_name)
        for hook in self._client_hooks:
            hook(client)
        return client

    def _wrap_operation(self, client: Any, method_name: str) -> None:
        original = getattr(client, method_name)
        label = f"{client.meta.service_model.service_name}.{method_name}"

        def with_retries(**kwargs: Any) -> Any:
            return self.retry.call(original, label, **kwargs)

        setattr(client, method_name, with_retries)

    def _before_call(self, model: Any, params: Any, **_: Any) -> None:
        service = model.service_model.service_name
        mutating = is_mutating(model.name)
        if mutating and self.read_only:
            raise ReadOnlyViolation(f"{service}.{model.name} attempted in read-only mode")
        self.calls.add(Call(service, model.name, mutating, time.monotonic()))
        log.debug("%s %s.%s", "write" if mutating else "read ", service, model.name)


def error_code(error: BaseException) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def is_throttling(error: BaseException) -> bool:
    """True for the errors that mean "slow down" (or a passing failure on AWS's side)."""
    return error_code(error) in _THROTTLE_CODES


def is_not_found(error: BaseException) -> bool:
    code = error_code(error)
    return code.endswith(("NotFoundException", "NotFound", "NoSuchEntity")) or code in {
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchDistribution",
        "NoSuchOriginAccessControl",
        "404",
    }


_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "AuthFailure",
    }
)
_EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


def explain(error: BaseException) -> ChatdeployError | None:
    """Turn a botocore error the user must act on into one clear line; None if not ours."""
    if isinstance(error, ChatdeployError):
        return error
    if isinstance(
        error, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return AwsError(
            "no AWS credentials found",
            hint="set AWS_PROFILE, run `aws configure` or `aws sso login`, "
            "or export AWS_ACCESS_KEY_ID",
        )
    if isinstance(error, botocore.exceptions.TokenRetrievalError | botocore.exceptions.SSOError):
        return AwsError("your AWS SSO session has expired", hint="run `aws sso login`")
    if isinstance(error, botocore.exceptions.NoRegionError):
        return UsageError("no AWS region given", hint="pass --region or set AWS_REGION")
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return AwsError(
            f"cannot reach {error.kwargs.get('endpoint_url', 'the AWS endpoint')}",
            hint="check the region, --endpoint-url / AWS_ENDPOINT_URL and your network",
        )
    if isinstance(error, botocore.exceptions.ClientError):
        return _explain_client_error(error)
    return None


def _explain_client_error(error: botocore.exceptions.ClientError) -> AwsError:
    code = error_code(error)
    message = error.response.get("Error", {}).get("Message", "")
    operation = getattr(error, "operation_name", "a call")
    if code in _EXPIRED_CODES:
        return AwsError("your AWS credentials have expired", hint="refresh them (aws sso login)")
    if code in _CREDENTIAL_CODES:
        return AwsError(
            "AWS rejected the credentials", hint="check AWS_PROFILE / AWS_ACCESS_KEY_ID"
        )
    if code in _DENIED_CODES:
        return AwsError(
            f"access denied for {operation}: {message}",
            hint="the deploying identity needs the policy in the README's 'Deploy to AWS'",
        )
    return AwsError(f"{operation} failed: {code}: {message}")


def wait_until(
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    what: str,
    delay: float,
    timeout: float,
    on_wait: Callable[[str], None] | None = None,
    failed: Callable[[T], str | None] = lambda _: None,
) -> T:
    """Poll `read` every `delay` seconds until `done`, a failure, or the timeout."""
    started = time.monotonic()
    while True:
        value = read()
        if done(value):
            return value
        problem = failed(value)
        if problem:
            raise AwsError(f"{what}: {problem}")
        if time.monotonic() - started > timeout:
            raise AwsError(f"timed out after {timeout:.0f}s waiting for {what}")
        if on_wait is not None:
            on_wait(f"waiting for {what}")
        time.sleep(delay)
