"""Generated configs: each gives exit 2 with a message naming the problem, or deploys. Never a
traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from pydantic import BaseModel

from chatdeploy.cli import main
from chatdeploy.config import Config, parse_config

from support import FIXTURE_HANDLERS, open_workspace, up

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "stack": st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True),
    "region": st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2", "moon-1"]),
    "billing_mode": st.sampled_from(["PAY_PER_REQUEST", "PROVISIONED", "pay_per_request"]),
    "runtime": st.sampled_from(["python3.12", "python3.13", "nodejs18.x"]),
    "architecture": st.sampled_from(["arm64", "x86_64", "sparc"]),
    "hosting": st.sampled_from(["cloudfront", "s3-website", "ftp"]),
    "overrides": st.dictionaries(
        st.sampled_from(["send_message", "connect", "nope"]),
        st.fixed_dictionaries({}, optional={"memory_mb": st.integers(0, 20000)}),
        max_size=2,
    ),
}


def section_values(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    fields = {
        name: st.one_of(PLAUSIBLE.get(name, JUNK), JUNK, st.just(field.get_default()))
        for name, field in model.model_fields.items()
        if not isinstance(field.get_default(call_default_factory=True), BaseModel)
    }
    return st.fixed_dictionaries({}, optional=fields)


def config_documents() -> st.SearchStrategy[Any]:
    sections: dict[str, st.SearchStrategy[Any]] = {}
    for name, field in Config.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            sections[name] = st.one_of(section_values(type(default)), JUNK)
        else:
            sections[name] = st.one_of(PLAUSIBLE.get(name, JUNK), JUNK)
    sections["typo_setting"] = JUNK
    return st.one_of(st.fixed_dictionaries({}, optional=sections), JUNK)


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=config_documents())
@example(document={"\n": 0})
@example(document={"lambda": {"tab\there": 1, "x" * 200: 2}})
def test_any_config_is_refused_clearly_or_planned(
    document: Any,
    aws: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATDEPLOY_HANDLERS", str(FIXTURE_HANDLERS))
    Path("given.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(SystemExit) as exited:
        main(["plan", "-c", "given.yaml", "--state-dir", str(tmp_path / "state")])
    error = capsys.readouterr().err
    assert "Traceback" not in error and "unexpected" not in error, error
    assert exited.value.code in (0, 2), error
    if exited.value.code == 2:
        assert error.startswith("error: "), error
        assert error.count("\n") <= 2, "one line and a hint"
    event(f"exit {exited.value.code}")


def optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


VALID_DOCUMENTS = optional(
    stack=st.from_regex(r"[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,5}){0,2}", fullmatch=True),
    tables=optional(
        billing_mode=st.sampled_from(["PAY_PER_REQUEST", "PROVISIONED"]),
        read_capacity=st.integers(1, 100),
        write_capacity=st.integers(1, 100),
        point_in_time_recovery=st.booleans(),
        message_retention_days=st.integers(0, 3650),
    ),
    functions=optional(
        runtime=st.sampled_from(["python3.12", "python3.13"]),
        architecture=st.sampled_from(["arm64", "x86_64"]),
        memory_mb=st.integers(128, 3008),
        timeout_s=st.integers(1, 900),
        log_retention_days=st.sampled_from([1, 7, 30, 365]),
        overrides=st.dictionaries(
            st.sampled_from(["send_message", "connect"]),
            optional(memory_mb=st.integers(128, 10240), timeout_s=st.integers(1, 900)),
            max_size=2,
        ),
    ),
    chat=optional(max_message_bytes=st.integers(1, 32768)),
    auth=optional(
        deletion_protection=st.just(False),
        allow_unauthenticated_identities=st.booleans(),
        id_token_validity_minutes=st.integers(5, 1440),
        refresh_token_validity_days=st.integers(1, 3650),
    ),
    frontend=optional(hosting=st.sampled_from(["cloudfront", "s3-website"])),
    cdn=optional(price_class=st.sampled_from(["PriceClass_100", "PriceClass_All"])),
)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=VALID_DOCUMENTS)
def test_valid_generated_configs_deploy(document: dict[str, Any], tmp_path_factory: Any) -> None:
    config = parse_config(yaml.safe_dump(document))
    with mock_aws():
        report, _ = up(open_workspace(tmp_path_factory.mktemp("deploy"), config))
        assert report.ok, (document, report.failures)
