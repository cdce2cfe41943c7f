"""The result of one case, and the report directory it is stored in (contract in DESIGN.md).

`DIR/index.json` has Autobahn's shape: {agent: {case_id: {behavior, behaviorClose, duration,
remoteCloseCode, reportfile}}}. Each case has `DIR/<agent>_case_<id>.json` with Autobahn's
per-case fields plus ours (rfc, level, rule, section, observed, ...). Results are written when the
case ends and the index is rewritten atomically, so an interrupted run keeps what finished.
"""

from __future__ import annotations

__all__ = [
    "BEHAVIORS",
    "CLOSE_BEHAVIORS",
    "CaseResult",
    "ReportDir",
    "case_file_stem",
    "safe_agent",
]

import dataclasses
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conformance.errors import CaseFileError
from conformance.verdicts import Behavior, CloseBehavior, is_failure

# Autobahn's vocabulary, in order of severity for sorting and colours.
BEHAVIORS = tuple(b.value for b in Behavior)
CLOSE_BEHAVIORS = tuple(c.value for c in CloseBehavior)


def safe_agent(agent: str) -> str:
    """The agent name as it appears in file names: lower case, [a-z0-9_-] only."""
    return re.sub(r"[^a-z0-9_-]", "_", agent.lower()) or "agent"


def case_file_stem(agent: str, case_id: str) -> str:
    return f"{safe_agent(agent)}_case_{case_id.replace('.', '_')}"


@dataclasses.dataclass
class CaseResult:
    """Everything a report needs about one case run against one agent."""

    agent: str
    id: str
    title: str = ""
    description: str = ""
    expectation: str = ""
    group: str = ""
    rfc: list[str] = dataclasses.field(default_factory=list)
    level: str = "MUST"
    behavior: str = "FAILED"
    behaviorClose: str = "FAILED"
    result: str = ""  # one sentence: what was expected and what was observed (behavior)
    resultClose: str = ""
    rule: str | None = None  # id of the rule behind a non-OK verdict
    section: str | None = None  # its RFC section
    expected: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    expectedClose: dict[str, Any] = dataclasses.field(default_factory=dict)
    received: list[Any] = dataclasses.field(default_factory=list)
    duration: int = 0  # milliseconds, as in Autobahn
    remoteCloseCode: int | None = None
    remoteCloseReason: str | None = None
    localCloseCode: int | None = None
    localCloseReason: str | None = None
    closedByMe: bool | None = None
    droppedByMe: bool | None = None
    wasClean: bool | None = None
    httpRequest: str = ""
    httpResponse: str = ""
    wirelog: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    started: str = ""  # ISO 8601, UTC
    isServer: bool = True
    attempts: int = 1
    flaky: bool = False
    measurements: dict[str, Any] = dataclasses.field(default_factory=dict)

    def is_failure(self, strict: bool = False) -> bool:
        """Whether this result fails a run (conformance.verdicts.is_failure, at its own level)."""
        return is_failure(self.behavior, self.behaviorClose, self.level, strict)

    @property
    def reportfile(self) -> str:
        return case_file_stem(self.agent, self.id) + ".json"

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["reportfile"] = self.reportfile
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CaseResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def index_entry(self) -> dict[str, Any]:
        return {
            "behavior": self.behavior,
            "behaviorClose": self.behaviorClose,
            "duration": self.duration,
            "remoteCloseCode": self.remoteCloseCode,
            "reportfile": self.reportfile,
        }


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class ReportDir:
    """A report directory: writes each case as it ends, keeps index.json current."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._index: dict[str, dict[str, dict[str, Any]]] | None = None

    @property
    def index_path(self) -> Path:
        return self.path / "index.json"

    def load_index(self) -> dict[str, dict[str, dict[str, Any]]]:
        if self._index is None:
            try:
                index = json.loads(self.index_path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                index = {}
            except ValueError as exc:  # a truncated or hand-edited index: a bad file (exit 2), no traceback
                raise CaseFileError(str(self.index_path), getattr(exc, "lineno", None), None,
                                    f"not valid JSON ({getattr(exc, 'msg', exc)})") from None
            if not isinstance(index, dict) or not all(isinstance(v, dict) for v in index.values()):
                raise CaseFileError(str(self.index_path), 1, None, "not an index.json ({agent: {case id: {...}}})")
            self._index = index
        return self._index

    def write_case(self, result: CaseResult) -> None:
        """Store one finished case: its JSON file, then the index entry (atomically)."""
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.path / result.reportfile, json.dumps(result.to_json(), indent=1))
        with self._lock:
            index = self.load_index()
            index.setdefault(result.agent, {})[result.id] = result.index_entry()
            _atomic_write(self.index_path, json.dumps(index, indent=1, sort_keys=True))

    def finished_ids(self, agent: str) -> set[str]:
        return set(self.load_index().get(agent, {}))

    def results(self) -> Iterator[CaseResult]:
        """Every case result listed in the index, read back from its JSON file."""
        for agent, cases in self.load_index().items():
            for case_id, entry in cases.items():
                f = self.path / entry.get("reportfile", case_file_stem(agent, case_id) + ".json")
                try:
                    yield CaseResult.from_json(json.loads(f.read_text(encoding="utf-8")))
                except (OSError, ValueError):
                    continue
