"""The releases a bisect walks: listed by the registry's own client, ordered, cut to V1..V2.

pip's index is read with `pip index versions --json --pre PACKAGE` (the suite's own pip, so the
machine's index settings, mirrors and find-links apply); npm's with `npm view PACKAGE versions
--json`. Python versions are ordered by PEP 440 (packaging.version), npm's by semver (a `-tag`
is a pre-release). Pre-releases between V1 and V2 are left out unless asked for.
"""

from __future__ import annotations

__all__ = ["Release", "between", "npm_releases", "pip_releases", "semver_key"]

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from packaging.version import InvalidVersion, Version

from conformance.errors import UsageError

_LIST_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class Release:
    """A version as the registry spells it, with its sort key and whether it is a pre-release."""

    text: str
    key: Any
    pre: bool


def pip_releases(package: str) -> list[Release]:
    """Every release of `package` on the configured index, oldest first (UsageError when none)."""
    out = _listing([sys.executable, "-m", "pip", "index", "versions", "--json", "--pre", package],
                   f"--pip {package}")
    try:
        texts = json.loads(out)["versions"]
    except (ValueError, KeyError, TypeError):
        raise UsageError(f"--pip {package}: pip's listing is not the JSON expected: {out[:120]!r}") from None
    return _ordered(_pep440(str(t)) for t in texts)


def npm_releases(package: str) -> list[Release]:
    """Every version of `package` on the npm registry, oldest first (UsageError when none)."""
    if shutil.which("npm") is None:
        raise UsageError("--npm needs npm on PATH (Debian's npm: make node)")
    out = _listing(["npm", "view", package, "versions", "--json"], f"--npm {package}")
    try:
        texts = json.loads(out)
    except ValueError:
        raise UsageError(f"--npm {package}: npm's listing is not JSON: {out[:120]!r}") from None
    texts = [texts] if isinstance(texts, str) else texts  # one version: npm prints a string
    if not isinstance(texts, list):
        raise UsageError(f"--npm {package}: npm's listing is not a list of versions")
    return _ordered(_semver(str(t)) for t in texts)


def _listing(argv: list[str], flag: str) -> str:
    """The client's standard output; UsageError with its last error line when it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_LIST_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise UsageError(f"{flag}: the registry did not answer within {_LIST_TIMEOUT:g} s") from None
    except OSError as exc:
        raise UsageError(f"{flag}: cannot run {argv[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise UsageError(f"{flag}: the registry lists no versions (unknown package, or the registry "
                         f"cannot be reached): {_error_line(done.stderr)}")
    return done.stdout


def _error_line(stderr: str) -> str:
    """The client's first line that says what went wrong (npm's code line and log pointer skipped)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() and " code " not in ln and "complete log" not in ln]
    return (errors or lines or ["no message"])[0]


def _pep440(text: str) -> Release | None:
    try:
        v = Version(text)
    except InvalidVersion:
        return None  # a legacy version string pip itself would not install by ==
    return Release(text, v, v.is_prerelease)


_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def semver_key(text: str) -> tuple[Any, ...] | None:
    """A sort key by semver precedence (2.0.0-beta.2 < 2.0.0), or None for a non-semver string."""
    m = _SEMVER.match(text)
    if m is None:
        return None
    core = tuple(int(g) for g in m.groups()[:3])
    if m.group(4) is None:
        return (*core, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in m.group(4).split("."))
    return (*core, 0, ids)


def _semver(text: str) -> Release | None:
    key = semver_key(text)
    return None if key is None else Release(text, key, key[3] == 0)


def _ordered(releases: Any) -> list[Release]:
    return sorted((r for r in releases if r is not None), key=lambda r: r.key)


def _find(releases: Sequence[Release], flag: str, text: str, what: str) -> Release:
    """The release spelled `text`, or else the one equal to it by version (13 is 13.0 for pip)."""
    for r in releases:
        if r.text == text:
            return r
    like = _pep440(text) if releases and isinstance(releases[0].key, Version) else _semver(text)
    for r in releases:
        if like is not None and r.key == like.key:
            return r
    near = ", ".join(r.text for r in releases[-5:])
    raise UsageError(f"{flag} {text}: not a version of {what} (its latest: {near or 'none'})")


def between(releases: Sequence[Release], good: str, bad: str, *, pre: bool = False,
            what: str = "the package") -> list[str]:
    """The versions from `good` to `bad`, both included, oldest first; pre-releases between them
    only with `pre`. UsageError when either is not listed or `good` is not older than `bad`."""
    lo, hi = _find(releases, "--good", good, what), _find(releases, "--bad", bad, what)
    if not lo.key < hi.key:
        raise UsageError(f"--good {good} must be older than --bad {bad}")
    return [r.text for r in releases if lo.key <= r.key <= hi.key and (pre or not r.pre or r in (lo, hi))]
