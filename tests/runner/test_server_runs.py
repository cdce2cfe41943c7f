"""End to end: `conformance run` against real servers on loopback."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from conformance.cli import main
from testees.peers.spawn import spawn_server
from tests.runner.conftest_helpers import verdicts, write_cases

pytestmark = pytest.mark.slow


def run(*argv: str) -> int:
    return main(["run", "--quiet", *argv])


def test_reference_server_passes_everything(tmp_path: Path) -> None:
    cases = write_cases(tmp_path)
    out = tmp_path / "out"
    assert run("--cases-dir", str(cases), "--out", str(out)) == 0
    got = verdicts(out)
    assert len(got) == 10
    assert all(v == ("OK", "OK") for v in got.values()), got
    detail = json.loads((out / "reference_case_1_7_1.json").read_text())
    assert detail["measurements"]["messages"] == 50
    assert detail["httpRequest"].startswith("GET / HTTP/1.1")
    assert any(e["dir"] == "rx" and e["kind"] == "frame" for e in
               json.loads((out / "reference_case_1_1_2.json").read_text())["wirelog"])


def test_websockets_server(tmp_path: Path) -> None:
    cases = write_cases(tmp_path)
    out = tmp_path / "out"
    with spawn_server(["-m", "testees.peers.websockets_server"]) as (url, _):
        code = run("--server", url, "--agent", "websockets", "--cases-dir", str(cases), "--out", str(out))
    got = verdicts(out)
    assert got["1.1.3"] == ("OK", "OK") and got["1.7.1"] == ("OK", "OK")
    assert got["1.4.1"][0] == "OK"  # websockets fails the connection on an unmasked frame
    assert code in (0, 1)


def test_unreachable_target_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert run("--server", f"ws://127.0.0.1:{port}/", "--cases-dir", str(write_cases(tmp_path)),
               "--out", str(tmp_path / "o")) == 3
    assert "cannot connect" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--server", "ws://10.1.2.3:9001/"], "not a loopback address"),
    (["--server", "http://127.0.0.1:9001/"], "bad target URL"),
    (["--jobs", "0"], "must be at least 1"),
    (["--cases", "99.*"], "matches no case"),
    (["--impl", "reference", "--cases", "99.*"], "matches no case"),  # was a traceback
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                         message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        code = run(*argv, "--cases-dir", str(write_cases(tmp_path)), "--out", str(tmp_path / "o"))
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any(message in line for line in err), err
    assert not any("Traceback" in line for line in err)
