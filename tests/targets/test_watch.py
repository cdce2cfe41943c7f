"""The watched server: started on a free port, read with psutil, its death described; liveness probes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from conformance.errors import TargetError, UsageError
from conformance.targets.tcp import ServerTarget
from conformance.targets.watch import WatchedServer, describe_exit, probe_handshake

ECHO = f"{sys.executable} -m conformance echo-server --port {{port}}"
# listens; for each connection it fills 64 MiB, frees it, then answers one octet
BALLOON = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    c = s.accept()[0]
    if c.recv(1):
        b = bytearray(64 << 20)
        del b
        c.sendall(b"k")
    c.close()
"""


def test_it_starts_reads_and_stops_a_real_server() -> None:
    w = WatchedServer(ECHO)
    try:
        w.start()
        assert w.exit_status() is None and w.url == f"ws://127.0.0.1:{w.port}/"
        s = w.sample()
        assert s.rss > 5 << 20 and s.peak >= s.rss and s.cpu > 0
        live = asyncio.run(probe_handshake(ServerTarget.from_url(w.url), 5))
        assert live.ok, live.detail
    finally:
        w.close()
    assert w.exit_status() is not None


def test_the_peak_catches_a_balloon_that_is_gone_by_the_sample(tmp_path: Path) -> None:
    script = tmp_path / "balloon.py"
    script.write_text(BALLOON)
    w = WatchedServer(f"{sys.executable} {script} {{port}}")
    try:
        w.start()
        w.reset_peak()
        before = w.sample()
        with socket.create_connection(("127.0.0.1", w.port)) as c:
            c.sendall(b"x")
            assert c.recv(1) == b"k"
        after = w.sample()
        assert after.rss - before.rss < 16 << 20  # the memory was given back ...
        assert after.peak - before.rss > 60 << 20  # ... but the peak saw it
    finally:
        w.close()


def test_a_crash_is_described_with_its_signal_and_the_server_restarts() -> None:
    w = WatchedServer(ECHO)
    try:
        w.start()
        assert w.proc is not None
        os.kill(w.proc.pid, signal.SIGKILL)
        assert w.settle_exit(5) == "killed by signal SIGKILL (9)"
        port = w.port
        w.restart()
        assert w.exit_status() is None and w.port == port and w.restarts == 1
    finally:
        w.close()


def test_a_command_that_exits_at_once_is_one_clear_error() -> None:
    w = WatchedServer(f"{sys.executable} -c \"import sys; sys.stderr.write('no luck'); sys.exit(3)\" {{port}}")
    with pytest.raises(TargetError, match=r"exited with status 3.*no luck"):
        w.start()
    w.close()


def test_the_command_runs_with_the_environment_and_directory_given(tmp_path: Path) -> None:
    """bisect starts each candidate's server in its own environment and checkout."""
    script = tmp_path / "srv.py"
    script.write_text("import os\nopen('seen', 'w').write(os.environ['CANDIDATE'])\n" + BALLOON)
    w = WatchedServer(f"{sys.executable} srv.py {{port}}", env={**os.environ, "CANDIDATE": "1.2.3"},
                      cwd=str(tmp_path))
    try:
        w.start()  # the script wrote `seen` before it listened
        assert (tmp_path / "seen").read_text() == "1.2.3"
    finally:
        w.close()


def test_the_command_needs_a_port_placeholder() -> None:
    with pytest.raises(UsageError, match=r"\{port\}"):
        WatchedServer("python -m something")


def test_exit_codes_in_words() -> None:
    assert describe_exit(0) == "exited with status 0"
    assert describe_exit(-6) == "killed by signal SIGABRT (6)"


def test_liveness_of_nothing_listening_fails_quickly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    live = asyncio.run(probe_handshake(ServerTarget.from_url(f"ws://127.0.0.1:{port}/"), 5))
    assert not live.ok and live.seconds < 5
