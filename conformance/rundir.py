"""The report directory as the CLI prepares it: checked before a run, one agent's run at a time.

- `--out DIR` must be a directory the suite can write (checked before any case runs);
- a fresh run replaces the earlier results of its agent in DIR (other agents stay, side by side);
- `DIR/conformance-run.json` records, per agent, what the run was (target kind and value, the
  planned case IDs), so `--resume DIR` continues the same run instead of guessing;
- an index.json that is not Autobahn's shape is a bad file (exit 2) naming the file and line.
"""

from __future__ import annotations

__all__ = ["RUN_FILE", "RunRecord", "check_writable_dir", "check_writable_file", "forget_agent",
           "read_index", "read_runs", "record_run"]

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from conformance.errors import CaseFileError, UsageError

RUN_FILE = "conformance-run.json"


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What one agent's run in a directory was: `kind` server/impl/client/reference, its `value`
    (URL, library or command) and the planned case IDs."""

    agent: str
    kind: str
    value: str
    cases: tuple[str, ...]

    def describe(self) -> str:
        return {"server": f"--server {self.value}", "impl": f"--impl {self.value}",
                "client": f"--client {self.value!r}"}.get(self.kind, "the embedded reference server")


def check_writable_dir(path: str, flag: str) -> None:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} {path}: is a file, not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / f".write-test-{os.getpid()}"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write there: {exc.strerror or exc}") from None


def check_writable_file(path: str, flag: str) -> None:
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag} {path}: is a directory, not a file")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise UsageError(f"{flag} {path}: cannot write there")


def read_index(directory: str) -> dict[str, dict[str, Any]]:
    """DIR/index.json ({} when there is none); anything but Autobahn's shape is a CaseFileError."""
    f = Path(directory) / "index.json"
    try:
        text = f.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseFileError(str(f), None, None, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CaseFileError(str(f), getattr(exc, "lineno", None), None,
                            f"not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) and all(isinstance(e, dict) for e in v.values())
                                             for v in data.values()):
        raise CaseFileError(str(f), 1, None, "not an index.json of this suite or Autobahn "
                            "({agent: {case id: {behavior, behaviorClose, ...}}})")
    return data


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def forget_agent(directory: str, agent: str) -> int:
    """Remove `agent`'s earlier results from DIR (index entries and case files); returns how many."""
    index = read_index(directory)
    old = index.pop(agent, {})
    for entry in old.values():
        name = str(entry.get("reportfile", ""))
        for f in (name, name.removesuffix(".json") + ".html"):
            if f and "/" not in f and f != "index.json":
                (Path(directory) / f).unlink(missing_ok=True)
    if old:
        _write_json(Path(directory) / "index.json", index)
    return len(old)


def read_runs(directory: str) -> dict[str, RunRecord]:
    f = Path(directory) / RUN_FILE
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CaseFileError(str(f), getattr(exc, "lineno", None), None, f"cannot read the run record: {exc}") from None
    try:
        return {a: RunRecord(a, str(r["kind"]), str(r["value"]), tuple(map(str, r["cases"])))
                for a, r in data.items()}
    except (AttributeError, KeyError, TypeError):
        raise CaseFileError(str(f), None, None, "not a run record of this suite") from None


def record_run(directory: str, rec: RunRecord) -> None:
    runs = {a: dataclasses.asdict(r) for a, r in read_runs(directory).items()}
    runs[rec.agent] = {"kind": rec.kind, "value": rec.value, "cases": list(rec.cases)}
    for r in runs.values():
        r.pop("agent", None)
    _write_json(Path(directory) / RUN_FILE, runs)
