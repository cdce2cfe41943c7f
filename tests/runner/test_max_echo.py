"""--max-echo caps the message count of echo steps, and the case report says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main


def test_echo_count_is_capped_and_reported(tmp_path: Path) -> None:
    assert main(["run", "--quiet", "--cases", "12.1.1", "1.1.1", "--max-echo", "7", "--out", str(tmp_path)]) == 0
    index = json.loads((tmp_path / "index.json").read_text())["reference"]
    capped = json.loads((tmp_path / index["12.1.1"]["reportfile"]).read_text())
    assert capped["behavior"] == "OK"
    text = json.dumps(capped)
    assert '"messages": 7' in text and "7 of 1000 messages (--max-echo)" in text
    assert "max-echo" not in (tmp_path / index["1.1.1"]["reportfile"]).read_text()  # no echo step: untouched


def test_max_echo_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--quiet", "--max-echo", "0", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "--max-echo" in capsys.readouterr().err
