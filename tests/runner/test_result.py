"""result.py: the one CaseResult builder, for judged traces and for cases that did not run."""

from __future__ import annotations

from conformance.catalog.model import Case, CloseExpect
from conformance.engine import events as ev
from conformance.runner.result import make_result, not_run_result
from conformance.runner.trace import Trace
from conformance.verdicts import is_not_run

CASE = Case(id="99.1.1", title="t", rfc=("RFC 6455 §5.5.1",), close=CloseExpect(by="us", codes=(1000,)))


def test_our_close_code_is_reported() -> None:
    trace = Trace(connected=True, opened=True, close_received=ev.CloseReceived(1000, "bye"),
                  close_sent=(1000, "done"), close_sent_first=True, eof=True, eof_first=True)
    r = make_result(CASE, trace, "agent", "2026-01-01T00:00:00.000+00:00")
    assert (r.localCloseCode, r.localCloseReason) == (1000, "done")
    assert (r.remoteCloseCode, r.remoteCloseReason) == (1000, "bye")
    assert (r.behavior, r.behaviorClose, r.wasClean, r.closedByMe) == ("OK", "OK", True, True)


def test_no_close_of_ours_reports_none() -> None:
    r = make_result(CASE, Trace(connected=True, opened=True, eof=True, eof_first=True), "agent", "")
    assert r.localCloseCode is None and r.localCloseReason is None


def test_a_case_that_did_not_run_is_not_run_and_says_why() -> None:
    r = not_run_result(CASE, "agent", "the client exited with code 1", is_server=False)
    assert (r.behavior, r.behaviorClose, r.isServer) == ("NOT RUN", "NOT RUN", False)
    assert is_not_run(r.behavior, r.behaviorClose)
    assert "the client exited with code 1" in r.result and r.section == "RFC 6455 §5.5.1"
