"""Two `chatdeploy up` at once on one stack: one runs, the other is refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

from fault_kit import Emulator, chatdeploy, finish


def test_a_second_up_is_refused_and_the_state_stays_whole(
    against: Emulator, tmp_path: Path
) -> None:
    first = chatdeploy("up", state_dir=tmp_path, endpoint=against.url)
    second = chatdeploy("up", state_dir=tmp_path, endpoint=against.url)
    results = [finish(first), finish(second)]
    codes = sorted(code for code, _ in results)
    refused = next((output for code, output in results if code == 1), "")
    assert codes == [0, 1], results
    assert "is locked by pid" in refused and "`chatdeploy up`" in refused
    assert "Traceback" not in refused

    state = json.loads((tmp_path / "chat.json").read_text())
    assert state["outputs"]["websocket_url"].endswith("/production")
    code, output = finish(chatdeploy("status", "--check", state_dir=tmp_path, endpoint=against.url))
    assert code == 0, output
