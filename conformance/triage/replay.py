"""`conformance replay REPORT.json --server URL`: the octets of a recorded case run, sent again
to the target; its answer then and now side by side, and both verdicts. `--export FILE` makes
the recording an ordinary case file (through the one dumper) for a regression test.

The recording and the replay itself are runner/replay.py; this module reads the report, judges,
shows and exports.
"""

from __future__ import annotations

__all__ = ["ReplayOutcome", "StepCheck", "export_case", "load_case_report", "recorded_options", "render_outcome", "replay_report",
           "step_checks", "write_export"]

import asyncio
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.catalog.dump import write_cases
from conformance.catalog.load import load_catalogue
from conformance.catalog.model import Case, Checkpoint, SendClose, SendRaw, Step, WaitMessages
from conformance.catalog.payload import PayloadSpec
from conformance.errors import CaseFileError, TargetError
from conformance.report.align import Row, WireItem, align, first_difference, wire_items
from conformance.report.model import CaseResult
from conformance.runner.regen import REGEN, compressors, differences
from conformance.runner.replay import (
    Chunk,
    NotReplayable,
    Recording,
    close_marks,
    recording_from_wirelog,
    regen_facts,
    replay_case,
    replay_recording,
)
from conformance.runner.result import make_result, now_stamp
from conformance.runner.trace import RunOptions
from conformance.targets.tcp import ServerTarget
from conformance.wire.frames import Opcode, apply_mask, parse_header

_NOT_A_REPORT = ("not a per-case report of `conformance run --out DIR` "
                 "(DIR/<agent>_case_<id>.json, with id, agent and wirelog)")


@dataclasses.dataclass
class ReplayOutcome:
    case: Case
    recording: Recording
    old: CaseResult
    new: CaseResult
    rows: list[Row]
    first: int | None  # the first row where then and now differ
    steps: list[StepCheck] = dataclasses.field(default_factory=list)  # the steps taken again from their seeds

    @property
    def same_octets(self) -> bool:
        """Every step taken again from its seed wrote the octets it wrote then."""
        return all(c.same_octets for c in self.steps)


@dataclasses.dataclass(frozen=True)
class StepCheck:
    """A step the log does not hold, taken again: its end markers then and now (runner/regen.py)."""

    step: int
    key: str
    then: dict[str, Any]
    now: dict[str, Any] | None  # None: the replay did not reach it
    compressors_then: str

    @property
    def same_octets(self) -> bool:
        return self.now is not None and (self.then.get("sent"), self.then.get("sent_sha256")) == (
            self.now.get("sent"), self.now.get("sent_sha256"))

    def line(self) -> str:
        head = f"step {self.step + 1} ({self.key}), made again from its seed:"
        if self.now is None:
            return f"{head} not reached now (the target closed before it)"
        diffs = differences(self.then, self.now)
        echoes = f" and got the same {self.now.get('echoed')} echoes back" if self.then.get("echoed") else ""
        text = f"{head} {'; '.join(diffs)}" if diffs else (
            f"{head} wrote the same {self.now.get('sent')} octets as then (SHA-256){echoes}")
        here = compressors()
        if self.compressors_then and self.compressors_then != here and not self.same_octets:
            text += f" (compressed with {self.compressors_then} then, {here} now: the same octets are not guaranteed)"
        return text


def load_case_report(path: str | os.PathLike[str]) -> CaseResult:
    """A per-case JSON report; CaseFileError (exit 2, naming the file) for anything else."""
    f = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CaseFileError(f, None, None, f"cannot read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CaseFileError(f, getattr(exc, "lineno", None), None, f"not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("agent"), str):
        raise CaseFileError(f, None, None, _NOT_A_REPORT)
    try:
        result = CaseResult.from_json(data)
    except TypeError:
        raise CaseFileError(f, None, None, _NOT_A_REPORT) from None
    if not result.isServer:
        raise CaseFileError(f, None, None, "a client run: replay sends what the suite sent to a server "
                            "(there is no --client replay; run the case again with `conformance run --client`)")
    if not isinstance(result.wirelog, list) or not result.wirelog:
        raise CaseFileError(f, None, "wirelog", "the report has no wire log (the case never connected), "
                            "so there is nothing to replay")
    return result


def _case(path: str, case_id: str, cases: Sequence[Case]) -> Case:
    for case in cases:
        if case.id == case_id:
            return case
    raise CaseFileError(path, None, "id", f"case {case_id} is not in the catalogue "
                        "(a case of your own: add --cases-dir DIR)")


def recorded_options(old: CaseResult, opts: RunOptions, given: frozenset[str] = frozenset()) -> RunOptions:
    """`opts` with the bounds the recorded run gave the case (`measurements.limits`: its budget,
    --wait and --settle), except those named in `given` (set on the replay's command line).
    A report written before the bounds were recorded keeps `opts` as they are."""
    limits = (old.measurements or {}).get("limits")
    if not isinstance(limits, dict):
        return opts
    def bound(name: str, default: float) -> float:
        value = limits.get(name)
        return float(value) if isinstance(value, (int, float)) and value > 0 else default

    budget = bound("budget", 0.0)
    return dataclasses.replace(
        opts, timeout=budget or opts.timeout, timeout_cap=budget or opts.timeout_cap,
        wait=opts.wait if "wait" in given else bound("wait", opts.wait),
        settle=opts.settle if "settle" in given else bound("settle", opts.settle))


def replay_report(path: str | os.PathLike[str], target: ServerTarget, opts: RunOptions,
                  cases: Sequence[Case] | None = None, cases_dirs: Sequence[str] = (),
                  given: frozenset[str] = frozenset()) -> ReplayOutcome:
    """Replay the case run recorded in `path` against `target` and judge the answer (by the case
    of that ID in `cases`, default: the catalogue with `cases_dirs`), under the bounds the run
    recorded for it unless `given` names them (see `recorded_options`)."""
    old = load_case_report(path)
    if cases is None:
        cases = load_catalogue(None, extra=list(cases_dirs)).cases
    case = _case(str(path), old.id, cases)
    try:
        rec = recording_from_wirelog(old.wirelog, case)
    except NotReplayable as exc:
        raise CaseFileError(str(path), None, "wirelog", str(exc)) from None
    opts = dataclasses.replace(recorded_options(old, opts, given), agent=old.agent)
    started = now_stamp()
    trace = asyncio.run(replay_recording(case, rec, target, opts))
    if not trace.connected:
        raise TargetError(trace.handshake_note or f"{target.url}: cannot connect")
    new = make_result(case, trace, old.agent, started)
    rows = align(wire_items(old.wirelog), wire_items(new.wirelog))
    return ReplayOutcome(case, rec, old, new, rows, first_difference(rows), step_checks(old.wirelog, new.wirelog))


def step_checks(then_log: Any, now_log: Any) -> list[StepCheck]:
    """The steps of `then_log` made again from their seeds, beside what they did in `now_log`
    (a message whose writes the log held whole was replayed as recorded: not among them)."""
    marks = {int(e[REGEN]["step"]): e[REGEN] for e in then_log if isinstance(e, dict) and isinstance(e.get(REGEN), dict)}
    then, now = regen_facts(then_log), regen_facts(now_log)
    return [StepCheck(i, str(marks[i].get("key")), fact, now.get(i), str(marks[i].get("compressors", "")))
            for i, fact in sorted(then.items()) if i in marks and (i in now or marks[i].get("key") != "send_message")]


# -- showing it ---------------------------------------------------------------------------------

_COL = 56


def render_outcome(o: ReplayOutcome) -> str:
    """Then and now side by side, the first difference marked, then both verdicts."""
    lines = [f"case {o.old.id} (agent {o.old.agent}): {_verdict(o.old)} then, {_verdict(o.new)} now",
             f"   {'then (' + (o.old.started or 'recorded') + ')':<{_COL}}  now"]
    for i, row in enumerate(o.rows):
        mark = ">> " if i == o.first else ("!  " if row.differs else "   ")
        lines.append(f"{mark}{_cell(row.old):<{_COL}}  {_cell(row.new)}"
                     + ("   << first difference" if i == o.first else ""))
    if o.first is None:
        lines.append("the target answered frame for frame as it did then")
    lines += [c.line() for c in o.steps]
    for when, r in (("then", o.old), ("now", o.new)):
        rule = f" [{r.rule}, {r.section}]" if r.rule else ""
        lines.append(f"{when}: {r.behavior} / {r.behaviorClose}{rule}: {r.result} {r.resultClose}".rstrip())
    return "\n".join(lines)


def _verdict(r: CaseResult) -> str:
    return r.behavior if r.behavior == r.behaviorClose else f"{r.behavior}/{r.behaviorClose}"


def _cell(item: WireItem | None) -> str:
    if item is None:
        return "-"
    text = f"{item.dir} {item.text}"
    return text if len(text) <= _COL else text[: _COL - 3] + "..."


# -- --export -----------------------------------------------------------------------------------


def export_case(o: ReplayOutcome) -> Case:
    """The recording as an ordinary case: the recorded request as a raw handshake, the suite's
    writes as `send_raw` steps in their pieces, `wait_messages` where the target had answered
    before the next write, `checkpoint` where the run asked the peer; the expectations are the
    case's. A write that is one close frame starting the closing handshake becomes `send_close`
    (so the runner knows it closed; only its masking key then differs). The runner adds the
    final close and the synchronisation before it itself, as for any case."""
    base = replay_case(o.case, o.recording)
    return dataclasses.replace(
        base, id=f"91.{o.case.id}", group="91", role="server",
        title=f"Replay of {o.old.agent} case {o.case.id}: {o.case.title}",
        description=(f"The octets the suite sent in case {o.case.id} to {o.old.agent} ({o.old.started or 'recorded'}), "
                     f"as `conformance replay --export` wrote them. {o.case.description}").strip(),
        steps=tuple(_export_steps(o.recording.chunks, close_marks(o.case.steps), o.case.steps)))


def _export_steps(chunks: Sequence[Chunk], marks: list[bool], case_steps: Sequence[Step]) -> list[Step]:
    steps: list[Step] = []
    messages = 0
    for c in chunks:
        if c.kind == "regen":
            steps.append(case_steps[c.step])  # the step itself: it is data, its octets come from it
            continue
        if c.kind in ("sync", "settle"):
            if c.label.startswith("checkpoint "):
                steps.append(Checkpoint(c.label.removeprefix("checkpoint ")))
            continue
        if c.kind == "close":
            continue  # the runner's own close at the end of the case
        if c.messages > messages:
            steps.append(WaitMessages(c.messages))
            messages = c.messages
        steps.append(_write(c, marks))
    return steps


def _write(c: Chunk, marks: list[bool]) -> Step:
    h = parse_header(c.data)
    whole = h is not None and h.header_len + h.length == len(c.data)
    if whole and h is not None and h.opcode is Opcode.CLOSE:
        starts = marks.pop(0) if marks else True
        if starts and not c.chop:
            payload = c.data[h.header_len:]
            payload = apply_mask(payload, h.mask) if h.mask is not None else payload
            return SendClose(payload=PayloadSpec("literal", payload))
    return SendRaw(PayloadSpec("literal", c.data), chop=c.chop, delay=c.delay)


def write_export(o: ReplayOutcome, path: str | os.PathLike[str]) -> Case:
    case = export_case(o)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_cases(Path(path), [case], "91", "Replayed recordings",
                f"Written by `conformance replay --export` from case {o.case.id} of agent {o.old.agent}.\n"
                "Run it with `conformance run --server URL --cases-dir DIR`.")
    return case
