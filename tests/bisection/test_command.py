"""`conformance bisect --git` end to end over a real repository made in a temporary directory: a
tiny server script that runs the reference echo server, with a mutant (RSV bits accepted, RFC 6455
§5.2) switched on at one commit, and a client script that runs the reference echo client, with a
mutant client (any Sec-WebSocket-Accept accepted, §4.1) switched on at the same commit. Real git
worktrees, builds, processes and sockets; a few seconds each."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.cli.helpers import ROOT, run_main

SERVER = '''import runpy, sys
MUTANT = {mutant!r}
if open("built.txt").read().strip() != "ok":  # the --build step ran in this checkout
    sys.exit(5)
port = sys.argv[1]
sys.argv = ["serve", MUTANT, "--port", port] if MUTANT else ["conformance", "echo-server", "--port", port]
runpy.run_module("testees.mutants.serve" if MUTANT else "conformance", run_name="__main__", alter_sys=True)
'''
CLIENT = '''import runpy, sys
MUTANT = {mutant!r}
url, agent = sys.argv[1], sys.argv[2]
sys.argv = ["mutant", MUTANT, url, agent] if MUTANT else ["conformance", "echo-client", "--url", url, "--agent", agent]
runpy.run_module("testees.clients.mutant_clients" if MUTANT else "conformance", run_name="__main__", alter_sys=True)
'''
BUILD_OK = "echo ok > built.txt\necho built >> ../builds.log\n"
BUILD_BROKEN = "echo 'build.sh: missing header' >&2\nexit 1\n"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path: Path, broken_build_at: int | None = None) -> list[str]:
    """Five commits; the mutants from the fourth on. Returns the hashes, oldest first."""
    path.mkdir()
    _git(path, "init", "-q")
    _git(path, "config", "user.email", "t@example.invalid")
    _git(path, "config", "user.name", "t")
    commits = []
    for i in range(5):
        (path / "server.py").write_text(SERVER.format(mutant="ignores-rsv" if i >= 3 else "") + f"# {i}\n")
        (path / "client.py").write_text(CLIENT.format(mutant="lax-accept" if i >= 3 else "") + f"# {i}\n")
        (path / "build.sh").write_text(BUILD_BROKEN if i == broken_build_at else BUILD_OK)
        _git(path, "add", ".")
        _git(path, "commit", "-q", "-m", f"commit {i}")
        commits.append(_git(path, "rev-parse", "HEAD"))
    return commits


@pytest.fixture
def importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server script runs in its checkout: it imports this checkout's conformance and testees."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def bisect(repo: Path, commits: list[str], tmp: Path, server: str = "{python} server.py {port}") -> tuple[int, str, str]:
    r = run_main("bisect", "--git", str(repo), "--good", commits[0][:8], "--bad", "HEAD", "--build", "sh build.sh",
                 "--case", "3.1", "--case", "1.1.1", "--server-cmd", server,
                 "--cache", str(tmp / "cache"), "--out", str(tmp / "out"))
    return r.code, r.out, r.err


@pytest.mark.usefixtures("importable")
class TestGitBisect:
    def test_finds_the_commit_that_switched_the_mutant_on(self, tmp_path: Path) -> None:
        commits = make_repo(tmp_path / "repo")
        code, out, err = bisect(tmp_path / "repo", commits, tmp_path)
        assert code == 0, (out, err)
        assert f"first differing version: {commits[3]} (the one before it, {commits[2]}, matches --good)" in out
        assert re.search(r"run 1: \w+ +good \(reference\): 1\.1\.1 OK/OK, 3\.1 OK/OK", out), out
        assert "differs: 3.1 FAILED/" in out
        runs = int(re.search(r"(\d+) runs for 5 candidates", out).group(1))  # type: ignore[union-attr]
        assert runs <= 4.33  # log2(5) + 2
        assert (tmp_path / "out" / "index.html").exists()
        log = tmp_path / "cache" / "git" / "builds.log"
        assert log.read_text().count("built") == runs  # one build per commit tried
        again = bisect(tmp_path / "repo", commits, tmp_path)  # the checkouts are reused: no build runs again
        assert again[0] == 0 and log.read_text().count("built") == runs and again[1].count("run ") == runs

    def test_a_client_bisect_finds_the_same_commit(self, tmp_path: Path) -> None:
        commits = make_repo(tmp_path / "repo")
        r = run_main("bisect", "--git", str(tmp_path / "repo"), "--good", commits[0], "--bad", commits[-1],
                     "--case", "20.1.1", "--client-cmd", "{python} {checkout}/client.py {url} {agent}",
                     "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
        assert r.code == 0, (r.out, r.err)
        assert "good (reference): 20.1.1 OK/OK" in r.out and "differs: 20.1.1 FAILED/" in r.out
        assert f"first differing version: {commits[3]} (the one before it, {commits[2]}, matches --good)" in r.out

    def test_a_commit_that_does_not_build_is_skipped_and_searched_around(self, tmp_path: Path) -> None:
        commits = make_repo(tmp_path / "repo", broken_build_at=2)
        code, out, err = bisect(tmp_path / "repo", commits, tmp_path)
        assert code == 1, (out, err)
        assert f"run 2: {commits[2][:12]} skip: --build at {commits[2][:12]} failed (status 1): build.sh: missing header" in out
        assert (f"the first differing version is one of the skipped {commits[2]} or {commits[3]} "
                f"(after {commits[1]})") in out
        assert "1 skipped" in out

    def test_a_good_commit_whose_server_never_listens_is_exit_3(self, tmp_path: Path) -> None:
        commits = make_repo(tmp_path / "repo")
        code, out, err = bisect(tmp_path / "repo", commits, tmp_path, server="{python} -c pass {port}")
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 3 and len(lines) == 1, err
        assert "cannot be tried" in lines[0] and "the server did not start" in lines[0]

    def test_good_must_be_an_ancestor_of_bad(self, tmp_path: Path) -> None:
        commits = make_repo(tmp_path / "repo")
        r = run_main("bisect", "--git", str(tmp_path / "repo"), "--good", commits[3], "--bad", commits[1],
                     "--case", "3.1", "--server-cmd", "x {port}", "--cache", str(tmp_path / "c"))
        assert r.code == 2 and "must be an older commit on the first-parent line" in r.err


def test_many_cases_are_counted_and_differences_capped() -> None:
    from conformance.bisection.command import _Printer
    from conformance.bisection.search import Trial

    good = tuple((f"1.{i}", "OK", "OK") for i in range(10))
    bad = tuple((cid, "FAILED", "OK") if i < 8 else (cid, b, c) for i, (cid, b, c) in enumerate(good))
    p = _Printer(["a", "b"])
    assert p.line(Trial("a", good)).endswith("good (reference): 10 cases: 10 OK/OK")
    line = p.line(Trial("b", bad))
    assert "differs: 1.0 FAILED/OK (was OK/OK)" in line and line.endswith("and 2 more")
