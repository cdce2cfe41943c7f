"""Testing clients: the reference and websockets clients through `serve` and `--client`, and
clients that hang, crash or never connect, each ending with a clear verdict per case."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.catalog.load import load_catalogue
from conformance.cli import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
FAST = ["--cases", "1.*", "2.*", "3.*", "4.*", "5.*", "6.4.*", "7.*", "20.*"]


def verdicts(out: Path, agent: str) -> dict[str, dict[str, object]]:
    index = json.loads((out / "index.json").read_text())[agent]
    return {cid: json.loads((out / e["reportfile"]).read_text()) for cid, e in index.items()}


def test_reference_client_passes_through_client_flag(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(["run", "--quiet", "--client", f"{PY} -m conformance echo-client --url {{url}} --agent {{agent}}",
                 "--agent", "reference-client", "--out", str(out), *FAST])
    got = verdicts(out, "reference-client")
    bad = {c: (r["behavior"], r["behaviorClose"], r["result"]) for c, r in got.items()
           if r["behavior"] not in ("OK", "INFORMATIONAL") or r["behaviorClose"] not in ("OK", "INFORMATIONAL")}
    assert code == 0 and not bad and len(got) > 100
    assert all(r["isServer"] is False for r in got.values())
    assert (out / "index.html").is_file()


def test_websockets_client_through_client_flag(tmp_path: Path) -> None:
    out = tmp_path / "out"
    main(["run", "--quiet", "--client", f"{PY} -m testees.clients.websockets_client {{url}} {{agent}}",
          "--agent", "websockets-client", "--out", str(out), "--cases", "1.1.*", "2.*", "20.*"])
    got = verdicts(out, "websockets-client")
    assert got["1.1.1"]["behavior"] == "OK" and got["2.2"]["behavior"] == "OK"
    assert got["20.1.1"]["behavior"] == "OK"  # websockets refuses a wrong Sec-WebSocket-Accept
    group20 = [c for c in load_catalogue(ROOT / "cases").cases if c.group == "20"]
    assert len(got) == 8 + 11 + len(group20)


def test_serve_speaks_autobahns_protocol(tmp_path: Path) -> None:
    out = tmp_path / "served"
    proc = subprocess.Popen([PY, "-m", "conformance", "serve", "--port", "0", "--out", str(out), "--cases", "1.1.*",
                             "20.2.*"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        subprocess.run([PY, "-m", "testees.clients.websockets_client", url, "ws-served"], cwd=ROOT, check=True, timeout=120)

        async def info() -> tuple[str, str]:
            from websockets.asyncio.client import connect

            async with connect(f"{url}/getCaseInfo?case=1") as ws:
                case_info = str(await ws.recv())
            async with connect(f"{url}/getCaseStatus?case=1&agent=ws-served") as ws:
                status = str(await ws.recv())
            return case_info, status

        case_info, status = asyncio.run(info())
    finally:
        proc.terminate()
        proc.wait(10)
    assert json.loads(case_info)["id"] == "1.1.1"
    assert json.loads(status) == {"behavior": "OK"}
    assert len(verdicts(out, "ws-served")) == 8 + 5
    assert (out / "index.html").is_file()


@pytest.mark.parametrize(("kind", "code", "why"), [
    ("never", 3, "never connected"),
    ("hang", 1, "stopped making progress"),
    ("crash", 1, "exited with code 3"),
])
def test_misbehaving_clients_end_with_verdicts(kind: str, code: int, why: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    t0 = time.monotonic()
    argv = [PY, "-m", "conformance", "run", "--quiet", "--client", f"{PY} testees/clients/bad_clients.py {kind} {{url}} {{agent}}",
            "--agent", "bad", "--out", str(out), "--cases", "1.1.*", "--timeout", "3", "--wait", "1"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == code, proc.stderr[-2000:]
    assert time.monotonic() - t0 < 100  # an upper bound only: the run ends (the machine may be busy)
    got = verdicts(out, "bad")
    # the case the client was in when it hung or died is FAILED; the cases it never reached are NOT RUN
    assert len(got) == 8 and all(r["behavior"] in ("FAILED", "NOT RUN") for r in got.values())
    assert any(r["behavior"] == "NOT RUN" for r in got.values())
    assert any(why in str(r["result"]) for r in got.values()) or why in proc.stderr, (proc.stderr[-1000:], got)


def _closes(kind: str, cases: list[str], tmp_path: Path) -> dict[str, dict[str, object]]:
    out = tmp_path / kind
    argv = [PY, "-m", "conformance", "run", "--quiet", "--client", f"{PY} testees/clients/bad_clients.py {kind} {{url}} {{agent}}",
            "--agent", kind, "--out", str(out), "--wait", "1"]
    for c in cases:
        argv += ["--cases", c]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return verdicts(out, kind)


def test_a_client_that_closes_tcp_right_after_its_close_reply_is_not_blamed(tmp_path: Path) -> None:
    """The suite closes TCP as soon as the closing handshake is complete, so a client whose FIN
    follows its close reply at once (aiohttp does) is not judged on who closed TCP first."""
    got = _closes("eager", ["1.1.*", "2.1", "7.1.1", "7.5.1"], tmp_path)
    assert len(got) == 8 + 3
    assert {c: (r["behaviorClose"], r["resultClose"]) for c, r in got.items() if r["behaviorClose"] != "OK"} == {}


def test_a_client_that_drops_tcp_without_a_close_frame_fails_by_client_at_should(tmp_path: Path) -> None:
    got = _closes("drop", ["5.1", "5.2"], tmp_path)  # the client must fail the connection: with a close frame
    assert {r["behaviorClose"] for r in got.values()} == {"FAILED BY CLIENT"}
    assert {r["rule"] for r in got.values()} == {"close.server-closes-tcp-first"}  # a SHOULD (§7.1.1)
    assert all("sent no close frame" in str(r["resultClose"]) for r in got.values())


def test_a_client_that_leaves_our_close_unanswered_fails_by_client(tmp_path: Path) -> None:
    got = _closes("mute", ["7.3.2"], tmp_path)  # a 1-octet close payload; the connection may end unclean
    assert got["7.3.2"]["behaviorClose"] == "FAILED BY CLIENT"
    assert "left the connection open" in str(got["7.3.2"]["resultClose"])
