"""`--spec FILE`: Autobahn|Testsuite's own fuzzingclient.json / fuzzingserver.json.

A project moving from Autobahn keeps its config. Read here: `servers` (each with `agent` and
`url`; fuzzingclient.json, for testing servers), `url` (fuzzingserver.json, where the suite
listens for clients), `outdir`, `cases`, `exclude-cases` and `exclude-agent-cases` (agent pattern
-> case patterns). Autobahn's other keys (`options`, per-server `options`, ...) change nothing
here and are named in one note on stderr. Case patterns are Autobahn's: shell globs over IDs.
"""

from __future__ import annotations

__all__ = ["AutobahnSpec", "SpecServer", "load_spec"]

import dataclasses
import fnmatch
import json
from pathlib import Path
from typing import Any

from conformance.errors import CaseFileError

_KNOWN = {"servers", "url", "outdir", "cases", "exclude-cases", "exclude-agent-cases"}


@dataclasses.dataclass(frozen=True)
class SpecServer:
    agent: str
    url: str


@dataclasses.dataclass(frozen=True)
class AutobahnSpec:
    path: str
    servers: tuple[SpecServer, ...] = ()
    url: str | None = None
    outdir: str | None = None
    cases: tuple[str, ...] = ()
    exclude_cases: tuple[str, ...] = ()
    exclude_agent_cases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ignored: tuple[str, ...] = ()

    def excluded_for(self, agent: str) -> list[str]:
        """exclude-cases plus the exclude-agent-cases whose agent pattern matches `agent`."""
        extra = [c for pat, cases in self.exclude_agent_cases if fnmatch.fnmatchcase(agent, pat) for c in cases]
        return [*self.exclude_cases, *extra]

    def case_globs(self) -> list[str]:
        """`cases`, with Autobahn's "*" (everything) as no restriction."""
        return [] if "*" in self.cases else list(self.cases)


def _strings(path: str, data: dict[str, Any], key: str) -> tuple[str, ...]:
    v = data.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise CaseFileError(path, None, key, "must be a list of case patterns such as \"6.*\"")
    return tuple(v)


def _servers(path: str, v: Any) -> tuple[SpecServer, ...]:
    if not isinstance(v, list):
        raise CaseFileError(path, None, "servers", "must be a list of {agent, url}")
    out = []
    for i, s in enumerate(v):
        if not isinstance(s, dict) or not isinstance(s.get("url"), str):
            raise CaseFileError(path, None, f"servers[{i}]", "each server is {\"agent\": NAME, \"url\": \"ws://...\"}")
        out.append(SpecServer(str(s.get("agent") or f"server{i + 1}"), s["url"]))
    return tuple(out)


def _agent_cases(path: str, v: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(v, dict):
        raise CaseFileError(path, None, "exclude-agent-cases", "must map agent patterns to lists of case patterns")
    out = []
    for agent, cases in v.items():
        if not isinstance(cases, list) or not all(isinstance(c, str) for c in cases):
            raise CaseFileError(path, None, f"exclude-agent-cases.{agent}", "must be a list of case patterns")
        out.append((str(agent), tuple(cases)))
    return tuple(out)


def load_spec(path: str) -> AutobahnSpec:
    """Read and check an Autobahn spec; every error names the file (and the line for bad JSON)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CaseFileError(path, None, None, f"cannot read the spec: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CaseFileError(path, None, None, "not UTF-8 text") from None
    except ValueError as exc:
        raise CaseFileError(path, getattr(exc, "lineno", None), None, f"not JSON: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(data, dict):
        raise CaseFileError(path, 1, None, "an Autobahn spec is a JSON object (fuzzingclient.json / fuzzingserver.json)")
    url = data.get("url")
    outdir = data.get("outdir")
    if url is not None and not isinstance(url, str):
        raise CaseFileError(path, None, "url", "must be a ws:// URL")
    if outdir is not None and not isinstance(outdir, str):
        raise CaseFileError(path, None, "outdir", "must be a directory name")
    return AutobahnSpec(
        path=path, servers=_servers(path, data["servers"]) if "servers" in data else (), url=url, outdir=outdir,
        cases=_strings(path, data, "cases"), exclude_cases=_strings(path, data, "exclude-cases"),
        exclude_agent_cases=_agent_cases(path, data.get("exclude-agent-cases", {})),
        ignored=tuple(sorted(k for k in data if k not in _KNOWN)))
