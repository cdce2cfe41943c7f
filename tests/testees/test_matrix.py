"""The matrix driver (testees/matrix/run.py): a server it starts never blocks on its own output."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from testees.matrix.run import _start

# a server that, once listening, writes far more than a pipe holds (64 KiB) to stderr and stdout
_NOISY = ("import sys; print('listening on http://127.0.0.1:1/', flush=True); "
          "sys.stderr.write('e' * 300000); sys.stderr.flush(); print('o' * 300000, flush=True)")


def test_a_noisy_server_does_not_block(tmp_path: Path) -> None:
    log = tmp_path / "runs" / "noisy.server.log"
    proc, url = _start([sys.executable, "-c", _NOISY], log)
    try:
        assert proc.wait(60) == 0  # an upper bound: blocked on a full pipe, it would never end
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert url == "http://127.0.0.1:1/"
    for _ in range(600):  # the copy thread has the rest of stdout once it reads EOF
        if log.stat().st_size >= 600000:
            break
        time.sleep(0.05)
    text = log.read_text()
    assert text.count("e") >= 300000 and text.count("o") >= 300000


def test_a_server_that_does_not_start_is_reported(tmp_path: Path) -> None:
    log = tmp_path / "bad.server.log"
    try:
        _start([sys.executable, "-c", "import sys; sys.stderr.write('no port for me'); sys.exit(3)"], log)
    except RuntimeError as exc:
        assert "no port for me" in str(exc)
    else:
        raise AssertionError("a server that never listens must be reported")
