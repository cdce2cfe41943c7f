"""The one place a CaseResult is built: from a judged trace, or for a case that did not run."""

from __future__ import annotations

__all__ = ["make_result", "not_run_result", "now_stamp"]

import datetime
import time

from conformance.catalog.model import Case
from conformance.report.model import CaseResult
from conformance.runner.judge import describe_observed, judge
from conformance.runner.trace import Trace
from conformance.verdicts import NOT_RUN


def now_stamp() -> str:
    """The wall-clock start of a case, as the report writes it."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def make_result(case: Case, trace: Trace, agent: str, started: str, is_server: bool = True) -> CaseResult:
    """Judge `trace` and put the verdict, the expectation and the facts in one result."""
    v = judge(case, trace)
    cr = trace.close_received
    local = trace.close_sent
    return CaseResult(
        agent=agent, id=case.id, title=case.title, description=case.description,
        expectation=case.expectation, group=case.group, rfc=list(case.rfc), level=v.level,
        behavior=v.behavior, behaviorClose=v.behavior_close, result=v.result,
        resultClose=v.result_close, rule=v.rule.id if v.rule else None, section=v.section,
        expected=_expected(case),
        expectedClose={"closedByMe": case.close.by == "us", "closeCode": list(case.close.codes),
                       "requireClean": case.close.clean},
        received=[[k, describe_observed([(k, d)])] for k, d in trace.observations],
        duration=int((time.monotonic() - trace.t0) * 1000),
        remoteCloseCode=cr.code if cr else None, remoteCloseReason=cr.reason if cr else None,
        localCloseCode=local[0] if local else None, localCloseReason=local[1] if local else None,
        closedByMe=trace.close_sent_first, droppedByMe=trace.dropped_by_me,
        wasClean=bool(cr) and trace.close_sent_first is not None,
        httpRequest=trace.request, httpResponse=trace.response, wirelog=trace.wirelog,
        started=started, isServer=is_server, measurements={**trace.measurements, **trace.wait_figures()},
    )


def _expected(case: Case) -> dict[str, list[list[str]]]:
    expected = {name: [o.to_json() for o in seq] for name, seq in case.expect.alternatives()}
    if case.expect_response is not None:
        er = case.expect_response
        expected["RESPONSE"] = [["status", " or ".join(map(str, er.status))]] + [
            ["header", f"{k}: {'absent' if v is None else v}"] for k, v in er.headers]
    if case.expect_client == "reject":
        expected["CLIENT"] = [["refuses the handshake response", "and sends no frame"]]
    return expected


def not_run_result(case: Case, agent: str, why: str, *, is_server: bool = True) -> CaseResult:
    """A case that got no connection: NOT RUN, saying why (the target was unreachable, the run
    budget ran out, the client exited ...); it fails the run (exit 1) but is not a verdict on the peer."""
    return CaseResult(agent=agent, id=case.id, title=case.title, description=case.description,
                      expectation=case.expectation, group=case.group, rfc=list(case.rfc), level=case.level,
                      behavior=NOT_RUN, behaviorClose=NOT_RUN, result=f"Not run: {why}.",
                      resultClose="No connection was made for this case.",
                      section=case.rfc[0] if case.rfc else None, started=now_stamp(), isServer=is_server)
