"""`conformance replay` on bad input: one line on stderr naming the file or the flag, and the
documented exit code (2 bad usage or file, 3 an unreachable target); never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import run_main

UNREACHABLE = "ws://127.0.0.1:1/"
REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
REPORT = {"agent": "testee", "id": "1.1.1", "behavior": "OK", "behaviorClose": "OK", "isServer": True,
          "wirelog": [{"t": 0, "dir": "tx", "kind": "octets", "len": len(REQUEST), "hex": REQUEST.hex(),
                       "text": "opening handshake request"}]}


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("conformance: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(("content", "says"), [
    (None, "cannot read"),
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (json.dumps({"testee": {"1.1.1": {}}}).encode(), "not a per-case report"),
    (json.dumps([1, 2]).encode(), "not a per-case report"),
    (json.dumps({**REPORT, "wirelog": []}).encode(), "no wire log"),
    (json.dumps({**REPORT, "isServer": False}).encode(), "a client run"),
    (json.dumps({**REPORT, "id": "999.9"}).encode(), "not in the catalogue"),
    (json.dumps({**REPORT, "wirelog": [{"dir": "tx", "kind": "octets", "len": 99, "hex": "00"}]}).encode(),
     "kept 1 of its 99 octets"),
    (json.dumps({**REPORT, "id": "9.1.1"}).encode(), "echo steps"),
])
def test_a_bad_report_is_one_line_naming_it(tmp_path: Path, content: bytes | None, says: str) -> None:
    f = tmp_path / "testee_case_1_1_1.json"
    if content is not None:
        f.write_bytes(content)
    r = run_main("replay", str(f), "--server", UNREACHABLE)
    assert r.code == 2
    line = _one_line(r.err)
    assert str(f) in line and says in line, line


def test_an_unreachable_target_is_exit_3(tmp_path: Path) -> None:
    f = tmp_path / "r.json"
    f.write_text(json.dumps(REPORT))
    r = run_main("replay", str(f), "--server", UNREACHABLE)
    assert r.code == 3 and "cannot connect" in _one_line(r.err)


@pytest.mark.parametrize(("url", "says"), [("ws://192.0.2.1:9001/", "not a loopback address"),
                                           ("http://127.0.0.1:9001/", "http://127.0.0.1:9001/"),
                                           ("not a url", "not a url")])
def test_a_bad_or_remote_url_is_exit_2_before_anything_is_read(tmp_path: Path, url: str, says: str) -> None:
    r = run_main("replay", str(tmp_path / "missing.json"), "--server", url)
    assert r.code == 2 and says in _one_line(r.err)


def test_usage_errors_are_exit_2() -> None:
    assert run_main("replay").code == 2
    assert run_main("replay", "x.json").code == 2  # no such report (without --server: the embedded reference)
    assert run_main("replay", "x.json", "--server", UNREACHABLE, "--wait", "0").code == 2
