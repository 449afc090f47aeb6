"""The config: defaults reproduce the guide; the example documents every setting."""

from __future__ import annotations

import pytest

from chatdeploy.bundled import example_config
from chatdeploy.config import Config, parse_config
from chatdeploy.errors import ConfigError


def test_the_example_config_is_exactly_the_defaults() -> None:
    assert parse_config(example_config().read_text()) == Config()


def test_the_example_mentions_every_setting() -> None:
    text = example_config().read_text()

    def names(model: type) -> list[str]:
        return list(model.model_fields)  # type: ignore[attr-defined]

    for section, model in Config.model_fields.items():
        assert f"{section}:" in text or f"# {section}:" in text
        annotation = model.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            for field in names(annotation):
                assert field in text, f"{section}.{field} is not documented"


def test_defaults_follow_the_guide() -> None:
    config = Config()
    assert config.functions.memory_for("connect") == 256
    assert config.functions.timeout_for("connect") == 10
    assert config.functions.memory_for("send_message") == 512
    assert config.functions.timeout_for("send_message") == 30
    assert config.tables.billing_mode == "PAY_PER_REQUEST"
    assert config.auth.allow_unauthenticated_identities is False


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("stack: Not_Valid", "stack"),
        ("tables: {read_capacity: 0}", "tables.read_capacity"),
        (
            "functions: {overrides: {connect: {memory_mb: 1}}}",
            "functions.overrides.connect.memory_mb",
        ),
        ("frontend: {hosting: ftp}", "frontend.hosting"),
        ("auth: {jwks_url: 'http://evil.example'}", "auth.jwks_url"),
        ("nonsense: 1", "nonsense"),
        ("- a list", "top level"),
        ("key: [unclosed", "line"),
    ],
)
def test_bad_config_names_the_place(text: str, path: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(text, source="chatdeploy.yaml")
    assert path in error.value.message
    assert error.value.exit_code == 2
