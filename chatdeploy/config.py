"""The stack's configuration: chatdeploy.yaml, validated; built-in defaults reproduce the guide."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chatdeploy.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("chatdeploy.yaml")
# Lowercase words joined by single hyphens: it must also make valid bucket, role and pool names.
STACK_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TablesConfig(_Section):
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST"
    read_capacity: Annotated[int, Field(ge=1, le=40000)] = 5
    write_capacity: Annotated[int, Field(ge=1, le=40000)] = 5
    point_in_time_recovery: bool = True
    message_retention_days: Annotated[int, Field(ge=0, le=3650)] = 30


class FunctionSettings(_Section):
    memory_mb: Annotated[int, Field(ge=128, le=10240)] | None = None
    timeout_s: Annotated[int, Field(ge=1, le=900)] | None = None


class FunctionsConfig(_Section):
    runtime: Literal["python3.12", "python3.13"] = "python3.12"
    architecture: Literal["arm64", "x86_64"] = "arm64"
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 256
    timeout_s: Annotated[int, Field(ge=1, le=900)] = 10
    log_retention_days: Literal[
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    ] = 14
    overrides: dict[str, FunctionSettings] = Field(
        default_factory=lambda: {"send_message": FunctionSettings(memory_mb=512, timeout_s=30)}
    )

    def memory_for(self, function: str) -> int:
        override = self.overrides.get(function)
        return override.memory_mb if override and override.memory_mb else self.memory_mb

    def timeout_for(self, function: str) -> int:
        override = self.overrides.get(function)
        return override.timeout_s if override and override.timeout_s else self.timeout_s


class ChatConfig(_Section):
    max_message_bytes: Annotated[int, Field(ge=1, le=32 * 1024)] = 4096


class AuthConfig(_Section):
    deletion_protection: bool = False
    allow_unauthenticated_identities: bool = False
    id_token_validity_minutes: Annotated[int, Field(ge=5, le=1440)] = 60
    access_token_validity_minutes: Annotated[int, Field(ge=5, le=1440)] = 60
    refresh_token_validity_days: Annotated[int, Field(ge=1, le=3650)] = 30
    jwks_url: str | None = None

    @field_validator("jwks_url")
    @classmethod
    def _https_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://127.0.0.1")):
            raise ValueError("must be an https:// URL")
        return value


class FrontendConfig(_Section):
    hosting: Literal["cloudfront", "s3-website"] = "cloudfront"
    bucket_name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")] | None = None


class CdnConfig(_Section):
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"


class Config(_Section):
    stack: Annotated[str, Field(pattern=STACK_PATTERN, max_length=24)] = "chat"
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")] | None = None
    tables: TablesConfig = TablesConfig()
    functions: FunctionsConfig = FunctionsConfig()
    chat: ChatConfig = ChatConfig()
    auth: AuthConfig = AuthConfig()
    frontend: FrontendConfig = FrontendConfig()
    cdn: CdnConfig = CdnConfig()


def load_config(path: Path | None) -> Config:
    """Read and validate the config. No path and no ./chatdeploy.yaml: the built-in defaults."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.exists():
            return Config()
        path = DEFAULT_CONFIG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found", hint="run `chatdeploy init` to write one"
        ) from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "config") -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"{source}{line}: not valid YAML") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of settings")
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"{source}: {_first_problem(error)}", hint=_hint(error)) from None


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    path = ".".join(_printable_key(part) for part in problem["loc"]) or "(top level)"
    message = " ".join(problem["msg"].split())
    if problem["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"{path}: {message}" + (
        f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    )


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _printable_key(part: object) -> str:
    """A key as the user typed it, quoted and shortened when it is not a plain word."""
    text = str(part)
    if _PLAIN_KEY.fullmatch(text):
        return text
    quoted = json.dumps(text)
    return quoted if len(quoted) <= 40 else quoted[:37] + '..."'


def _hint(error: ValidationError) -> str:
    problem: dict[str, Any] = dict(error.errors()[0])
    if problem["type"] == "extra_forbidden":
        return "remove it or check its spelling; config.example.yaml lists every setting"
    return "fix the value; config.example.yaml documents every setting and its default"
