"""The parsed catalogue, kept between runs: parsing the 21 case files takes about 0.1 s, reading
back the cases parsed before about 0.015 s, and every `conformance run` starts with it.

An entry is found by a SHA-256 over what the cases are made of: the path and the octets of each
case file, and the octets of every module of this package (the loader, the case model, the rules
it checks against). Any edit to a case file or to the code gives another key, so an entry is never
stale; a parse is kept only if the files hashed the same before and after it (none was saved while
it ran). The newest few entries are kept, by last use. The entries live in `$CONFORMANCE_CACHE`,
else `$XDG_CACHE_HOME/conformance`, else `~/.cache/conformance`, in a directory of the user's own
that no one else may write (an entry is code to run: pickle, and the report's compiled templates);
`CONFORMANCE_CACHE=off` turns the cache off. A directory that cannot be used, or an entry that
cannot be read back, only costs the parse. `conformance cases check` always parses (and then keeps
what it parsed).
"""

from __future__ import annotations

__all__ = ["cache_dir", "code_digest", "get", "key", "put"]

import contextlib
import hashlib
import os
import pickle
import stat
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parents[1]  # conformance/
_KEEP = 8  # entries kept (one per state of the case files and the code)
_STALE_TMP = 3600.0  # seconds after which a temporary file is a leftover of a killed run
_code_digest: bytes | None = None


def cache_dir() -> Path | None:
    """The cache directory, made if missing, or None when the cache is off or the directory is
    not the user's own (another user could put code there for this process to run)."""
    env = os.environ.get("CONFORMANCE_CACHE")
    if env is not None:
        if env.strip().lower() in ("", "off", "0", "no"):
            return None
        where = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        where = Path(base) / "conformance"
    try:
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = where.stat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        return None
    return where


def code_digest() -> bytes:
    """A digest of every module of the package and of the Python running it, once a process."""
    global _code_digest
    if _code_digest is None:
        h = hashlib.sha256(sys.version.encode())
        for path in sorted(_PACKAGE.rglob("*.py")):
            h.update(os.fsencode(path.relative_to(_PACKAGE)) + b"\0")
            h.update(path.read_bytes())
        _code_digest = h.digest()
    return _code_digest


def key(files: Sequence[Path]) -> str | None:
    """The key of the catalogue these files (as they are now) and this code make, or None when
    there is no cache or a file cannot be read."""
    if cache_dir() is None:
        return None
    try:
        h = hashlib.sha256(code_digest())
        for path in files:
            h.update(os.fsencode(path.resolve()) + b"\0")
            data = path.read_bytes()
            h.update(len(data).to_bytes(8, "big"))
            h.update(data)
    except (OSError, ValueError):
        return None
    return h.hexdigest()


def _entry(k: str) -> Path | None:
    where = cache_dir()
    return None if where is None else where / f"catalogue-{k}.pickle"


def get(k: str | None) -> Any:
    """The catalogue kept under key `k`, or None."""
    entry = None if k is None else _entry(k)
    if entry is None:
        return None
    try:
        with entry.open("rb") as f:
            found = pickle.load(f)
    except Exception:  # missing, or not what this code can read: parse instead
        return None
    with contextlib.suppress(OSError):
        os.utime(entry)  # used now: the last to be dropped
    return found


def put(k: str | None, files: Sequence[Path], catalogue: Any) -> None:
    """Keep `catalogue`, parsed from `files` when they had key `k`, unless a file changed since;
    drop the entries beyond the newest few, and temporary files killed runs left."""
    entry = None if k is None else _entry(k)
    if entry is None or key(files) != k:
        return
    with contextlib.suppress(Exception):  # a cache that cannot be written never fails a run
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".catalogue-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(catalogue, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, entry)  # whole or not at all, whoever else writes at the same time
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        _prune(entry.parent)


def _prune(where: Path) -> None:
    def age(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    kept = sorted(where.glob("catalogue-*.pickle"), key=age, reverse=True)
    now = time.time()
    for old in kept[_KEEP:] + [t for t in where.glob(".catalogue-*.tmp") if now - age(t) > _STALE_TMP]:
        with contextlib.suppress(OSError):
            old.unlink()
