"""The echo testees of the matrix (testees/peers/*_server.py, testees/clients/*_client.py, and Node's
ws in testees/peers/node/) work: each real library echoes text, binary, fragmented and (when on)
compressed messages and closes cleanly, so that what the matrix reports about them is about the
library, not the testee. The ws tests need node and `npm ci` there (`make node-deps`; make test does)."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from conformance.cli import main
from testees.peers.spawn import spawn_server

pytestmark = pytest.mark.slow
LIBS = ["websockets", "wsproto", "aiohttp", "tornado", "picows"]
CASES = ["1.1.1", "1.2.8", "2.2", "5.6", "7.1.1", "12.1.3"]
WITHOUT_DEFLATE = {"picows"}  # picows has no permessage-deflate
NODE_DIR = Path(__file__).resolve().parents[2] / "testees" / "peers" / "node"


def params() -> list[tuple[str, bool]]:
    return [(lib, comp) for lib in LIBS for comp in (True, False) if not (comp and lib in WITHOUT_DEFLATE)]


def verdicts(out: Path) -> dict[str, tuple[str, str]]:
    (cases,) = json.loads((out / "index.json").read_text()).values()
    return {c: (e["behavior"], e["behaviorClose"]) for c, e in cases.items()}


def expected(compression: bool) -> dict[str, tuple[str, str]]:
    ok = dict.fromkeys(CASES, ("OK", "OK"))
    if not compression:
        ok["12.1.3"] = ("UNIMPLEMENTED", "UNIMPLEMENTED")
    return ok


@pytest.mark.parametrize(("lib", "compression"), params())
def test_echo_server(lib: str, compression: bool, tmp_path: Path) -> None:
    flag = [] if compression else ["--no-compression"]
    with spawn_server(["-m", f"testees.peers.{lib}_server", "--port", "0", *flag]) as (url, _):
        main(["run", "--quiet", "--server", url, "--agent", lib, "--cases", *CASES, "--out", str(tmp_path)])
    assert verdicts(tmp_path) == expected(compression)


@pytest.mark.parametrize(("lib", "compression"), params())
def test_echo_client(lib: str, compression: bool, tmp_path: Path) -> None:
    flag = "" if compression else " --no-compression"
    main(["run", "--quiet", "--client", f"{sys.executable} -m testees.clients.{lib}_client {{url}} {{agent}}{flag}",
          "--agent", lib, "--cases", *CASES, "--out", str(tmp_path)])
    got = verdicts(tmp_path)
    assert {c: b for c, (b, _) in got.items()} == {c: b for c, (b, _) in expected(compression).items()}
    # aiohttp's, tornado's and picows' clients close TCP first after the closing handshake, where
    # §7.1.1 says a client SHOULD wait for the server: FAILED BY CLIENT, a SHOULD (see docs/findings.md)
    want = expected(compression)
    assert all(close == want[c][1] or close == "FAILED BY CLIENT" for c, (_, close) in got.items())


def node() -> str:
    """The node binary, once `npm ci` has installed ws beside the testees; a clear failure otherwise."""
    found = shutil.which("node")
    if found is None or not (NODE_DIR / "node_modules" / "ws" / "package.json").is_file():
        pytest.fail("node or ws is not installed: run `make node-deps` (make test does)")
    return found


@pytest.mark.parametrize("compression", [True, False])
def test_ws_echo_server(compression: bool, tmp_path: Path) -> None:
    flag = [] if compression else ["--no-compression"]
    with spawn_server([str(NODE_DIR / "server.js"), "--port", "0", *flag], program=node()) as (url, _):
        main(["run", "--quiet", "--server", url, "--agent", "ws", "--cases", *CASES, "--out", str(tmp_path)])
    assert verdicts(tmp_path) == expected(compression)


@pytest.mark.parametrize("compression", [True, False])
def test_ws_echo_client(compression: bool, tmp_path: Path) -> None:
    flag = "" if compression else " --no-compression"
    command = f"{shlex.quote(node())} {shlex.quote(str(NODE_DIR / 'client.js'))} {{url}} {{agent}}{flag}"
    main(["run", "--quiet", "--client", command, "--agent", "ws", "--cases", *CASES, "--out", str(tmp_path)])
    got = verdicts(tmp_path)
    want = expected(compression)
    assert {c: b for c, (b, _) in got.items()} == {c: b for c, (b, _) in want.items()}
    # ws ends TCP right after its close reply, where §7.1.1 says a client SHOULD wait for the
    # server: FAILED BY CLIENT, a SHOULD (see docs/findings.md)
    assert all(close == want[c][1] or close == "FAILED BY CLIENT" for c, (_, close) in got.items())
