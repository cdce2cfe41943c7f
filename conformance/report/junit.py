"""JUnit XML: one testsuite per agent and group, one testcase per case.

A case fails when the run would fail on it (conformance.verdicts.is_failure: a FAILED behaviour, a
FAILED, WRONG CODE or UNCLEAN close naming a MUST rule; NON-STRICT, FAILED BY CLIENT and failed
closes naming a SHOULD rule only with `strict`); UNIMPLEMENTED, INFORMATIONAL and cases the run
never reached ("not run") are reported as skipped, with the reason. The failure message names the rule and RFC section and says
what was expected and what was observed.
"""

from __future__ import annotations

__all__ = ["write_junit"]

import os
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable

from conformance.report.model import CaseResult
from conformance.report.present import expected_close_text, expected_text, observed_text
from conformance.verdicts import Behavior, CloseBehavior, is_failure, is_not_run


def _outcome(r: CaseResult, strict: bool) -> tuple[str, str]:
    """('failure'|'skipped'|'', message)."""
    where = f"[{r.rule or 'no specific rule'}; {r.section or ', '.join(r.rfc)}]"
    if r.is_failure(strict):
        if is_failure(r.behavior, CloseBehavior.OK, r.level, strict):
            return "failure", f"{r.behavior} {where} {r.result}"
        return "failure", f"close {r.behaviorClose} {where} {r.resultClose}"
    if is_not_run(r.behavior, r.behaviorClose):
        return "skipped", r.result or "not run"
    if r.behavior in (Behavior.UNIMPLEMENTED, Behavior.INFORMATIONAL):
        return "skipped", f"{r.behavior}: {r.result}"
    return "", ""


def _details(r: CaseResult, message: str) -> str:
    """The failure's text: the message, then expected and observed in words (no Python reprs)."""
    lines = [message]
    lines += [f"expected ({name}): {expected_text(seq)}" for name, seq in r.expected.items()]
    lines.append(f"observed: {', '.join(observed_text(o) for o in r.received) or 'nothing'}")
    lines.append(f"expected close: {expected_close_text(r.expectedClose, 'RESPONSE' in r.expected)}")
    lines.append(f"close: {r.behaviorClose}: {r.resultClose}")
    return "\n".join(lines)


def write_junit(results: Iterable[CaseResult], path: str | os.PathLike[str], strict: bool = False) -> None:
    suites: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for r in results:
        suites[(r.agent, r.group or r.id.split(".")[0])].append(r)
    root = ET.Element("testsuites", name="websocket-conformance")
    for (agent, group), cases in sorted(suites.items(), key=lambda kv: (kv[0][0], int(kv[0][1]) if kv[0][1].isdigit() else 0)):
        failures = skipped = 0
        suite = ET.SubElement(root, "testsuite", name=f"{agent}.group{group}")
        for r in sorted(cases, key=lambda c: tuple(int(p) for p in c.id.split(".") if p.isdigit())):
            tc = ET.SubElement(suite, "testcase", classname=f"{agent}.group{group}", name=f"{r.id} {r.title}",
                               time=f"{r.duration / 1000:.3f}")
            kind, message = _outcome(r, strict)
            if kind == "failure":
                failures += 1
                el = ET.SubElement(tc, "failure", message=message[:500], type=r.behavior)
                el.text = _details(r, message)
            elif kind == "skipped":
                skipped += 1
                ET.SubElement(tc, "skipped", message=message[:500])
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        suite.set("time", f"{sum(c.duration for c in cases) / 1000:.3f}")
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
