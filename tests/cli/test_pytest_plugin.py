"""The pytest plugin keeps the CLI's contracts (issue 15 item 11): the node IDs it prints select their
cases when passed back, --collect-only counts the items, an unreachable server is exit 3 (not case
failures), and it takes the selection by requirement and --ws-ca / --ws-insecure."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from tests.cli.helpers import ROOT


def pytest_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], check=False,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_collect_only_counts_and_printed_node_ids_select_their_cases(tmp_path: Path) -> None:
    p = pytest_run("--ws-impl", "websockets", "--ws-cases", "1.1.1,1.1.2,2.1", "--collect-only", "-q")
    assert p.returncode == 0, p.stdout[-2000:]
    ids = [ln for ln in p.stdout.splitlines() if "::" in ln]
    assert ids == ["ws-conformance::1.1.1", "ws-conformance::1.1.2", "ws-conformance::2.1"]
    assert "3 tests collected" in p.stdout
    p = pytest_run("--ws-impl", "websockets", "--collect-only", "--ws-cases", "1.1.*")
    assert "collected 8 items" in p.stdout, p.stdout[-2000:]
    out = tmp_path / "r"
    p = pytest_run("--ws-impl", "websockets", ids[1], ids[2], "--ws-out", str(out))
    assert p.returncode == 0 and "2 passed" in p.stdout, p.stdout[-2000:] + p.stderr[-2000:]
    assert set(json.loads((out / "index.json").read_text())["websockets"]) == {"1.1.2", "2.1"}


def test_an_unreachable_server_is_exit_3(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = pytest_run("--ws-server", f"ws://127.0.0.1:{port}/", "--ws-cases", "1.1.*", "--ws-out", str(tmp_path / "r"))
    assert p.returncode == 3, p.stdout[-2000:]
    assert "cannot connect" in p.stdout + p.stderr and "failed" not in p.stdout.splitlines()[-1]


def test_selection_by_requirement_and_tls_options(tmp_path: Path) -> None:
    p = pytest_run("--ws-impl", "websockets", "--ws-rfc", "6455 §5.5.1", "--ws-level", "MUST", "--ws-rule",
                   "close.*", "--collect-only", "-q")
    assert p.returncode == 0 and "ws-conformance::7." in p.stdout, p.stdout[-2000:]
    p = pytest_run("--ws-server", "ws://127.0.0.1:9/", "--ws-ca", str(tmp_path / "ca.pem"), "--collect-only")
    assert p.returncode == 4 and "wss://" in p.stdout + p.stderr
    assert "Traceback" not in p.stdout + p.stderr


def test_an_unreachable_server_is_exit_3_under_xdist_too(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = pytest_run("--ws-server", f"ws://127.0.0.1:{port}/", "--ws-cases", "1.1.*", "-n", "2",
                   "--ws-out", str(tmp_path / "r"))
    assert p.returncode == 3, p.stdout[-2000:]
