"""The options every command takes after its name, and the logging they switch on."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def stack_options(command: F) -> F:
    """Adds -c/--config, --state-dir, --region, --profile, --endpoint-url and -v; the wrapped
    function receives them as one `options` argument."""

    @click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Config file [default: ./chatdeploy.yaml, else built-in defaults].",
    )
    @click.option(
        "--state-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=Path(".chatdeploy"),
        show_default=True,
        help="Where the stack's state file and lock live.",
    )
    @click.option("--region", help="AWS region [default: the stack's, else AWS_REGION].")
    @click.option("--profile", envvar="AWS_PROFILE", help="AWS profile [env: AWS_PROFILE].")
    @click.option(
        "--endpoint-url",
        help="Send AWS calls to an emulator [env: AWS_ENDPOINT_URL].",
    )
    @click.option("-v", "--verbose", is_flag=True, help="Log every AWS call and show details.")
    @functools.wraps(command)
    def wrapper(
        config_path: Path | None,
        state_dir: Path,
        region: str | None,
        profile: str | None,
        endpoint_url: str | None,
        verbose: bool,
        **kwargs: Any,
    ) -> Any:
        from chatdeploy.workspace import Options

        setup_logging(verbose)
        options = Options(
            config=config_path,
            state_dir=state_dir,
            region=region,
            profile=profile or None,
            endpoint_url=endpoint_url,
            verbose=verbose,
        )
        return command(options=options, **kwargs)

    return wrapper  # type: ignore[return-value]


def setup_logging(verbose: bool) -> None:
    logger = logging.getLogger("chatdeploy")
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
