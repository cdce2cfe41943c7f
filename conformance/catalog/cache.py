"""The parsed catalogue, kept between runs: parsing the 21 case files takes about 0.1 s, reading
back the cases parsed before about 0.015 s, and every `conformance run` starts with it.

An entry is found by a SHA-256 over what the cases are made of: the path and the octets of each
case file, and the octets of every module of this package (the loader, the case model, the rules
it checks against). Any edit to a case file or to the code gives another key, so an entry is never
stale; the newest few are kept. The entries live in `$CONFORMANCE_CACHE`, else
`$XDG_CACHE_HOME/conformance`, else `~/.cache/conformance`; `CONFORMANCE_CACHE=off` turns the cache
off. A directory that cannot be written, or an entry that cannot be read back, only costs the
parse. `conformance cases check` always parses (and then keeps what it parsed).
"""

from __future__ import annotations

__all__ = ["cache_dir", "get", "put"]

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parents[1]  # conformance/
_KEEP = 8  # entries kept (one per state of the case files and the code)
_code_digest: bytes | None = None


def cache_dir() -> Path | None:
    """Where entries live, or None when the cache is off."""
    env = os.environ.get("CONFORMANCE_CACHE")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "no") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "conformance"


def _code() -> bytes:
    """A digest of every module of the package, once a process."""
    global _code_digest
    if _code_digest is None:
        h = hashlib.sha256(sys.version.encode())
        for path in sorted(_PACKAGE.rglob("*.py")):
            h.update(str(path.relative_to(_PACKAGE)).encode() + b"\0")
            h.update(path.read_bytes())
        _code_digest = h.digest()
    return _code_digest


def _key(files: Sequence[Path]) -> str:
    h = hashlib.sha256(_code())
    for path in files:
        h.update(str(path.resolve()).encode() + b"\0")
        data = path.read_bytes()
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def _entry(files: Sequence[Path]) -> Path | None:
    where = cache_dir()
    if where is None:
        return None
    try:
        return where / f"catalogue-{_key(files)}.pickle"
    except OSError:
        return None


def get(files: Sequence[Path]) -> Any:
    """The catalogue parsed before from exactly these files and this code, or None."""
    entry = _entry(files)
    if entry is None:
        return None
    try:
        with entry.open("rb") as f:
            return pickle.load(f)
    except Exception:  # missing, cut short, from an interrupted write: parse instead
        return None


def put(files: Sequence[Path], catalogue: Any) -> None:
    """Keep `catalogue` for the next run; drop the oldest entries beyond the newest few."""
    entry = _entry(files)
    if entry is None:
        return
    with contextlib.suppress(Exception):  # a cache that cannot be written never fails a run
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".catalogue-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(catalogue, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, entry)  # whole or not at all, whoever else writes at the same time
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        kept = sorted(entry.parent.glob("catalogue-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[_KEEP:]:
            old.unlink()
