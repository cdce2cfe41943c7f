"""The oracle: client octets in, what a conforming server must do out, in each model the RFCs allow;
whole input and octet by octet alike."""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from conformance.engine import deflate as pmd
from conformance.engine import oracle
from conformance.engine.oracle import (
    LENIENT_UTF8,
    NO_CODE,
    STRICT,
    Model,
    Oracle,
    Sent,
    accepted_close_codes,
    expectation,
    models_for,
    required,
)
from conformance.engine.rules import RULES, rule
from conformance.fuzz.differential import client_frame

AGREED = pmd.client_accept([], [pmd.parse_offer([])])  # plain permessage-deflate


def _deflated(text: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    return (c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def _close(code: int, reason: bytes = b"") -> bytes:
    return client_frame(8, code.to_bytes(2, "big") + reason)


BOUNDARY_CUT = client_frame(1, _deflated(b"Hello Hello Hello")[:5], rsv1=True)  # ends inside a block
NON_MINIMAL = client_frame(1, b"hi", form=16)

# (name, frames, agreed, model, observations, close, codes, rule)
TABLE: list[tuple[str, list[bytes], Any, Model, list[tuple[str, bytes]], int | None, set[int], str | None]] = [
    ("text is echoed", [client_frame(1, b"Hello")], None, STRICT, [("text", b"Hello")], None, set(), None),
    ("binary in fragments", [client_frame(2, b"ab", fin=False), client_frame(0, b"c")], None, STRICT,
     [("binary", b"abc")], None, set(), None),
    ("ping is ponged", [client_frame(9, b"p")], None, STRICT, [("pong", b"p")], None, set(), None),
    ("unmasked frame fails", [client_frame(1, b"x", mask=None)], None, STRICT, [], 1002, {1002, NO_CODE},
     "frame.client-unmasked"),
    ("reserved opcode fails", [client_frame(3, b"x")], None, STRICT, [], 1002, {1002, NO_CODE},
     "frame.opcode-reserved"),
    ("invalid UTF-8 fails with 1007", [client_frame(1, b"a\xffb")], None, STRICT, [], 1007, {1007, NO_CODE},
     "utf8.text-invalid"),
    # RFC 6455 §8.1: fail-fast is a SHOULD; an unfinished message is judged only when complete otherwise
    ("fail fast inside a fragment", [client_frame(1, b"a\xff", fin=False)], None, STRICT, [], 1007,
     {1007, NO_CODE}, "utf8.text-invalid"),
    ("late UTF-8 check waits for the end", [client_frame(1, b"a\xff", fin=False)], None, LENIENT_UTF8, [], None,
     set(), None),
    ("late UTF-8 check fails at the end", [client_frame(1, b"a\xff", fin=False), client_frame(0, b"b")], None,
     LENIENT_UTF8, [], 1007, {1007, NO_CODE}, "utf8.text-invalid"),
    # §5.2 binds the sender: a receiver may accept or reject a length in a longer form
    ("non-minimal length accepted", [NON_MINIMAL], None, STRICT, [("text", b"hi")], None, set(), None),
    ("non-minimal length rejected", [NON_MINIMAL], None, Model(reject_non_minimal=True), [], 1002,
     {1002, NO_CODE}, "frame.length-not-minimal"),
    # the accepted alternatives declared on the rules
    ("close reason not UTF-8: 1007 or 1002", [_close(1000, b"\xff")], None, STRICT, [], 1007,
     {1007, 1002, NO_CODE}, "utf8.close-reason-invalid"),
    ("invalid close code", [_close(999, b"ok")], None, STRICT, [], 1002, {1002, NO_CODE}, "close.code-invalid"),
    ("invalid code and reason: either rule's codes", [_close(999, b"\xff")], None, STRICT, [], 1002,
     {1002, 1007, NO_CODE}, "close.code-invalid"),
    ("compressed data that does not inflate: 1007 or 1002", [client_frame(1, b"\xff\xff\xff", rsv1=True)], AGREED,
     STRICT, [], 1007, {1007, 1002, NO_CODE}, "deflate.invalid-data"),
    ("compressed text is delivered", [client_frame(1, _deflated(b"Hello"), rsv1=True)], AGREED, STRICT,
     [("text", b"Hello")], None, set(), None),
    # RFC 7692 §7.2.2: data ending inside a deflate block may be rejected or inflated as far as it goes
    ("deflate block boundary checked", [BOUNDARY_CUT], AGREED, STRICT, [], 1007, {1007, 1002, NO_CODE},
     "deflate.invalid-data"),
    ("deflate block boundary not checked", [BOUNDARY_CUT], AGREED, Model(check_boundary=False),
     [("text", b"Hellh")], None, set(), None),
    ("a close is answered with its code or 1000", [_close(3000)], None, STRICT, [], 3000, {1000, 3000}, None),
    ("an empty close is answered", [client_frame(8)], None, STRICT, [], NO_CODE, {1000, NO_CODE}, None),
    ("nothing is read after a failure", [client_frame(3), client_frame(9, b"late")], None, STRICT, [], 1002,
     {1002, NO_CODE}, "frame.opcode-reserved"),
]


def _octet_by_octet(frames: list[bytes]) -> list[bytes]:
    wire = b"".join(frames)
    return [wire[i : i + 1] for i in range(len(wire))]


@pytest.mark.parametrize("feed", ["whole", "octet by octet"])
@pytest.mark.parametrize(("name", "frames", "agreed", "model", "obs", "close", "codes", "rule_id"), TABLE,
                         ids=[row[0] for row in TABLE])
def test_required_reaction(feed: str, name: str, frames: list[bytes], agreed: Any, model: Model,
                           obs: list[tuple[str, bytes]], close: int | None, codes: set[int],
                           rule_id: str | None) -> None:
    steps = frames if feed == "whole" else _octet_by_octet(frames)
    r = required(steps, agreed, model)
    assert (r.observations, r.close, set(r.codes), r.rule) == (obs, close, codes, rule_id)


def test_messages_and_pongs_are_split_from_the_ordered_observations() -> None:
    r = required([client_frame(9, b"p"), client_frame(1, b"t"), client_frame(2, b"b")])
    assert r.messages == [(True, b"t"), (False, b"b")] and r.pongs == [b"p"]


def test_cut_short_deflate_data_leaves_the_rest_open() -> None:
    r = required([BOUNDARY_CUT, client_frame(3)], AGREED, Model(check_boundary=False))
    assert r.open_ended and r.close is None and r.steps_used == 1


class TestWhoCloses:
    def test_a_failure_is_the_peers_close(self) -> None:
        r = required([client_frame(3)])
        assert (r.closed_by, r.clean, r.close_codes()) == ("peer", False, [1002])

    def test_our_close_frame_sent_as_a_close(self) -> None:
        r = required([Sent(_close(1001), closing=True)])
        assert (r.closed_by, r.clean, r.close_codes()) == ("us", True, [1000, 1001])

    def test_a_failure_on_our_close_frame_is_still_our_close(self) -> None:
        r = required([Sent(_close(999), closing=True)])
        assert (r.closed_by, r.clean) == ("us", False)

    def test_a_close_frame_sent_raw_cannot_be_told_apart(self) -> None:
        r = required([_close(1000)])
        assert (r.closed_by, r.clean) == ("either", False)

    def test_still_open_at_the_end_we_close(self) -> None:
        r = required([client_frame(1, b"x")])
        assert (r.close, r.closed_by, r.clean, r.close_codes()) == (None, "us", True, [1000])


def test_a_checkpoint_requires_the_connection_open_there() -> None:
    r = required([Sent(checkpoint="A"), client_frame(3), Sent(checkpoint="B")])
    assert r.observations == [("timeout", "A")] and r.steps_used == 2


def test_the_oracle_stops_reading_once_the_connection_ended() -> None:
    o = Oracle()
    assert o.send(client_frame(8)) and o.send(client_frame(1, b"after"))
    assert o.required.observations == [] and o.required.steps_used == 1


class TestModels:
    def test_only_the_models_that_can_differ(self) -> None:
        assert models_for([client_frame(1, b"x")]) == [STRICT, LENIENT_UTF8]
        assert Model(reject_non_minimal=True) in models_for([NON_MINIMAL])
        assert Model(check_boundary=False) in models_for([client_frame(1, b"x")], AGREED)
        assert models_for([NON_MINIMAL], AGREED) == oracle.MODELS

    def test_strict_comes_first(self) -> None:
        assert oracle.MODELS[0] == STRICT and len(set(oracle.MODELS)) == 8


class TestExpectation:
    def test_late_utf8_check_is_non_strict_and_either_side_closes(self) -> None:
        e = expectation([client_frame(1, b"a\xff", fin=False)])
        assert e.ok == [] and e.non_strict is None  # nothing observed either way
        assert (e.closed_by, e.close_codes, e.clean) == ("either", [1000, 1007], False)

    def test_late_utf8_check_delivers_a_pong_first(self) -> None:
        e = expectation([client_frame(1, b"a\xff", fin=False), client_frame(9, b"p"), client_frame(0, b"b")])
        assert e.ok == [] and e.non_strict == [("pong", b"p")]
        assert (e.closed_by, e.close_codes, e.clean) == ("peer", [1007], False)

    def test_a_may_model_gives_the_informational_alternative(self) -> None:
        e = expectation([NON_MINIMAL])
        assert e.ok == [("text", b"hi")] and e.informational == []
        assert (e.closed_by, e.close_codes, e.clean) == ("either", [1000, 1002], False)

    def test_no_latitude_no_alternatives(self) -> None:
        e = expectation([client_frame(1, b"x"), Sent(_close(1000), closing=True)])
        assert (e.non_strict, e.informational, e.closed_by, e.close_codes, e.clean) == (None, None, "us", [1000], True)


class TestAcceptedCloseCodes:
    @pytest.mark.parametrize(("rule_id", "codes"), [
        ("frame.client-unmasked", {1002}),
        ("utf8.text-invalid", {1007}),
        ("utf8.close-reason-invalid", {1007, 1002}),
        ("deflate.invalid-data", {1007, 1002}),
        ("deflate.window-bits", {1007, 1002}),
        ("deflate.context-takeover", {1007, 1002}),
        ("frame.message-too-big", {1009}),
        ("close.must-reply", {1002}),  # names no code: a protocol error
    ])
    def test_per_rule(self, rule_id: str, codes: set[int]) -> None:
        assert accepted_close_codes(RULES[rule_id]) == codes

    def test_an_alternative_needs_a_code_to_stand_beside(self) -> None:
        with pytest.raises(ValueError, match="no close code"):
            rule("test.bad-alternative", "RFC 6455 §7.4.1", "MUST", "x", also_accepted=(1002,))
        assert "test.bad-alternative" not in RULES
