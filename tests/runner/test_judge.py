"""The judge, table-driven: a Trace in, a Verdict out, no sockets.

Each row is a case (built from a few keys), a trace (the facts a run would have recorded) and the
verdict expected: behaviour, close, the rule named and its level.
"""

from __future__ import annotations

from typing import Any

import pytest

import conformance.engine.connection
import conformance.engine.handshake  # noqa: F401
from conformance.catalog.model import Case, CloseExpect, DeflateSpec, Expect, ExpectResponse, HandshakeSpec, Observation
from conformance.catalog.payload import parse_payload
from conformance.engine import events as ev
from conformance.engine.rules import RULES, ProtocolError
from conformance.runner.judge import judge
from conformance.runner.trace import EchoFailure, StepsStopped, Trace
from conformance.wire.http import Headers, Response


def obs(kind: str, value: str) -> Observation:
    return Observation(kind, None, value) if kind == "timeout" else Observation(kind, parse_payload(value))


def case(level: str = "MUST", rule: str | None = None, ok: tuple[Observation, ...] = (),
         non_strict: tuple[Observation, ...] | None = None, close: CloseExpect | None = None,
         expect: Expect | None = None, **kw: Any) -> Case:
    return Case(id="99.1.1", title="t", description="", expectation="", rfc=("RFC 6455 §5.2",),
                level=level, group="99", source="test.yaml:1", rule=rule,
                expect=expect or Expect(ok, non_strict), close=close or CloseExpect(), **kw)


def closed_by_us(code: int | None = 1000, eof_first: bool = True, **kw: Any) -> Trace:
    """We sent the first close, the peer answered with `code`, the peer then closed TCP."""
    return Trace(connected=True, opened=True, close_received=ev.CloseReceived(code, ""),
                 close_sent_first=True, eof=True, eof_first=eof_first, **kw)


def closed_by_peer(code: int | None = 1002, clean: bool = True, **kw: Any) -> Trace:
    """The peer failed the connection: its close first (answered by us when `clean`), or a drop."""
    return Trace(connected=True, opened=True,
                 close_received=ev.CloseReceived(code, "") if code is not None else None,
                 close_sent_first=False if clean else None, eof=True, eof_first=True, **kw)


HELLO = (obs("text", "Hello"),)
PEER_FAILS = CloseExpect(by="peer", codes=(1002,), clean=False)
PEER_FAILS_1007 = CloseExpect(by="peer", codes=(1007,), clean=False)
ANSWER_FAILS = CloseExpect(by="us", codes=(1002,), clean=False, wrong_code_fatal=True)  # 7.3.2, 7.9.x
ANSWER_NORMAL = CloseExpect(by="us", codes=(1000, 3000), clean=True, wrong_code_fatal=True)  # 7.7.10
ECHO_CLOSE = CloseExpect(by="us", codes=(1000,), clean=True)  # group 9
NO_ECHO = EchoFailure("closed", 0, 1)


def volume(size_limited: bool = True) -> Case:
    """A group-9 style case: one large message echoed, then our normal close."""
    return case(ok=(), close=ECHO_CLOSE, size_limited=size_limited)


def response(status: int, **headers: str) -> Response:
    h = Headers()
    for name, value in headers.items():
        h[name.replace("_", "-")] = value
    return Response(status, "Reason", h, b"")


HANDSHAKE_4XX: dict[str, Any] = {"rule": "handshake.version", "handshake": HandshakeSpec(),
                                 "expect_response": ExpectResponse(("4xx",))}

# (name, case, trace, behaviour, close, rule id, level)
ROWS: list[tuple[str, Case, Trace, str, str, str | None, str]] = [
    ("ok", case(ok=HELLO), closed_by_us(observations=[("text", b"Hello")]),
     "OK", "OK", None, "MUST"),
    ("non-strict alternative matched", case(ok=HELLO, non_strict=()), closed_by_us(),
     "NON-STRICT", "OK", None, "MUST"),
    ("no alternative matched: FAILED with the case's MUST rule",
     case(ok=HELLO, rule="frame.control-too-long"), closed_by_us(),
     "FAILED", "OK", "frame.control-too-long", "MUST"),
    ("FAILED naming a SHOULD rule is NON-STRICT even in a MUST case",
     case(ok=HELLO, rule="utf8.fail-fast"), closed_by_us(),
     "NON-STRICT", "OK", "utf8.fail-fast", "SHOULD"),
    ("FAILED in a SHOULD case without a rule is NON-STRICT",
     case(level="SHOULD", ok=HELLO), closed_by_us(),
     "NON-STRICT", "OK", None, "SHOULD"),
    ("FAILED naming a MAY rule is accepted (INFORMATIONAL)",
     case(ok=HELLO, rule="frame.message-too-big"), closed_by_us(),
     "INFORMATIONAL", "OK", "frame.message-too-big", "MAY"),
    ("an informational case never fails",
     case(level="informational", ok=HELLO), closed_by_us(),
     "INFORMATIONAL", "OK", None, "informational"),
    ("the engine saw the peer break a MUST rule",
     case(ok=()), closed_by_us(violations=[(RULES["frame.server-masked"], "masked text frame")]),
     "FAILED", "OK", "frame.server-masked", "MUST"),
    ("a SHOULD violation seen by the engine is not a failure",
     case(ok=()), closed_by_us(violations=[(RULES["close.server-closes-tcp-first"], "x")]),
     "OK", "OK", None, "MUST"),
    ("the peer failed in a way we failed it for",
     case(ok=()), closed_by_us(peer_failure=ev.Failure(RULES["utf8.text-invalid"], "bad", 1007)),
     "FAILED", "OK", "utf8.text-invalid", "MUST"),
    ("wrong side closed", case(ok=HELLO), closed_by_peer(observations=[("text", b"Hello")]),
     "OK", "FAILED", None, "MUST"),
    ("wrong side closed, naming a SHOULD rule: close keeps its name, level SHOULD",
     case(ok=HELLO, rule="utf8.fail-fast"), closed_by_peer(observations=[("text", b"Hello")]),
     "OK", "FAILED", "utf8.fail-fast", "SHOULD"),
    ("wrong side fatal", case(ok=(), rule="utf8.text-invalid",
                              close=CloseExpect(by="peer", codes=(1007,), clean=False, wrong_side_fatal=True)),
     closed_by_us(), "FAILED", "FAILED", "utf8.text-invalid", "MUST"),
    ("failing with another valid code is a SHOULD (§7.1.7)",
     case(rule="frame.control-too-long", close=PEER_FAILS), closed_by_peer(1011),
     "OK", "WRONG CODE", "close.failure-code", "SHOULD"),
    ("failing with 1002 where 1007 fits is a SHOULD",
     case(rule="utf8.text-invalid", close=PEER_FAILS_1007), closed_by_peer(1002),
     "OK", "WRONG CODE", "close.failure-code", "SHOULD"),
    ("failing with a code no endpoint may send breaks a MUST",
     case(rule="utf8.text-invalid", close=PEER_FAILS_1007), closed_by_peer(1005),
     "OK", "WRONG CODE", "close.code-invalid", "MUST"),
    ("answering 1000 where the peer must fail: it did not fail; wrong code fatal",
     case(rule="close.payload-one-byte", close=ANSWER_FAILS),
     closed_by_us(1000), "FAILED", "WRONG CODE", "close.payload-one-byte", "MUST"),
    ("a 1000 answer to a raw close frame (14.1.7, either side first) is no failure either",
     case(rule="frame.client-unmasked", close=CloseExpect(by="either", codes=(1002,), clean=False,
                                                          wrong_code_fatal=True)),
     closed_by_peer(1000), "FAILED", "WRONG CODE", "frame.client-unmasked", "MUST"),
    ("the peer closing first with 1000 where it must fail: it failed, with a SHOULD-level code",
     case(rule="frame.control-too-long", close=PEER_FAILS), closed_by_peer(1000),
     "OK", "WRONG CODE", "close.failure-code", "SHOULD"),
    ("answering with another error code where the peer must fail: it failed, so not fatal",
     case(rule="close.payload-one-byte", close=ANSWER_FAILS),
     closed_by_us(1011), "OK", "WRONG CODE", "close.failure-code", "SHOULD"),
    ("our normal close answered with another valid code: INFORMATIONAL (§5.5.1 'typically echos')",
     case(close=ANSWER_NORMAL), closed_by_us(1001), "OK", "INFORMATIONAL", "close.reply-code", "informational"),
    ("our normal close answered with a code no endpoint may send: a MUST, fatal",
     case(close=ANSWER_NORMAL), closed_by_us(1006), "FAILED", "WRONG CODE", "close.code-invalid", "MUST"),
    ("an invalid close code answered normally: no MUST makes the receiver fail (§10.7), NON-STRICT",
     case(rule="close.code-invalid-received", close=ANSWER_FAILS), closed_by_us(1000),
     "NON-STRICT", "WRONG CODE", "close.code-invalid-received", "SHOULD"),
    ("our close answered with 5000: no range of §7.4.2 defines it, a MUST of §5.5.1",
     case(close=ANSWER_NORMAL), closed_by_us(5000), "FAILED", "WRONG CODE", "close.code-undefined", "MUST"),
    ("7.13.x: any behaviour is open, but not the code of the peer's own close frame",
     case("informational", expect=Expect((), any="informational"),
          close=CloseExpect(by="us", codes=(1000, 1002), clean=False)),
     closed_by_us(None, peer_failure=ev.Failure(RULES["close.code-undefined"], "close code 5000", 1002)),
     "FAILED", "OK", "close.code-undefined", "MUST"),
    ("an open case still leaves other failures the engine saw informational",
     case("informational", expect=Expect((), any="informational"),
          close=CloseExpect(by="us", codes=(1000, 1002), clean=False)),
     closed_by_us(1002, peer_failure=ev.Failure(RULES["utf8.text-invalid"], "bad", 1007)),
     "INFORMATIONAL", "OK", "utf8.text-invalid", "MUST"),
    ("wrong code naming a MAY rule is INFORMATIONAL",
     case(rule="frame.message-too-big", close=CloseExpect(by="peer", codes=(1009,), clean=False)),
     closed_by_peer(1002), "OK", "INFORMATIONAL", "frame.message-too-big", "MAY"),
    ("peer failing without a close frame is accepted when clean is not required",
     case(rule="frame.control-too-long", close=PEER_FAILS), closed_by_peer(None, clean=False),
     "OK", "OK", None, "MUST"),
    ("unclean", case(), Trace(connected=True, opened=True, close_sent_first=True, eof=True, eof_first=True),
     "OK", "UNCLEAN", "close.must-reply", "MUST"),
    ("failed by client (the server did not close TCP first) is a SHOULD",
     case(), closed_by_us(eof_first=False), "OK", "FAILED BY CLIENT", "close.server-closes-tcp-first", "SHOULD"),
    ("a NON-STRICT behaviour and a wrong code at MUST level: level MUST, so it counts",
     case(ok=HELLO, non_strict=(), rule="frame.control-too-long",
          close=CloseExpect(by="us", codes=(1002,), clean=False)), closed_by_us(1000),
     "NON-STRICT", "WRONG CODE", "frame.control-too-long", "MUST"),
    ("a NON-STRICT behaviour and a wrong code naming a SHOULD rule: level SHOULD",
     case(ok=HELLO, non_strict=(), rule="utf8.fail-fast", close=PEER_FAILS_1007), closed_by_peer(1002),
     "NON-STRICT", "WRONG CODE", "close.failure-code", "SHOULD"),
    ("a matched NON-STRICT alternative carries the level of the case's rule",
     case(ok=HELLO, non_strict=(), rule="utf8.fail-fast", close=PEER_FAILS), closed_by_peer(None, clean=False),
     "NON-STRICT", "OK", "utf8.fail-fast", "SHOULD"),
    ("any: informational", case(expect=Expect(any="informational")), closed_by_us(),
     "INFORMATIONAL", "OK", None, "MUST"),
    ("UNIMPLEMENTED: permessage-deflate not agreed",
     case(deflate=DeflateSpec(offers=((),))), closed_by_us(deflate_negotiated=False),
     "UNIMPLEMENTED", "UNIMPLEMENTED", None, "MUST"),
    ("steps did not complete", case(ok=HELLO), closed_by_us(timed_out="no echo within 2 s"),
     "FAILED", "OK", None, "MUST"),
    # RFC 6455 §10.4: a volume case whose message the peer refuses by its size limit
    ("size limit: a clean close with 1009 instead of the echo is INFORMATIONAL (MAY)",
     volume(), closed_by_peer(1009, echo_failure=NO_ECHO), "INFORMATIONAL", "OK", "message.size-limit", "MAY"),
    ("size limit: 1008 (policy) is accepted too",
     volume(), closed_by_peer(1008, echo_failure=NO_ECHO), "INFORMATIONAL", "OK", "message.size-limit", "MAY"),
    ("size limit: only for cases that carry the field",
     volume(size_limited=False), closed_by_peer(1009, echo_failure=NO_ECHO), "FAILED", "FAILED", None, "MUST"),
    ("size limit: another code is no refusal by size",
     volume(), closed_by_peer(1002, echo_failure=NO_ECHO), "FAILED", "FAILED", None, "MUST"),
    ("size limit: a drop without a close frame stays FAILED",
     volume(), closed_by_peer(None, clean=False, echo_failure=NO_ECHO), "FAILED", "FAILED", None, "MUST"),
    ("size limit: 1009 in answer to our close is no refusal",
     volume(), closed_by_us(1009, echo_failure=EchoFailure("no-echo", 0, 1)), "FAILED", "INFORMATIONAL",
     None, "MUST"),
    ("size limit: a MUST broken before the refusal still fails",
     volume(), closed_by_peer(1009, violations=[(RULES["frame.server-masked"], "masked")], echo_failure=NO_ECHO),
     "FAILED", "OK", "frame.server-masked", "MUST"),
    ("an echo that came back changed fails",
     volume(), closed_by_us(echo_failure=EchoFailure("mismatch", 0, 1, "SHA-1 mismatch")),
     "FAILED", "OK", None, "MUST"),
    ("a step the suite could not take while the connection was open is not the peer's failure",
     case(ok=HELLO), closed_by_us(steps_stopped=StepsStopped(2, "send", False, "close already sent")),
     "INFORMATIONAL", "OK", None, "MUST"),
    ("steps that ended because the peer closed: judged on what it did",
     case(ok=HELLO, close=PEER_FAILS), closed_by_peer(steps_stopped=StepsStopped(2, "send", True)),
     "FAILED", "OK", None, "MUST"),
    ("handshake case answered as required",
     case(**HANDSHAKE_4XX), Trace(connected=True, status=426, response_head=response(426)),
     "OK", "OK", None, "MUST"),
    ("handshake case answered wrongly",
     case(**HANDSHAKE_4XX), Trace(connected=True, status=101, response_head=response(101)),
     "FAILED", "OK", "handshake.version", "MUST"),
    ("handshake case answered 5xx names handshake.server-error",
     case(**HANDSHAKE_4XX), Trace(connected=True, status=500, response_head=response(500)),
     "FAILED", "OK", "handshake.server-error", "MUST"),
    ("handshake case: a required header missing",
     case(rule="handshake.subprotocol-selection", handshake=HandshakeSpec(),
          expect_response=ExpectResponse((101,), headers=(("Sec-WebSocket-Protocol", "chat"),))),
     Trace(connected=True, status=101, response_head=response(101)),
     "FAILED", "OK", "handshake.subprotocol-selection", "MUST"),
    ("handshake case: no complete response",
     case(**HANDSHAKE_4XX), Trace(connected=True, handshake_note="no complete response within 2 s"),
     "FAILED", "OK", "handshake.version", "MUST"),
    ("handshake refused in an informational case",
     case(level="informational", handshake=HandshakeSpec(), expect_response=ExpectResponse((101,))),
     Trace(connected=True, status=400, response_head=response(400)),
     "INFORMATIONAL", "OK", "handshake.refused", "informational"),
    ("a valid request that must be accepted (0.4.6) refused with 400: §4.2.2 lets a server refuse",
     case(rule="handshake.connection", handshake=HandshakeSpec(), expect_response=ExpectResponse((101,))),
     Trace(connected=True, status=400, response_head=response(400)),
     "INFORMATIONAL", "OK", "handshake.refused", "informational"),
    ("a valid request that must be accepted answered 500 stays FAILED",
     case(rule="handshake.connection", handshake=HandshakeSpec(), expect_response=ExpectResponse((101,))),
     Trace(connected=True, status=500, response_head=response(500)),
     "FAILED", "OK", "handshake.server-error", "MUST"),
    ("a valid request refused with 403: §4.2.2 lets a server refuse, no MUST is broken",
     case(), Trace(connected=True, status=403, response_head=response(403),
                   handshake_error=ProtocolError(RULES["handshake.status"], "status 403")),
     "UNIMPLEMENTED", "UNIMPLEMENTED", "handshake.refused", "informational"),
    ("a valid request answered 500 names the server's rule, not the client's",
     case(), Trace(connected=True, status=500, response_head=response(500),
                   handshake_error=ProtocolError(RULES["handshake.status"], "status 500")),
     "FAILED", "FAILED", "handshake.server-error", "MUST"),
    ("connection never opened", case(), Trace(connected=False, timed_out="refused"),
     "FAILED", "FAILED", "handshake.server-error", "MUST"),
    ("client refused the response", case(rule="handshake.accept", expect_client="reject"),
     Trace(testing="client", connected=True), "OK", "OK", None, "MUST"),
    ("client accepted a response it must refuse", case(rule="handshake.accept", expect_client="reject"),
     Trace(testing="client", connected=True, client_reaction="sent-frames"),
     "FAILED", "OK", "handshake.accept", "MUST"),
    ("client kept the connection open after a response it must refuse",
     case(rule="handshake.accept", expect_client="reject"),
     Trace(testing="client", connected=True, client_reaction="kept-open"),
     "FAILED", "OK", "handshake.accept", "MUST"),
]


LINGER = CloseExpect(by="us", codes=(1000,), clean=True, linger=3.0)  # 22.5.1


def lingered(after: float | None) -> Trace:
    """Testing a client, the closing handshake done: the client closed TCP `after` seconds after
    our close frame (None: it waited until the suite closed TCP)."""
    t = closed_by_us(eof_first=after is not None, testing="client", close_sent_at=100.0)
    t.eof_at = 100.0 + after if after is not None else 103.0
    return t


ROWS += [
    ("22.5: the client closed TCP at once after the closing handshake", case("SHOULD", close=LINGER),
     lingered(0.02), "NON-STRICT", "OK", "close.client-waits-for-tcp", "SHOULD"),
    ("22.5: closing just under the at-once bound is still at once", case("SHOULD", close=LINGER),
     lingered(0.49), "NON-STRICT", "OK", "close.client-waits-for-tcp", "SHOULD"),
    ("22.5: the client closed TCP after a wait (MAY)", case("SHOULD", close=LINGER),
     lingered(2.0), "OK", "OK", None, "SHOULD"),
    ("22.5: the client waited for the server's TCP close", case("SHOULD", close=LINGER),
     lingered(None), "OK", "OK", None, "SHOULD"),
    ("without linger the same facts are not judged", case("SHOULD", close=ECHO_CLOSE),
     lingered(0.02), "OK", "OK", None, "SHOULD"),
]


@pytest.mark.parametrize(("c", "t", "behavior", "close", "rule", "level"),
                         [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_judge(c: Case, t: Trace, behavior: str, close: str, rule: str | None, level: str) -> None:
    v = judge(c, t)
    assert (v.behavior, v.behavior_close) == (behavior, close), (v.result, v.result_close)
    assert (v.rule.id if v.rule else None) == rule
    assert v.level == level
    if behavior != "OK" or close != "OK":
        assert v.section, "every non-OK verdict names an RFC section"


# (case, trace, words the sentence must contain): the judge writes every sentence from the facts
SENTENCES: list[tuple[Case, Trace, tuple[str, ...]]] = [
    (volume(), closed_by_peer(1009, echo_failure=NO_ECHO), ("§10.4", "1009", "message too big")),
    (volume(), closed_by_peer(1008, echo_failure=NO_ECHO), ("§10.4", "1008", "policy violation")),
    (volume(), closed_by_us(echo_failure=EchoFailure("mismatch", 2, 5, "SHA-1 mismatch")), ("echo 3 of 5", "SHA-1")),
    (volume(False), closed_by_peer(1009, echo_failure=EchoFailure("closed", 4, 9)), ("after 4 of 9 echoes",)),
    (case(ok=HELLO), closed_by_us(steps_stopped=StepsStopped(2, "send", False, "close already sent")),
     ("step 2 (send)", "not judged")),
    (case(ok=HELLO, close=PEER_FAILS), closed_by_peer(steps_stopped=StepsStopped(3, "echo", True)),
     ("before step 3 (echo)", "the peer had closed")),
    (case(**HANDSHAKE_4XX), Trace(connected=True, status=101, response_head=response(101)), ("101", "4xx")),
    (case(rule="handshake.subprotocol-selection", handshake=HandshakeSpec(),
          expect_response=ExpectResponse((101,), subprotocol=("chat",))),
     Trace(connected=True, status=101, response_head=response(101, Sec_WebSocket_Protocol="other")),
     ("'other'", "'chat'")),
    # a client report names the rule the client broke and its section, as a server's does
    (case(rule="frame.server-masked"), Trace(testing="client", connected=True, opened=True,
                                            observations=[("text", b"masked")], close_received=ev.CloseReceived(1000, ""),
                                            close_sent_first=True, eof=True),
     ("observed text 'masked'", "a client fails the connection on a masked one", "RFC 6455 §5.1")),
    (case(rule="handshake.accept", expect_client="reject"),
     Trace(testing="client", connected=True, client_reaction="kept-open"),
     ("kept the connection open", "neither closed TCP nor sent anything")),
    # a client that had to fail the connection and dropped TCP without a close frame
    (case(rule="frame.server-masked", close=PEER_FAILS),
     Trace(testing="client", connected=True, opened=True, eof=True, eof_first=True),
     ("sent no close frame", "§7.1.7")),
    # a close reply with an invalid code: the close sentence says so instead of "peer code none"
    (case(rule="close.code-invalid-received", close=ANSWER_FAILS),
     Trace(testing="client", connected=True, opened=True, close_sent_first=True, eof=True,
           peer_failure=ev.Failure(RULES["close.code-invalid"], "close code 999", 1002)),
     ("the peer's close frame was invalid (close code 999)",)),
]


@pytest.mark.parametrize(("c", "t", "words"), SENTENCES)
def test_sentence_names_the_facts(c: Case, t: Trace, words: tuple[str, ...]) -> None:
    v = judge(c, t)
    text = f"{v.result} {v.result_close}".lower()
    assert all(w.lower() in text for w in words), text
