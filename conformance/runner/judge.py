"""Turn a trace into verdicts: behaviour and close, each with a sentence, a rule and a section.

The one place that writes verdict sentences: the trace holds the facts (what the peer did), the
case what was expected; everything said about the difference is said here."""

from __future__ import annotations

__all__ = [
    "Verdict",
    "describe_observed",
    "judge",
    "match_observations",
    "response_mismatch",
    "describe_expected",
]

import dataclasses
from collections.abc import Sequence

from conformance.catalog.model import Case, CloseExpect, ExpectResponse, Observation
from conformance.engine.oracle import accepted_close_codes
from conformance.engine.rules import RULES, Level, Rule
from conformance.runner.client_answers import describe_answer
from conformance.runner.trace import EchoFailure, Trace, deflate_missing
from conformance.verdicts import HARD_CLOSE, CloseBehavior
from conformance.wire.close import LAST_DEFINED_CODE, CloseCode, close_code_valid
from conformance.wire.http import Response


@dataclasses.dataclass
class Verdict:
    behavior: str
    result: str
    behavior_close: str
    result_close: str
    rule: Rule | None = None
    section: str | None = None
    level: str = Level.MUST.value  # the level of `rule` (the case's level when no rule is named)


def match_observations(case: Case, observed: Sequence[tuple[str, bytes | str]]) -> str | None:
    """The first verdict (OK, NON-STRICT, INFORMATIONAL) whose sequence equals what was observed."""
    for verdict, seq in case.expect.alternatives():
        if _equal(seq, observed):
            return verdict
    return None


def _equal(seq: Sequence[Observation], observed: Sequence[tuple[str, bytes | str]]) -> bool:
    return len(seq) == len(observed) and all(o.matches(k, d) for o, (k, d) in zip(seq, observed, strict=True))


def describe_observed(observed: Sequence[tuple[str, bytes | str]]) -> str:
    if not observed:
        return "nothing"
    return ", ".join(_describe(k, d) for k, d in observed[:6]) + (
        f" and {len(observed) - 6} more" if len(observed) > 6 else "")


def describe_expected(seq: Sequence[Observation]) -> str:
    if not seq:
        return "nothing"
    return ", ".join(_describe(o.kind, o.label if o.kind == "timeout" else
                               (o.payload.materialize() if o.payload and o.payload.length <= 64
                                else f"<{o.payload.length if o.payload else 0} octets>"))
                     for o in seq[:6]) + (f" and {len(seq) - 6} more" if len(seq) > 6 else "")


def _describe(kind: str, data: bytes | str) -> str:
    if kind == "timeout":
        return f"still open at checkpoint {data!s}"
    if isinstance(data, str):
        return f"{kind} {data}"
    if len(data) > 32:
        return f"{kind} of {len(data)} octets"
    try:
        return f"{kind} {data.decode('utf-8')!r}"
    except UnicodeDecodeError:
        return f"{kind} 0x{data.hex()}"


def _case_rule(case: Case) -> Rule | None:
    return RULES.get(case.rule) if case.rule else None


def judge(case: Case, trace: Trace) -> Verdict:
    from conformance.runner.limits import judge_limits  # the resource group's figures and limits

    verdict = judge_limits(case, trace, _judge(case, trace))
    raised = trace.measurements.get("adapter_raised")
    if raised:  # --impl: the library's adapter raised on this connection; say so first
        verdict = dataclasses.replace(verdict, result=f"The adapter raised {raised}. {verdict.result}")
    return verdict


def _judge(case: Case, trace: Trace) -> Verdict:
    if case.expect_client == "reject":
        return _judge_client_rejection(case, trace)
    if not trace.opened and trace.handshake_error is not None and trace.handshake_error.rule.level is Level.INFORMATIONAL:
        # a service the server does not offer, as no rule obliges it to (RFC 8441 §3 over HTTP/2)
        r = trace.handshake_error.rule
        return Verdict("UNIMPLEMENTED", f"The case could not run: {trace.handshake_note or trace.handshake_error}.",
                       "UNIMPLEMENTED", "No WebSocket connection was opened.", r, r.section, r.level.value)
    if case.expect_response is not None and not trace.opened:
        return _judge_handshake_only(case, trace)
    if not trace.opened:
        return _not_opened(case, trace)
    behavior, result, rule = _behavior(case, trace)
    if case.close.linger and trace.testing == "client" and behavior == "OK":
        behavior, result, rule = _judge_linger(case, trace, result)
    if trace.timing_notes:  # the one kind of result that rests on time, not on what the peer did
        result = f"{result} This rests on a timeout: {'; '.join(trace.timing_notes)}."
    result += _steps_note(trace)
    refused = _size_refusal(case, trace) is not None
    bclose, rclose, crule = _close(_as_refusal(case) if refused else case, trace)
    if behavior == "UNIMPLEMENTED":  # its steps were not sent, so how it closes says nothing
        bclose, rclose, crule = "UNIMPLEMENTED", "Not judged: the case did not run (permessage-deflate was not agreed).", None
    if case.close.wrong_side_fatal and bclose == "FAILED" and behavior != "FAILED":
        behavior, result, rule = "FAILED", f"{result} But the wrong side closed: {rclose}", crule
    if (case.close.wrong_code_fatal and bclose == "WRONG CODE" and behavior != "FAILED"
            and crule is not RULES["close.failure-code"]):  # failing with another code is still failing
        behavior, result, rule = "FAILED", rclose, crule
    if case.close.informational:
        bclose = "INFORMATIONAL"
    blevel, clevel = _level_of(case, rule), _level_of(case, crule)
    behavior, bclose = _apply_level(behavior, blevel), _apply_close_level(bclose, clevel)
    named = _named(behavior, (rule, blevel), bclose, (crule, clevel))
    if named is None:
        return Verdict(behavior, result, bclose, rclose, None, None, case.level)
    the_rule, level = named
    the_rule = the_rule or _case_rule(case)
    section = the_rule.section if the_rule else (case.rfc[0] if case.rfc else None)
    return Verdict(behavior, result, bclose, rclose, the_rule, section, level)


# a client closing TCP within this many seconds of the suite's close frame closed "at once" (22.5):
# load only delays what the suite sees, so it can make an eager client look patient, never the reverse
AT_ONCE = 0.5


def _judge_linger(case: Case, t: Trace, result: str) -> tuple[str, str, Rule | None]:
    """The suite kept TCP open after the closing handshake: did the client wait for it (§7.1.1)?"""
    bound = case.close.linger
    if t.close_sent_at is None or t.close_received is None:
        return "OK", result, None  # no closing handshake: the close verdict says what happened
    if t.eof_first and t.eof_at is not None:
        after = t.eof_at - t.close_sent_at
        if after < AT_ONCE:
            return ("NON-STRICT", f"The client closed TCP {after:.3f} s after the suite's close frame, at once "
                    f"(under {AT_ONCE:g} s), instead of waiting for the server to close it (RFC 6455 §7.1.1: the "
                    f"client SHOULD wait for the server's TCP close; the suite would have kept it open {bound:g} s).",
                    RULES["close.client-waits-for-tcp"])
        return ("OK", f"{result} The client closed TCP {after:.2f} s after the suite's close frame, before the "
                f"suite's {bound:g} s were over: after a wait, which RFC 6455 §7.1.1 allows (MAY).", None)
    return ("OK", f"{result} The client kept TCP open until the suite closed it, {bound:g} s after the closing "
            "handshake (RFC 6455 §7.1.1).", None)


def _named(behavior: str, b: tuple[Rule | None, str], bclose: str,
           c: tuple[Rule | None, str]) -> tuple[Rule | None, str] | None:
    """The rule (and its level) a verdict names: the most severe non-OK part, so that the level
    says whether a FAILED-class verdict is a MUST failure (a FAILED behaviour, then a failed close,
    then the other non-OK parts)."""
    if behavior == "FAILED":
        return b
    if bclose in HARD_CLOSE:
        return c
    if behavior != "OK":
        return b
    if bclose != "OK":
        return c
    return None


def _level_of(case: Case, rule: Rule | None) -> str:
    """A verdict carries the level of the rule it names (the case's rule when the engine named
    none), else the case's level."""
    rule = rule or _case_rule(case)
    return rule.level.value if rule is not None else case.level


def _apply_level(behavior: str, level: str) -> str:
    """A broken SHOULD is NON-STRICT; a MAY or informational rule never gives FAILED."""
    if behavior == "FAILED" and level == Level.SHOULD.value:
        return "NON-STRICT"
    if behavior in ("FAILED", "NON-STRICT") and level in (Level.MAY.value, Level.INFORMATIONAL.value):
        return "INFORMATIONAL"
    return behavior


def _apply_close_level(bclose: str, level: str) -> str:
    """A close verdict naming a MAY or informational rule is INFORMATIONAL. One naming a SHOULD
    keeps its name; the verdict's level (SHOULD) keeps it out of the failures unless --strict."""
    if bclose in (*HARD_CLOSE, CloseBehavior.FAILED_BY_CLIENT) and level in (Level.MAY.value, Level.INFORMATIONAL.value):
        return "INFORMATIONAL"
    return bclose


def _size_refusal(case: Case, t: Trace) -> int | None:
    """The close code with which the peer refused the case's large message by its size limit
    (RFC 6455 §10.4), for cases that allow it; None otherwise. Only a close frame of the peer's
    own, with a code the rule accepts, is a refusal: a drop is judged as any other."""
    if not case.size_limited or t.close_received is None or t.close_sent_first is not False:
        return None
    code = t.close_received.code
    return code if code in accepted_close_codes(RULES["message.size-limit"]) else None


def _as_refusal(case: Case) -> Case:
    """The close expectation of a refusal: the peer closes, with a code of the size-limit rule."""
    codes = tuple(sorted(accepted_close_codes(RULES["message.size-limit"])))
    return dataclasses.replace(case, close=CloseExpect(by="peer", codes=codes, clean=case.close.clean))


def _refusal_sentence(code: int) -> str:
    name = CloseCode(code).name.replace("_", " ").lower()  # 1008 or 1009: both are named
    return (f"The peer refused the message with close code {code} ({name}) instead of echoing it: "
            "RFC 6455 §10.4 lets an endpoint limit the size of the frames and messages it accepts, "
            "so this is its configured limit, not a failure.")


def _steps_note(t: Trace) -> str:
    """Where the steps ended early, say so: after the peer closed, or (a problem of the case, not
    of the peer) because the suite could not take a step."""
    st = t.steps_stopped
    if st is None:
        return ""
    if st.peer_closed:
        return f" The steps ended before step {st.index} ({st.key}): the peer had closed the connection."
    return f" ({st.detail})"


def _echo_sentence(e: EchoFailure) -> str:
    if e.kind == "not-negotiated":
        return "The message was to be compressed, but permessage-deflate was not agreed."
    if e.kind == "closed":
        return f"Echo check failed: the peer closed the connection after {e.echoed} of {e.count} echoes."
    if e.kind == "no-echo":
        return f"Echo check failed: no echo for message {e.echoed + 1} of {e.count} in time."
    return f"Echo check failed: echo {e.echoed + 1} of {e.count}: {e.detail}."


# A case that accepts any behaviour leaves open what the peer does about our input, not what the
# peer itself puts on the wire: a close code of its own that no endpoint may send breaks the
# sender's MUST (RFC 6455 §5.5.1, §7.4.1) whatever the case asked (7.13.x: echoing 5000 back).
_SENDER_CLOSE_CODE = frozenset({"close.code-invalid", "close.code-undefined"})


def _behavior(case: Case, t: Trace) -> tuple[str, str, Rule | None]:
    if deflate_missing(case, t):
        return "UNIMPLEMENTED", "The peer did not accept permessage-deflate.", None
    if t.flooded:
        return "FAILED", f"{t.flooded[0].upper()}{t.flooded[1:]}.", _case_rule(case)
    if t.peer_failure is not None:
        f = t.peer_failure
        if case.expect.any and f.rule.id not in _SENDER_CLOSE_CODE:
            return case.expect.any.upper().replace("_", "-"), f"Outcome is not specified: {f.detail}", f.rule
        if f.rule.id == "frame.message-too-big":  # the suite's own limit: the peer sent what was not asked for
            return ("FAILED", f"Expected {describe_expected(case.expect.ok)}; the peer sent more than the suite's "
                    f"memory limit instead ({f.detail}).", _case_rule(case))
        return ("FAILED", f"The peer broke {f.rule.id} ({f.rule.section}): {f.detail}. "
                f"{f.rule.text}", f.rule)
    must = [(r, d) for r, d in t.violations if r.level is Level.MUST]
    if must and not case.expect.any:
        r, d = must[0]
        return "FAILED", f"The peer broke {r.id} ({r.section}): {d}. {r.text}", r
    refused = _size_refusal(case, t)
    if refused is not None:
        return "INFORMATIONAL", _refusal_sentence(refused), RULES["message.size-limit"]
    if t.steps_stopped is not None and not t.steps_stopped.peer_closed:
        st = t.steps_stopped  # the case asked for a step the suite's engine refuses: not the peer's doing
        return ("INFORMATIONAL", f"Not judged: the suite could not take step {st.index} ({st.key}) while the "
                "connection was open, so the expectation does not apply (a problem of the case).", None)
    if t.echo_failure is not None:
        return "FAILED", _echo_sentence(t.echo_failure), _case_rule(case)
    if t.timed_out and not case.expect.any:
        return "FAILED", f"The steps did not complete: {t.timed_out}.", _case_rule(case)
    if case.expect.any:
        return case.expect.any.upper().replace("_", "-"), "Any behaviour is acceptable here; recorded for information.", None
    verdict = match_observations(case, t.observations)
    observed = describe_observed(t.observations)
    if verdict is not None:
        return verdict, f"Observed {observed}, which matches the {verdict} expectation.", None
    expected = describe_expected(case.expect.ok)
    why = f" ({t.timed_out})" if t.timed_out else ""
    rule = _case_rule(case)  # a client report names the rule the client broke, as a server's names it
    told = f" {rule.text} ({rule.section})" if t.testing == "client" and rule is not None else ""
    return ("FAILED", f"Expected {expected}; observed {observed}{why}.{told}", rule)


def _close(case: Case, t: Trace) -> tuple[str, str, Rule | None]:
    ce = case.close
    code = t.close_received.code if t.close_received else None
    closed_by_me = bool(t.close_sent_first) if t.close_sent_first is not None else not t.eof_first
    # Clean: the closing handshake completed (a close frame each way), as in Autobahn's wasClean.
    clean = t.close_received is not None and t.close_sent_first is not None
    if ce.by != "either" and closed_by_me != (ce.by == "us"):
        who = "the suite" if closed_by_me else "the peer"
        want = "the suite (after the expected traffic)" if ce.by == "us" else "the peer (failing the connection)"
        extra = " — the peer never closed the connection" if ce.by == "peer" and closed_by_me else ""
        return "FAILED", f"The connection was closed by {who}; it should have been closed by {want}{extra}.", _case_rule(case)
    if ce.clean and not clean:
        how = "reset" if t.reset else "closed without a completed closing handshake"
        return "UNCLEAN", f"The TCP connection was {how}; the case requires a clean close.", RULES.get("close.must-reply")
    if code is not None and code not in ce.codes:
        return _other_code(case, code)
    if clean and t.testing == "server" and t.eof_first is False:
        return ("FAILED BY CLIENT", "After the closing handshake the server did not close the TCP connection, "
                "so the suite had to (RFC 6455 §7.1.1: the server should close it first).",
                RULES.get("close.server-closes-tcp-first"))
    if t.testing == "client" and not clean and t.peer_failure is None and not t.flooded:
        # The suite closes TCP right after a complete closing handshake, so who closed TCP first
        # is judged only when the handshake did not complete: both are SHOULDs (§7.1.1, §5.5.1).
        if t.eof_first:
            failing = (" Failing the connection, it should also send a close frame with an appropriate code "
                       "first (§7.1.7).") if case.close.by == "peer" else ""
            return ("FAILED BY CLIENT", "The client closed the TCP connection before the closing handshake "
                    "was complete (it sent no close frame); it should close the WebSocket connection first "
                    f"and then wait for the server to close TCP (RFC 6455 §7.1.1).{failing}",
                    RULES.get("close.server-closes-tcp-first"))
        if t.close_sent_first:
            return ("FAILED BY CLIENT", "The client left the connection open: it did not answer the suite's close "
                    "frame within the time allowed, so the suite closed TCP (RFC 6455 §5.5.1: reply as soon "
                    "as practical).", RULES.get("close.server-closes-tcp-first"))
    if code is None and t.peer_failure is not None and t.peer_failure.rule.id.startswith("close."):
        # the peer's close frame was itself invalid (its code or payload): say so, not "no code"
        return "OK", f"Connection closed; the peer's close frame was invalid ({t.peer_failure.detail}), as the behaviour says.", None
    return "OK", f"Connection closed as expected (peer code {code if code is not None else 'none'}).", None


def _other_code(case: Case, code: int) -> tuple[str, str, Rule | None]:
    """A close code the case did not list. Only a code no endpoint may send, or a normal 1000
    answer where the peer had to fail the connection, breaks a MUST; which error code a failing
    peer picks is a SHOULD (§7.1.7), and the code answering our normal close is free (§5.5.1)."""
    want = f"{' or '.join(map(str, case.close.codes))} (or none)"
    if not close_code_valid(code):
        broken = RULES["close.code-undefined" if code > LAST_DEFINED_CODE else "close.code-invalid"]
        return ("WRONG CODE", f"The peer's close code was {code}, which no endpoint may send "
                f"({broken.section}); expected {want}.", broken)
    if 1000 in case.close.codes:
        return ("INFORMATIONAL", f"The peer answered with {code}, not {want}; RFC 6455 §5.5.1: an endpoint "
                "\"typically echos the status code it received\", which is not a requirement.",
                RULES["close.reply-code"])
    rule = _case_rule(case)
    if code == 1000 and case.close.by != "peer":  # an answer to a close frame of ours (14.1.7's is raw)
        return ("WRONG CODE", f"The peer answered with 1000 (normal closure), as if the input were valid; "
                f"it should have failed the connection with {want}.", rule)
    if rule is not None and rule.level in (Level.MAY, Level.INFORMATIONAL):
        return "WRONG CODE", f"The peer's close code was {code}; expected {want}.", rule
    return ("WRONG CODE", f"The peer failed the connection with {code}; {want} fits the problem (RFC 6455 "
            "§7.1.7: it \"SHOULD send a Close frame with an appropriate status code\").", RULES["close.failure-code"])


def response_mismatch(exp: ExpectResponse, resp: Response) -> str | None:
    """How a response differs from what a handshake case requires (None: as required)."""
    if not exp.allows(resp.status):
        if resp.status >= 500:
            return (f"the server answered {resp.status} {resp.reason}: a request it should reject or "
                    "decline made it fail")
        return f"the server answered {resp.status} {resp.reason}; expected {' or '.join(map(str, exp.status))}"
    for name, want in exp.headers_for(resp.status):
        got = resp.headers.get_all(name)
        if want is None and got:
            return f"the response carries {name}: {', '.join(got)}, which it must not"
        if want is not None and not _tokens_match(got, want):
            return f"the response must carry {name}: {want}; it carries {got or 'nothing'}"
    if exp.subprotocol is not None:
        got_proto = resp.headers.get("Sec-WebSocket-Protocol")
        if got_proto not in exp.subprotocol:
            return (f"the server selected subprotocol {got_proto!r}; acceptable: "
                    f"{', '.join(repr(a) for a in exp.subprotocol)}")
    return None


def _tokens_match(got: list[str], want: str) -> bool:
    have = {tok.strip().lower() for v in got for tok in v.split(",")}
    return all(tok.strip().lower() in have for tok in want.split(","))


def _judge_handshake_only(case: Case, t: Trace) -> Verdict:
    assert case.expect_response is not None
    rule = _case_rule(case)
    section = rule.section if rule else case.rfc[0]
    resp = t.response_head
    text = response_mismatch(case.expect_response, resp) if resp is not None else None
    r = rule
    if resp is not None and text is not None and resp.status >= 500:
        r = RULES["handshake.server-error"]  # failing on a request it should refuse is a failure of its own
    elif t.handshake_error is not None:
        r = t.handshake_error.rule
    text = text or t.handshake_note or (str(t.handshake_error) if t.handshake_error else None)
    if text is not None and _valid_request_refused(case, t):
        return _refusal_verdict(case, t)
    if text is not None:
        level = _level_of(case, r)
        return Verdict(_apply_level("FAILED", level), text, "OK", "No WebSocket connection.", r,
                       r.section if r else section, level)
    return Verdict("OK", f"The server answered {t.status} as required.", "OK",
                   "No WebSocket connection was expected.", None, None, case.level)


def _valid_request_refused(case: Case, t: Trace) -> bool:
    """A server answered 4xx where the case's request is valid and must be accepted (0.4.6, 0.7.x)."""
    exp = case.expect_response
    return (t.testing != "client" and exp is not None and exp.status == (101,) and t.status is not None
            and 400 <= t.status < 500)


def _refusal_verdict(case: Case, t: Trace) -> Verdict:
    """RFC 6455 §4.2.2 lets a server refuse a connection "it does not wish to accept" with "an
    appropriate HTTP error code", and RFC 9110 §15.5.1 makes 400 a client error "perceived" by the
    server: refusing a valid request breaks no MUST, however wrong the reason. The case records it."""
    refused = RULES["handshake.refused"]
    reason = t.response_head.reason if t.response_head is not None else ""
    return Verdict("INFORMATIONAL", f"The server refused a valid request with {t.status} {reason}".rstrip()
                   + "; the case's request is valid and should be accepted, but RFC 6455 §4.2.2 lets a server "
                   "refuse a connection it does not wish to accept.", "OK", "No WebSocket connection.",
                   refused, refused.section, refused.level.value)


def _not_opened(case: Case, t: Trace) -> Verdict:
    if (t.testing != "client" and case.expect_response is None and t.status is not None
            and 400 <= t.status < 500):
        # a valid request refused: RFC 6455 §4.2.2 lets a server refuse a connection it does not
        # wish to accept ("an appropriate HTTP error code (e.g., 403 Forbidden)"); no MUST is broken
        refused = RULES["handshake.refused"]
        reason = t.response_head.reason if t.response_head is not None else ""
        return Verdict("UNIMPLEMENTED", f"The server refused the opening handshake with {t.status} {reason}".rstrip()
                       + ", which RFC 6455 §4.2.2 allows a server that does not wish to accept the connection; "
                       "the case could not run.", "UNIMPLEMENTED", "No WebSocket connection was opened.",
                       refused, refused.section, refused.level.value)
    if not t.connected:
        why = t.timed_out or "the TCP connection could not be made"
    elif t.handshake_note:
        why = t.handshake_note
    elif t.handshake_error and t.testing == "client":
        why = f"the client's opening handshake is not valid: {t.handshake_error}"
    elif t.handshake_error:
        why = str(t.handshake_error)
    else:
        why = t.timed_out or "the opening handshake did not complete"
    r = t.handshake_error.rule if t.handshake_error else RULES.get("handshake.server-error")
    if t.testing != "client" and t.status is not None and t.status >= 500:
        r = RULES.get("handshake.server-error")  # a 5xx to a valid request: the server erred (not §4.1's client rule)
    return Verdict("FAILED", f"The WebSocket connection was not opened: {why}.", "FAILED",
                   "The opening handshake never completed.", r, r.section if r else case.rfc[0],
                   r.level.value if r else Level.MUST.value)


def _judge_client_rejection(case: Case, t: Trace) -> Verdict:
    """A client given a response it must refuse: it must close without sending any frame."""
    rule = _case_rule(case)
    section = rule.section if rule else case.rfc[0]
    answer = describe_answer(case.handshake.response if case.handshake else None)  # what the suite sent
    why = {"sent-frames": f"it accepted a handshake response it must reject (the suite's answer had {answer}) "
                          "and sent frames",
           "answered-probe": f"it accepted a handshake response it must reject (the suite's answer had {answer}) "
                             "and answered the ping glued to it with a pong",
           "kept-open": f"it kept the connection open after a handshake response it must reject (the suite's "
                        f"answer had {answer}): within the time the suite waited it neither closed TCP nor sent "
                        "anything (the wire log gives the figure)",
           }.get(t.client_reaction) or t.handshake_note
    if why:
        level = _level_of(case, rule)
        return Verdict(_apply_level("FAILED", level), f"The client did not refuse the response: {why}.",
                       "OK", "No WebSocket connection was expected.", rule, section, level)
    v = Verdict("OK", "The client refused the handshake response and closed the connection.", "OK",
                "No WebSocket connection was expected.", None, None, case.level)
    return _judge_redirect(v, t) if t.redirect is not None else v


_CREDENTIALS = ("Authorization", "Cookie")


def _judge_redirect(v: Verdict, t: Trace) -> Verdict:
    """After a 3xx whose Location is the suite's second listener (another origin): did the
    client follow, and with which key and credentials? Each fact is judged by its own rule."""
    r = t.redirect
    assert r is not None
    if r.outcome != "followed":
        how = ("its next connection went to the suite instead" if r.outcome == "moved-on" else
               f"nothing arrived there within {r.waited:.1f} s")
        return dataclasses.replace(v, result=f"{v.result[:-1]}, and did not follow the redirect to {r.location} ({how}).")
    first, second = _head_of(t.request), _head_of(r.request)
    findings: list[tuple[str, str]] = []  # (rule id, what it did), the most severe first
    key = first.get("sec-websocket-key")
    if key and key == second.get("sec-websocket-key"):
        findings.append(("handshake.key-fresh", f"it sent the same Sec-WebSocket-Key ({key}) again"))
    if r.browser:
        findings.append(("handshake.redirect-browser", "a browser followed a redirect of the opening handshake"))
    resent = [n for n in _CREDENTIALS if first.get(n.lower()) and first.get(n.lower()) == second.get(n.lower())]
    if resent:
        findings.append(("handshake.redirect-credentials",
                         f"it sent the {' and '.join(resent)} of its first request to another origin"))
    had = [n for n in _CREDENTIALS if first.get(n.lower())]
    creds = ("" if resent else f" without its {' and '.join(had)}" if had
             else " (its first request carried no Authorization or Cookie, so resending them was not tested)")
    followed = f"The client refused the 3xx answer and followed its Location {r.location}{creds}"
    hint = "" if r.browser else _browser_hint(first)
    if not findings:
        rule = RULES["handshake.redirect-followed"]
        return Verdict("INFORMATIONAL", f"{followed}, with a new key, which RFC 6455 §4.1 allows.{hint}",
                       v.behavior_close, v.result_close, rule, rule.section, rule.level.value)
    rule = RULES[findings[0][0]]
    level = rule.level.value
    what = "; ".join(f"{text} ({RULES[rid].section})" for rid, text in findings)
    return Verdict(_apply_level("FAILED", level), f"{followed}: {what}.{hint}", v.behavior_close, v.result_close,
                   rule, rule.section, level)


def _browser_hint(head: dict[str, str]) -> str:
    """For a client not declared a browser whose request looks like a browser's (an Origin and a
    Mozilla/ User-Agent): how to have it judged as one. Headers are no proof (any client can send
    them), so they never make the WHATWG rule apply by themselves."""
    agent = head.get("user-agent", "")
    if "origin" not in head or not agent.startswith("Mozilla/"):
        return ""
    return (f" Its request carries an Origin and the User-Agent {agent!r}, as a browser's does; it was not "
            "declared a browser, so it is judged as a non-browser (if it is one, declare it: run --browser, or "
            "serve --browser-client AGENT; WHATWG's rule then makes following FAILED).")


def _head_of(raw: str) -> dict[str, str]:
    """The headers of a recorded request head, lower-cased names, the first value of each."""
    out: dict[str, str] = {}
    for line in raw.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() not in out:
            out[name.strip().lower()] = value.strip()
    return out
