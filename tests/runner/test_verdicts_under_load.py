"""No verdict depends on load: the timing-sensitive cases (reserved bits and opcodes after a valid
message, fragmentation, fail-fast checkpoints, closing) give the same verdicts on a quiet machine
and with both cores kept busy, against the reference echo server and a real library's server."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from conformance.cli import main
from testees.peers.spawn import spawn_server

_SELECTION = ["3.*", "4.*", "5.*", "6.4.*", "7.*", "14.1.8"]


@contextlib.contextmanager
def _busy_cores() -> Iterator[None]:
    """Two busy-loop processes for the duration of the test, stopped by their own PIDs."""
    procs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _verdicts(out: Path, *target: str) -> dict[str, tuple[str, str]]:
    code = main(["run", "--quiet", *target, "--cases", *_SELECTION, "--out", str(out)])
    assert code in (0, 1)
    (cases,) = json.loads((out / "index.json").read_text()).values()
    return {cid: (v["behavior"], v["behaviorClose"]) for cid, v in cases.items()}


def _loaded(tmp_path: Path, *target: str) -> dict[str, tuple[str, str]]:
    with _busy_cores():
        return _verdicts(tmp_path / "loaded", *target)


def test_reference_server_verdicts_do_not_depend_on_load(tmp_path: Path) -> None:
    quiet, loaded = _verdicts(tmp_path / "quiet"), _loaded(tmp_path)
    assert quiet == loaded
    assert {b for b, _ in quiet.values()} <= {"OK", "INFORMATIONAL"}, quiet  # the reference conforms
    assert quiet["3.4"] == quiet["4.1.5"] == quiet["4.2.5"] == ("OK", "OK")  # chopped, after an echo


def test_websockets_server_verdicts_do_not_depend_on_load(tmp_path: Path) -> None:
    with spawn_server(["-m", "testees.peers.websockets_server"]) as (url, _):
        quiet, loaded = _verdicts(tmp_path / "quiet", "--server", url), _loaded(tmp_path, "--server", url)
    assert quiet == loaded
    assert quiet["3.4"] == quiet["4.1.5"] == quiet["4.2.5"] == ("OK", "OK")
