"""`run --client`: the client command the suite starts is ended with the run, also when the run
itself is interrupted (a browser left running would outlive a CI job)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
# a client that writes its pid and then does nothing
SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}/stat").exists() else ""
    return " Z " not in stat  # a zombie has ended


def _wait_for(cond: object, bound: float) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_an_interrupted_run_ends_its_client(tmp_path: Path) -> None:
    pidfile = tmp_path / "client.pid"
    client = f'{PY} -c "{SLEEPER}" {pidfile} {{url}}'
    run = subprocess.Popen([PY, "-m", "conformance", "run", "--quiet", "--client", client, "--cases", "20.2.1",
                            "--out", str(tmp_path / "out")], cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        assert _wait_for(lambda: pidfile.exists() and pidfile.read_text(), 60), "the client never started"
        pid = int(pidfile.read_text())
        run.send_signal(signal.SIGINT)
        run.wait(60)
        assert _wait_for(lambda: not _alive(pid), 30), "the client outlived the interrupted run"
    finally:
        if run.poll() is None:
            run.kill()
        if pidfile.exists() and pidfile.read_text() and _alive(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
