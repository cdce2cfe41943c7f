"""The pytest plugin: `pytest --ws-server URL` / `--ws-impl NAME` turns cases into test items named by
case ID, fails exactly the cases `conformance run` fails, runs under pytest-xdist, and writes the
standard report directory from the controlling process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testees.peers.spawn import spawn_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def pytest_run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfs", *args],
                          check=False, cwd=cwd, capture_output=True, text=True, timeout=300)


def index(out: Path) -> dict[str, dict[str, object]]:
    (agent,) = json.loads((out / "index.json").read_text()).values()
    return agent


def test_a_broken_server_fails_exactly_the_case_that_catches_it(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with spawn_server(["-m", "testees.mutants.serve", "accepts-reserved-opcodes"]) as (url, _):
        p = pytest_run("--ws-server", url, "--ws-cases", "4.1.*,1.1.1", "--ws-out", str(out), "-n", "2")
    assert p.returncode == 1, p.stdout[-3000:]
    failed = {line.split("::")[-1].split()[0] for line in p.stdout.splitlines() if line.startswith("FAILED")}
    assert failed == {"4.1.1", "4.1.2", "4.1.3", "4.1.4", "4.1.5"}, p.stdout[-3000:]
    assert "frame.opcode-reserved" in p.stdout  # the failure names the rule
    assert "6 passed" not in p.stdout and "1 passed" in p.stdout
    got = index(out)
    assert set(got) == {"1.1.1", "4.1.1", "4.1.2", "4.1.3", "4.1.4", "4.1.5"}
    assert got["4.1.2"]["behavior"] == "FAILED" and got["1.1.1"]["behavior"] == "OK"
    assert (out / "index.html").is_file() and (out / got["4.1.2"]["reportfile"]).is_file()


def test_reference_passes_and_selection_by_case_id(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with spawn_server(["-m", "conformance", "echo-server", "--port", "0"]) as (url, _):
        p = pytest_run("--ws-server", url, "--ws-cases", "5.*,7.1.*", "-k", "5.9 or 7.1.2", "--ws-out", str(out))
    assert p.returncode == 0, p.stdout[-3000:]
    assert "2 passed" in p.stdout and "deselected" in p.stdout
    assert set(index(out)) == {"5.9", "7.1.2"}


def test_in_process_library(tmp_path: Path) -> None:
    out = tmp_path / "report"
    p = pytest_run("--ws-impl", "websockets", "--ws-cases", "1.1.1,13.1.1", "--ws-out", str(out))
    assert p.returncode == 0 and "2 passed" in p.stdout, p.stdout[-3000:]
    got = index(out)
    assert got["1.1.1"]["behavior"] == got["13.1.1"]["behavior"] == "OK"  # websockets agrees to deflate


def test_unimplemented_is_a_skip_not_a_pass(tmp_path: Path) -> None:
    out = tmp_path / "report"
    with spawn_server(["-m", "conformance", "echo-server", "--port", "0"]) as (url, _):  # no deflate
        p = pytest_run("--ws-server", url, "--ws-cases", "12.1.1,1.1.1", "--ws-out", str(out))
    assert p.returncode == 0 and "1 passed, 1 skipped" in p.stdout, p.stdout[-3000:]
    assert "UNIMPLEMENTED" in p.stdout and index(out)["12.1.1"]["behavior"] == "UNIMPLEMENTED"


def test_the_plugin_is_inert_without_its_options(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x():\n    assert True\n")
    p = pytest_run(str(tmp_path / "test_x.py"), cwd=tmp_path)
    assert p.returncode == 0 and "1 passed" in p.stdout


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    p = pytest_run("--ws-server", "ws://192.0.2.1:9/", "--ws-out", str(tmp_path / "r"))
    assert p.returncode == 4 and "loopback" in (p.stderr + p.stdout)
    assert "Traceback" not in p.stderr
    p = pytest_run("--ws-impl", "nosuch", "--ws-cases", "1.1.1", "--ws-out", str(tmp_path / "r"))
    assert p.returncode == 4 and "nosuch" in (p.stderr + p.stdout)


def _junit_failures(path: Path) -> int:
    import xml.etree.ElementTree as ET
    return sum(int(s.get("failures", "0")) for s in ET.parse(path).getroot())


@pytest.mark.parametrize("strict", [False, True])
def test_junit_plugin_and_exit_code_agree_on_a_should_level_wrong_code(tmp_path: Path, strict: bool) -> None:
    # failing with 1002 where 1007 fits (6.3.1) is WRONG CODE naming a SHOULD rule (§7.1.7):
    # a failure only with --strict, for the run's exit code, its JUnit file and the plugin alike
    from conformance.cli import main

    flag = ["--strict"] if strict else []
    with spawn_server(["-m", "testees.mutants.serve", "fails-with-1002"]) as (url, _):
        code = main(["run", "--quiet", "--server", url, "--cases", "6.3.1", "--out", str(tmp_path / "run"),
                     "--junit", str(tmp_path / "junit.xml"), *flag])
        p = pytest_run("--ws-server", url, "--ws-cases", "6.3.1", "--ws-out", str(tmp_path / "plugin"),
                       *(["--ws-strict"] if strict else []))
    result = next(iter(index(tmp_path / "run").values()))
    assert result["behaviorClose"] == "WRONG CODE"
    assert code == (1 if strict else 0)
    assert _junit_failures(tmp_path / "junit.xml") == (1 if strict else 0)
    assert p.returncode == (1 if strict else 0), p.stdout[-3000:]
