"""Candidates made ready to run: a venv or an npm prefix per release, a built checkout per commit.

Everything lives under the cache directory and is reused by the next bisect: a venv per release
(`pip install PACKAGE==V` through the suite's own pip, so the machine's index settings apply), an
npm prefix per release (`npm install --prefix DIR PACKAGE@V`), a git worktree per commit with the
`--build` command run in it. A candidate that cannot be made ready raises `CandidateError`: the
search skips it. What a command sees of a candidate is `Prepared`: the values of its placeholders,
its environment variables and its working directory.
"""

from __future__ import annotations

__all__ = [
    "CandidateError",
    "Prepared",
    "fill",
    "git_candidate",
    "git_revisions",
    "npm_candidate",
    "pip_candidate",
]

import contextlib
import dataclasses
import fcntl
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from conformance.errors import ConformanceError, UsageError

_INSTALL_TIMEOUT = 900.0
_DONE = ".conformance-ready"  # written once a candidate is installed or built: reused from then on


class CandidateError(ConformanceError):
    """A candidate that cannot be installed, built or started: the search skips it."""


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A candidate ready to start: placeholder values, environment and working directory."""

    values: Mapping[str, str]
    env: Mapping[str, str]
    cwd: str | None = None


def fill(template: str, values: Mapping[str, str]) -> str:
    """`template` with each `{name}` of `values` replaced by the value, quoted as one shell word."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", shlex.quote(value))
    return template


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "x"


def _prepend_path(env: dict[str, str], var: str, entry: Path) -> None:
    env[var] = os.pathsep.join(p for p in (str(entry), env.get(var, "")) if p)


def _run(argv: list[str], what: str, cwd: Path | None = None, shell: bool = False,
         env: Mapping[str, str] | None = None) -> None:
    """Run an install or build step; CandidateError with its first error line when it fails."""
    try:
        done = subprocess.run(argv[0] if shell else argv, cwd=cwd, shell=shell, env=env, capture_output=True,
                              text=True, timeout=_INSTALL_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise CandidateError(f"{what} did not finish within {_INSTALL_TIMEOUT:g} s") from None
    except OSError as exc:
        raise CandidateError(f"{what}: cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr + "\n" + done.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower() and "complete log" not in ln]
        raise CandidateError(f"{what} failed (status {done.returncode}): {(errors or lines or ['no output'])[0]}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process at a time makes `path` ready: two bisects sharing a cache wait for each other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fresh(path: Path) -> bool:
    """True when `path` holds a finished candidate; otherwise it is cleared for a new attempt."""
    if (path / _DONE).exists():
        return True
    if path.exists():
        shutil.rmtree(path)
    return False


def pip_candidate(cache: Path, package: str, version: str) -> Prepared:
    """A venv under `cache` with `package==version` (made once, reused)."""
    venv = cache / "pip" / f"{_safe(package)}-{_safe(version)}"
    python = venv / "bin" / "python"
    with _locked(venv):
        if not _fresh(venv):
            _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], f"creating the venv for {version}")
            _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                  "--disable-pip-version-check", f"{package}=={version}"], f"pip install {package}=={version}")
            (venv / _DONE).touch()
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = str(venv)
    env.pop("PYTHONHOME", None)
    _prepend_path(env, "PATH", venv / "bin")
    return Prepared({"python": str(python), "env": str(venv), "version": version}, env)


def npm_candidate(cache: Path, package: str, version: str) -> Prepared:
    """An npm prefix under `cache` with `package@version` in its node_modules (made once, reused)."""
    prefix = cache / "npm" / f"{_safe(package)}-{_safe(version)}"
    with _locked(prefix):
        if not _fresh(prefix):
            prefix.mkdir(parents=True)
            _run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
                  f"{package}@{version}"], f"npm install {package}@{version}")
            (prefix / _DONE).touch()
    env = dict(os.environ)
    _prepend_path(env, "NODE_PATH", prefix / "node_modules")
    _prepend_path(env, "PATH", prefix / "node_modules" / ".bin")
    return Prepared({"python": sys.executable, "env": str(prefix), "version": version}, env)


# -- git ----------------------------------------------------------------------------------------------

def _git(repo: str, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, timeout=120, check=False)
    except OSError as exc:
        raise UsageError(f"--git needs git on PATH: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, args, done.stdout, done.stderr)
    return done.stdout.strip()


def _commit(repo: str, flag: str, rev: str) -> str:
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError:
        raise UsageError(f"{flag} {rev}: no such commit in {repo}") from None


def git_revisions(repo: str, good: str, bad: str) -> list[str]:
    """The commits from `good` to `bad` along bad's first-parent line, oldest first, both included."""
    if not Path(repo).is_dir():
        raise UsageError(f"--git {repo}: no such directory")
    try:
        _git(repo, "rev-parse", "--git-dir")
    except subprocess.CalledProcessError:
        raise UsageError(f"--git {repo}: not a git repository") from None
    g, b = _commit(repo, "--good", good), _commit(repo, "--bad", bad)
    line = _git(repo, "rev-list", "--reverse", "--first-parent", f"{g}..{b}").split()
    first_parent = _git(repo, "rev-parse", f"{line[0]}^") if line else ""
    if g == b or first_parent != g:
        raise UsageError(f"--good {good} must be an older commit on the first-parent line of --bad {bad}")
    return [g, *line]


def _add_worktree(repo: str, where: Path, commit: str) -> None:
    with contextlib.suppress(subprocess.CalledProcessError):
        _git(repo, "worktree", "prune")  # a checkout deleted with the cache is forgotten
    try:
        _git(repo, "worktree", "add", "--detach", "--force", str(where.resolve()), commit)
    except subprocess.CalledProcessError as exc:
        raise CandidateError(f"git worktree add failed: {str(exc.stderr).strip()[:200]}") from None


def git_candidate(cache: Path, repo: str, commit: str, build: str | None) -> Prepared:
    """A worktree of `repo` at `commit` under `cache`, with `build` run in it (made once, reused)."""
    where = cache / "git" / f"{_safe(Path(repo).resolve().name)}-{commit[:12]}"
    values = {"checkout": str(where), "rev": commit, "version": commit[:12], "python": sys.executable}
    with _locked(where):
        if not _fresh(where):
            _add_worktree(repo, where, commit)
            if build:
                _run([fill(build, values)], f"--build at {commit[:12]}", cwd=where, shell=True)
            (where / _DONE).touch()
    return Prepared(values, dict(os.environ), str(where))
