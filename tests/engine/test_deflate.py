"""conformance/engine/deflate.py: RFC 7692 negotiation, and each rule enforced through a Connection."""

from __future__ import annotations

import os
import random
import zlib
from typing import Any

import pytest

from conformance.engine import deflate as d
from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role
from conformance.engine.rules import RULES, HandshakeError
from conformance.wire.deflate import DeflateDataError, DeflateParams
from conformance.wire.extheader import parse_extensions
from conformance.wire.frames import Frame, Opcode, serialize_frame

Params = list[tuple[str, str | None]]
HELLO = bytes.fromhex("f248cdc9c90700")
PLAIN = DeflateParams()


def failures(conn: Connection, *frames: Frame) -> list[tuple[str, int | None]]:
    mask = b"abcd" if conn.role is Role.SERVER else None
    conn.receive_data(b"".join(serialize_frame(f, mask=mask) for f in frames))
    return [(e.rule.id, e.close_code) for e in conn.events() if isinstance(e, ev.Failure)]


def messages(conn: Connection) -> list[bytes]:
    return [e.data for e in conn.events() if isinstance(e, ev.Message)]


def server(params: DeflateParams = PLAIN) -> Connection:
    return Connection(Role.SERVER, deflate=d.negotiated_codec(params, "server", None))


def client(params: DeflateParams = PLAIN) -> Connection:
    return Connection(Role.CLIENT, deflate=d.negotiated_codec(params, "client", None))


def zlib_messages(*ms: bytes, bits: int = 15) -> list[bytes]:
    c = zlib.compressobj(6, zlib.DEFLATED, -bits)
    return [(c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4] for m in ms]


class TestRules:
    def test_ids_sections_and_codes(self) -> None:
        want = {"deflate.rsv1-continuation": 1002, "deflate.rsv1-control": 1002, "deflate.invalid-data": 1007,
                "deflate.window-bits": 1007, "deflate.context-takeover": 1007, "deflate.offer-invalid": None,
                "deflate.response-invalid": None, "deflate.response-unoffered": None}
        assert {k: RULES[k].close_code for k in want} == want
        assert all(RULES[k].section.startswith("RFC 7692 §") for k in want)

    def test_rule_for_maps_hints(self) -> None:
        assert d.rule_for(DeflateDataError("x", "window")) is d.WINDOW_BITS
        assert d.rule_for(DeflateDataError("x", "context")) is d.CONTEXT_TAKEOVER
        assert d.rule_for(DeflateDataError("x")) is d.INVALID_DATA


class TestSection6_1Framing:
    @pytest.mark.parametrize("fragment", [0, 2])
    def test_a_message_can_be_sent_uncompressed_with_deflate_agreed(self, fragment: int) -> None:
        c, s = client(), server()
        c.send_message(b"Hello", fragment=fragment, compress=False)
        wire = c.data_to_send()
        assert wire[0] & 0x40 == 0, "RSV1 must be clear on an uncompressed message"
        s.receive_data(wire)
        assert messages(s) == [b"Hello"]
        c.send_message(b"Hello", fragment=fragment)
        assert c.data_to_send()[0] & 0x40, "compressed by default once agreed"

    def test_rsv1_on_first_frame_only_is_fine(self) -> None:
        s = server()
        s.receive_data(serialize_frame(Frame(Opcode.TEXT, HELLO[:3], fin=False, rsv1=True), mask=b"abcd")
                       + serialize_frame(Frame(Opcode.CONT, HELLO[3:]), mask=b"abcd"))
        got = list(s.events())
        assert [e for e in got if isinstance(e, ev.Failure)] == []
        assert [e.data for e in got if isinstance(e, ev.Message)] == [b"Hello"]

    def test_rsv1_on_continuation(self) -> None:
        got = failures(server(), Frame(Opcode.TEXT, HELLO[:3], fin=False, rsv1=True),
                       Frame(Opcode.CONT, HELLO[3:], rsv1=True))
        assert got == [("deflate.rsv1-continuation", 1002)]

    @pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
    def test_rsv1_on_control(self, opcode: Opcode) -> None:
        assert failures(server(), Frame(opcode, b"", rsv1=True)) == [("deflate.rsv1-control", 1002)]

    def test_control_without_rsv1_is_fine(self) -> None:
        assert failures(server(), Frame(Opcode.PING, b"p")) == []

    def test_uncompressed_message_after_negotiation(self) -> None:
        s = server()
        s.receive_data(serialize_frame(Frame(Opcode.TEXT, b"Hello"), mask=b"abcd"))
        assert messages(s) == [b"Hello"]


class TestSection6_2Inflating:
    @pytest.mark.parametrize("payload", ["ffffffff", "f248cd", "f348cdc9c90700"])
    def test_invalid_data(self, payload: str) -> None:
        got = failures(server(), Frame(Opcode.BINARY, bytes.fromhex(payload), rsv1=True))
        assert got == [("deflate.invalid-data", 1007)]

    def test_window_bits(self) -> None:
        block = os.urandom(600)
        wide = zlib_messages(block + block)[0]
        c = client(DeflateParams(server_max_window_bits=9))
        assert failures(c, Frame(Opcode.BINARY, wide, rsv1=True)) == [("deflate.window-bits", 1007)]
        narrow = zlib_messages(block[:200] * 2, bits=9)[0]
        c = client(DeflateParams(server_max_window_bits=9))
        assert failures(c, Frame(Opcode.BINARY, narrow, rsv1=True)) == []

    def test_context_takeover(self) -> None:
        block = os.urandom(600)
        m1, m2 = zlib_messages(block, block)
        frames = [Frame(Opcode.BINARY, m, rsv1=True) for m in (m1, m2)]
        assert failures(client(), *frames) == []
        got = failures(client(DeflateParams(server_no_context_takeover=True)), *frames)
        assert got == [("deflate.context-takeover", 1007)]

    def test_client_side_checks_the_client_parameters(self) -> None:
        block = os.urandom(600)
        m1, m2 = zlib_messages(block, block)
        frames = [Frame(Opcode.BINARY, m, rsv1=True) for m in (m1, m2)]
        assert failures(server(DeflateParams(server_no_context_takeover=True)), *frames) == []
        got = failures(server(DeflateParams(client_no_context_takeover=True)), *frames)
        assert got == [("deflate.context-takeover", 1007)]

    def test_round_trip_through_two_connections(self) -> None:
        params = DeflateParams(True, True, 10, 11)
        a, b = client(params), server(params)
        for m in [b"x" * 5000, os.urandom(3000), b""]:
            a.send_message(m, fragment=700)
            b.receive_data(a.data_to_send())
            assert messages(b) == [m]


class TestSection7_1Offers:
    @pytest.mark.parametrize("params", [
        [("x_unknown", None)],
        [("server_no_context_takeover", None), ("server_no_context_takeover", None)],
        [("client_max_window_bits", None), ("Client_Max_Window_Bits", "10")],
        [("server_max_window_bits", "7")], [("server_max_window_bits", "16")], [("server_max_window_bits", "010")],
        [("server_max_window_bits", "09")], [("server_max_window_bits", "+9")], [("server_max_window_bits", "9\n")],
        [("server_max_window_bits", "")], [("server_max_window_bits", None)],
        [("server_no_context_takeover", "1")], [("client_no_context_takeover", "")],
        [("client_max_window_bits", "abc")], [("client_max_window_bits", "1 5")],
    ])
    def test_invalid_offers_are_declined(self, params: Params) -> None:
        with pytest.raises(HandshakeError) as err:
            d.parse_offer(params)
        assert err.value.rule is d.OFFER_INVALID
        assert d.server_accept([("permessage-deflate", params)]) is None  # declined, not raised

    @pytest.mark.parametrize(("params", "want"), [
        ([], DeflateParams()),
        ([("server_no_context_takeover", None)], DeflateParams(server_no_context_takeover=True)),
        ([("client_no_context_takeover", None)], DeflateParams(client_no_context_takeover=True)),
        ([("server_max_window_bits", "8")], DeflateParams(server_max_window_bits=8)),
        ([("server_max_window_bits", "15")], DeflateParams(server_max_window_bits=15)),
        ([("client_max_window_bits", None)], DeflateParams(client_max_window_bits=True)),
        ([("CLIENT_MAX_WINDOW_BITS", "12")], DeflateParams(client_max_window_bits=12)),
    ])
    def test_valid_offers(self, params: Params, want: DeflateParams) -> None:
        assert d.parse_offer(params) == want

    def test_client_offer_header(self) -> None:
        value = d.client_offer([{}, {"client_no_context_takeover": True, "server_max_window_bits": 9,
                                     "client_max_window_bits": True, "server_no_context_takeover": False},
                                {"server_max_window_bits": "010", "x": None}])
        assert value == ("permessage-deflate, permessage-deflate; client_no_context_takeover; "
                         "server_max_window_bits=9; client_max_window_bits, "
                         "permessage-deflate; server_max_window_bits=010")
        assert [name for name, _ in parse_extensions([value])] == ["permessage-deflate"] * 3


class TestSection7_1ServerAccept:
    def test_first_readable_offer_wins_and_only_its_parameters_apply(self) -> None:
        offers = parse_extensions([d.client_offer([{"server_max_window_bits": "16"},
                                                   {"server_no_context_takeover": True, "server_max_window_bits": 9},
                                                   {}])])
        got = d.server_accept(offers)
        assert got is not None
        assert got == (DeflateParams(True, False, 9, None),
                       [("server_no_context_takeover", None), ("server_max_window_bits", "9")])

    def test_other_extensions_are_skipped(self) -> None:
        got = d.server_accept([("x-webkit-deflate-frame", []), ("PerMessage-Deflate", [])])
        assert got == (DeflateParams(), [])

    @pytest.mark.parametrize(("offer", "want"), [
        ([("client_max_window_bits", None)], []),  # bare: nothing to answer by default
        ([("client_max_window_bits", "10")], [("client_max_window_bits", "10")]),
        ([("client_no_context_takeover", None)], [("client_no_context_takeover", None)]),
    ])
    def test_default_policy_answers_the_offer_as_it_is(self, offer: Params, want: Params) -> None:
        got = d.server_accept([("permessage-deflate", offer)])
        assert got is not None and got[1] == want

    @pytest.mark.parametrize(("offer", "policy", "want"), [
        ([("client_max_window_bits", None)], [{"client_max_window_bits": 10}], [("client_max_window_bits", "10")]),
        ([("client_max_window_bits", "9")], [{"client_max_window_bits": 12}], [("client_max_window_bits", "9")]),
        ([("server_max_window_bits", "12")], [{"server_max_window_bits": 10}], [("server_max_window_bits", "10")]),
        ([("server_max_window_bits", "9")], [{"server_max_window_bits": 12}], [("server_max_window_bits", "9")]),
        ([], [{"server_max_window_bits": 9}], [("server_max_window_bits", "9")]),  # §7.1.2.1: may name it unasked
        ([], [{"server_no_context_takeover": True, "client_no_context_takeover": True}],
         [("server_no_context_takeover", None), ("client_no_context_takeover", None)]),
        ([("server_no_context_takeover", None)], [{}], [("server_no_context_takeover", None)]),
        ([], [{"client_max_window_bits": 9}, {}], []),  # §7.1.2.2: not offered, so that entry does not fit
    ])
    def test_policy(self, offer: Params, policy: list[dict[str, Any]], want: Params) -> None:
        got = d.server_accept([("permessage-deflate", offer)], policy)
        assert got is not None and got[1] == want
        assert d.parse_response(got[1]) == got[0]

    def test_nothing_fits(self) -> None:
        assert d.server_accept([("permessage-deflate", [])], [{"client_max_window_bits": 9}]) is None
        assert d.server_accept([("permessage-deflate", [])], []) is None
        assert d.server_accept([]) is None


class TestSection7_1ClientAccept:
    def offered(self, *offers: Params) -> list[DeflateParams]:
        return [d.parse_offer(o) for o in offers]

    @pytest.mark.parametrize(("response", "offers", "want"), [
        ([], [[]], DeflateParams()),
        ([("server_no_context_takeover", None)], [[]], DeflateParams(server_no_context_takeover=True)),
        ([("client_no_context_takeover", None)], [[]], DeflateParams(client_no_context_takeover=True)),
        ([], [[("client_no_context_takeover", None)]], DeflateParams(client_no_context_takeover=True)),
        ([("server_max_window_bits", "10")], [[]], DeflateParams(server_max_window_bits=10)),
        ([("server_max_window_bits", "9")], [[("server_max_window_bits", "10")]],
         DeflateParams(server_max_window_bits=9)),
        ([("client_max_window_bits", "9")], [[("client_max_window_bits", None)]],
         DeflateParams(client_max_window_bits=9)),
        ([], [[("client_max_window_bits", "11")]], DeflateParams(client_max_window_bits=11)),
        # 15 bits asked for, nothing said: the default window is 15 bits (aiohttp's answer in 13.4.x)
        ([], [[("server_max_window_bits", "15")]], DeflateParams()),
        # several offers: the first that the answer fits decides
        ([], [[("server_no_context_takeover", None)], [("client_max_window_bits", "12")]],
         DeflateParams(client_max_window_bits=12)),
    ])
    def test_accepted(self, response: Params, offers: list[Params], want: DeflateParams) -> None:
        assert d.client_accept(response, self.offered(*offers)) == want

    @pytest.mark.parametrize(("response", "offers"), [
        ([("x_unknown", None)], [[]]),
        ([("server_no_context_takeover", None)] * 2, [[]]),
        ([("server_no_context_takeover", "x")], [[]]),
        ([("server_max_window_bits", "16")], [[]]),
        ([("server_max_window_bits", None)], [[]]),
        ([("client_max_window_bits", None)], [[("client_max_window_bits", None)]]),  # a response needs a value
        ([("client_max_window_bits", "10")], [[]]),  # not offered
        ([("client_max_window_bits", "12")], [[("client_max_window_bits", "10")]]),  # larger than offered
        ([("server_max_window_bits", "12")], [[("server_max_window_bits", "10")]]),
        ([], [[("server_max_window_bits", "10")]]),  # asked for, not answered
        ([], [[("server_no_context_takeover", None)]]),  # asked for, not answered
    ])
    def test_refused(self, response: Params, offers: list[Params]) -> None:
        with pytest.raises(HandshakeError) as err:
            d.client_accept(response, self.offered(*offers))
        assert err.value.rule is d.RESPONSE_INVALID

    def test_unoffered(self) -> None:
        with pytest.raises(HandshakeError) as err:
            d.client_accept([], [])
        assert err.value.rule is d.RESPONSE_UNOFFERED


class TestNegotiatedCodec:
    def test_server_and_client_agree_end_to_end(self) -> None:
        header = d.client_offer([{"server_no_context_takeover": True, "server_max_window_bits": 9,
                                  "client_max_window_bits": True}, {}])
        offers = parse_extensions([header])
        got = d.server_accept(offers, [{"client_max_window_bits": 10}])
        assert got is not None
        params, response = got
        mine = d.client_accept(response, [d.parse_offer(p) for _, p in offers])
        assert mine == params == DeflateParams(True, False, 9, 10)
        sender, receiver = d.negotiated_codec(params, "server", None), d.negotiated_codec(mine, "client", 100)
        assert sender.level == 1 and receiver.max_message == 100
        assert receiver.decode(sender.encode(b"abc" * 30, True), True) == b"abc" * 30


class TestRecalledText:
    """RFC 6455 §8.1 through the receive memo: a compressed text message the codec recalls (the
    same octets it inflated and the engine validated before) is not decoded again, and its event
    carries the same text."""

    @staticmethod
    def receive(params: DeflateParams, sent: list[tuple[bytes, bool]], per_call: bool) -> list[ev.Event]:
        """The server's events for the client's messages (octets, is text), fed all at once or one
        message per call."""
        tx, rx = client(params), server(params)
        events: list[ev.Event] = []
        for data, text in sent:
            tx.send_message(data, text=text)
            if per_call:
                rx.receive_data(tx.data_to_send())
                events += rx.events()
        if not per_call:
            rx.receive_data(tx.data_to_send())
            events += rx.events()
        return events

    @pytest.mark.parametrize("per_call", [False, True])
    @pytest.mark.parametrize("params", [PLAIN, DeflateParams(client_no_context_takeover=True)])
    def test_a_recalled_text_is_validated_once_and_keeps_its_text(self, params: DeflateParams,
                                                                  per_call: bool) -> None:
        rnd = random.Random(7)
        texts = [" ".join(rnd.choice(["κόσμε", "alpha", "日本", "beta"]) + str(rnd.randrange(999))
                          for _ in range(700)).encode() for _ in range(3)]
        sent = [(texts[i % 3], True) for i in range(40)]
        events = self.receive(params, sent, per_call)
        got = [(e.data, e.text) for e in events if isinstance(e, ev.Message)]
        assert got == [(t, t.decode()) for t, _ in sent]
        # decoded once per stored copy: the recalled ones carry the very str decoded then
        assert len({id(text) for _, text in got}) <= 12

    @pytest.mark.parametrize("params", [PLAIN, DeflateParams(client_no_context_takeover=True)])
    def test_octets_recalled_from_a_binary_message_are_still_validated_as_text(self, params: DeflateParams) -> None:
        bad = b"\xff" + random.Random(7).randbytes(3000)  # not UTF-8, and does not compress
        events = self.receive(params, [(bad, False)] * 30 + [(bad, True)], per_call=True)
        assert [type(e) for e in events] == [ev.Message] * 30 + [ev.Failure]
        failure = events[-1]
        assert isinstance(failure, ev.Failure) and failure.rule.id == "utf8.text-invalid"
        assert rx_recalled(params, [bad] * 31) > 0  # the last one did come from the memo


class TestRecalledFragments:
    """A compressed message cut into frames (as 12.x.11-18 send them) that the codec recalls:
    the server's events are those of inflating every frame, and a broken frame in a message
    that began like a recalled one still fails the connection at that frame."""

    @staticmethod
    def stream(params: DeflateParams, count: int, fragment: int = 256) -> tuple[bytes, list[bytes]]:
        rnd = random.Random(11)
        pool = [bytes(rnd.choice(b"abcdefgh ") for _ in range(6000)) + str(i).encode() for i in range(4)]
        tx = client(params)
        sent = [pool[i % 4] for i in range(count)]
        for m in sent:
            tx.send_message(m, fragment=fragment, text=False)
        return tx.data_to_send(), sent

    @pytest.mark.parametrize("params", [PLAIN, DeflateParams(client_no_context_takeover=True)])
    def test_every_message_as_sent(self, params: DeflateParams) -> None:
        wire, sent = self.stream(params, 40)
        rx = server(params)
        for i in range(0, len(wire), 1000):  # frames arrive split anywhere
            rx.receive_data(wire[i:i + 1000])
        assert messages(rx) == sent
        assert int(rx.deflate.recalled) >= 20  # type: ignore[union-attr]

    @pytest.mark.parametrize("params", [PLAIN, DeflateParams(client_no_context_takeover=True)])
    @pytest.mark.parametrize("damage", [0, 100, 255])
    def test_a_frame_that_starts_as_a_recalled_one_is_judged_as_without_the_memo(
            self, params: DeflateParams, damage: int) -> None:
        """After 12 messages, the first frame of the next one with an octet changed, and no final
        frame: with the memo and without it, the same events (a failure at that frame, or none)."""
        wire, sent = self.stream(params, 13)
        last = 13 - 1
        head_at = len(self.stream(params, last)[0])
        header = 8 if wire[head_at + 1] & 0x7F == 126 else 6  # 16-bit length, then the mask key
        frame = bytearray(wire[head_at:head_at + header + 256])
        frame[header + damage] ^= 0x5A
        seen = []
        for recall in (True, False):
            rx = server(params)
            rx.deflate.recall = recall  # type: ignore[union-attr]
            rx.receive_data(wire[:head_at] + bytes(frame))
            seen.append([(type(e).__name__, getattr(e, "data", None), getattr(getattr(e, "rule", None), "id", None))
                         for e in rx.events()])
        assert seen[0] == seen[1]
        assert [d for kind, d, _ in seen[0] if kind == "Message"] == sent[:last]


def rx_recalled(params: DeflateParams, sent: list[bytes]) -> int:
    """How many of `sent` (binary, compressed by a client) a server's codec recalls."""
    tx, rx = client(params), server(params)
    for data in sent:
        tx.send_message(data, text=False)
    rx.receive_data(tx.data_to_send())
    list(rx.events())
    assert rx.deflate is not None
    return int(rx.deflate.recalled)  # type: ignore[attr-defined]
