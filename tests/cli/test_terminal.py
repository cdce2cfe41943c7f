"""What the terminal says (issue 15 items 3 and 7): the failing cases by name with verdict, rule and
section; a baseline's known failures said to be known; -q / -v; colour and a live bar with an ETA on
a terminal only; progress and a summary for client runs and `serve`."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.helpers import ROOT, mutant, run_cli, run_main


@pytest.fixture(scope="module")
def broken_url() -> object:
    with mutant("accepts-reserved-opcodes") as url:
        yield url


class TestFailureSummary:
    def test_each_failing_case_is_named_with_verdict_rule_and_section(self, tmp_path: Path, broken_url: str) -> None:
        r = run_main("run", "--server", broken_url, "--cases", "4.1.*", "1.1.1", "--out", str(tmp_path / "r"))
        assert r.code == 1
        lines = [ln for ln in r.out.splitlines() if ln.startswith("FAILED 4.1.")]
        assert len(lines) == 5, r.out
        assert all("frame.opcode-reserved" in ln and "RFC 6455 §5.2" in ln for ln in lines), lines
        assert "5 failing cases:" in r.out and "1.1.1" not in "\n".join(lines)

    def test_with_a_baseline_known_failures_are_said_to_be_known(self, tmp_path: Path, broken_url: str) -> None:
        out = tmp_path / "r"
        assert run_main("run", "--server", broken_url, "--cases", "4.1.*", "--out", str(out)).code == 1
        base = tmp_path / "base.yaml"
        base.write_text(run_main("baseline", str(out)).out, encoding="utf-8")
        r = run_main("run", "--server", broken_url, "--cases", "4.1.*", "--out", str(out), "--baseline", str(base))
        assert r.code == 0, r.out + r.err
        assert "5 failed, 5 of them known from the baseline, 0 differences from it" in r.out
        assert r.out.count("[in the baseline]") == 5

    def test_quiet_prints_failures_and_the_last_line_only(self, tmp_path: Path, broken_url: str) -> None:
        r = run_main("run", "-q", "--server", broken_url, "--cases", "4.1.1", "1.1.1", "--out", str(tmp_path / "r"))
        assert r.code == 1
        assert "group" not in r.out and "FAILED 4.1.1" in r.out and "2 cases" in r.out
        assert "[1/2]" not in r.err and "running" not in r.err

    def test_verbose_prints_a_line_per_case(self, tmp_path: Path, broken_url: str) -> None:
        r = run_main("run", "-v", "--server", broken_url, "--cases", "4.1.1", "1.1.1", "--out", str(tmp_path / "r"))
        assert re.search(r"^4\.1\.1 +FAILED/", r.err, re.M) and re.search(r"^1\.1\.1 +OK/OK", r.err, re.M), r.err

    def test_no_colour_without_a_terminal(self, tmp_path: Path, broken_url: str) -> None:
        r = run_main("run", "--server", broken_url, "--cases", "4.1.1", "--out", str(tmp_path / "r"))
        assert "\033[" not in r.out + r.err


def run_on_a_terminal(argv: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run the command with stdout and stderr on a pseudo-terminal; return its code and all it wrote."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "PYTHONPATH": str(ROOT)}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "conformance", *argv], stdout=follower, stderr=follower,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env=env)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the other side closed: the process ended
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(30), b"".join(chunks).decode("utf-8", "replace")


def test_on_a_terminal_a_live_bar_with_an_eta_and_colour(tmp_path: Path, broken_url: str) -> None:
    code, text = run_on_a_terminal(["run", "--server", broken_url, "--cases", "4.1.*", "1.1.*",
                                    "--out", str(tmp_path / "r")])
    assert code == 1, text[-2000:]
    assert re.search(r"\d+/13 \[\d\d:\d\d<\d\d:\d\d\]", text), text[-2000:]  # tqdm: done/total [elapsed<ETA]
    assert "\033[31m" in text  # the failing cases in red


class TestClientSide:
    def test_run_client_shows_progress_lines_and_names_failures(self, tmp_path: Path) -> None:
        r = run_cli("run", "-v", "--client", f"{sys.executable} -m conformance echo-client --url {{url}} --agent {{agent}}",
                    "--cases", "1.1.1", "1.1.2", "--out", str(tmp_path / "r"), timeout=120)
        assert r.code == 0, r.err[-2000:]
        assert re.search(r"^1\.1\.1 +OK/OK", r.err, re.M) and re.search(r"^1\.1\.2 +OK/OK", r.err, re.M), r.err

    def test_serve_says_each_case_and_sums_up_at_the_end(self, tmp_path: Path) -> None:
        proc = subprocess.Popen([sys.executable, "-m", "conformance", "serve", "--port", "0", "--cases", "1.1.1",
                                 "2.1", "--out", str(tmp_path / "r")], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            url = line.split()[-1]
            client = run_cli("echo-client", "--url", url, "--agent", "ref", timeout=120)
            assert client.code == 0, client.err
        finally:
            proc.send_signal(2)  # Ctrl-C ends `serve`
            out, err = proc.communicate(timeout=30)
        assert "case 1.1.1 agent ref: OK/OK" in err and "case 2.1 agent ref: OK/OK" in err, err
        assert "2 cases served to ref: 0 failed" in out, out
        assert proc.returncode == 0
