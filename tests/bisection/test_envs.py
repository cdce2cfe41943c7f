"""Candidates made ready: placeholders filled as shell words, git revisions and their errors,
worktrees built once even when two bisects share a cache."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path

import pytest

from conformance.bisection.envs import Prepared, fill, git_candidate, git_revisions
from conformance.errors import UsageError
from tests.bisection.test_command import make_repo


def test_fill_quotes_each_value_as_one_word() -> None:
    out = fill("{python} -m srv --port {port} --dir {env}", {"python": "/opt/my env/bin/python", "env": "a'b"})
    assert shlex.split(out) == ["/opt/my env/bin/python", "-m", "srv", "--port", "{port}", "--dir", "a'b"]


class TestGitRevisions:
    def test_oldest_first_both_ends_included(self, tmp_path: Path) -> None:
        commits = make_repo(tmp_path / "repo")
        assert git_revisions(str(tmp_path / "repo"), commits[1][:7], "HEAD") == commits[1:]

    @pytest.mark.parametrize(("good", "bad", "says"), [
        ("nope", "HEAD", "--good nope: no such commit"), ("HEAD~4", "nope", "--bad nope: no such commit"),
        ("HEAD", "HEAD~2", "must be an older commit"), ("HEAD", "HEAD", "must be an older commit")])
    def test_bad_revisions(self, tmp_path: Path, good: str, bad: str, says: str) -> None:
        make_repo(tmp_path / "repo")
        with pytest.raises(UsageError, match=says):
            git_revisions(str(tmp_path / "repo"), good, bad)

    def test_not_a_repository(self, tmp_path: Path) -> None:
        with pytest.raises(UsageError, match="not a git repository"):
            git_revisions(str(tmp_path), "a", "b")


def test_two_bisects_sharing_a_cache_build_a_commit_once(tmp_path: Path) -> None:
    commits = make_repo(tmp_path / "repo")
    build = "sleep 0.3; echo built >> ../builds.log; echo ok > built.txt"
    got: list[Prepared] = []
    threads = [threading.Thread(target=lambda: got.append(
        git_candidate(tmp_path / "cache", str(tmp_path / "repo"), commits[2], build))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 2 and got[0] == got[1]
    assert (tmp_path / "cache" / "git" / "builds.log").read_text() == "built\n"
    assert (Path(str(got[0].cwd)) / "built.txt").read_text() == "ok\n"
