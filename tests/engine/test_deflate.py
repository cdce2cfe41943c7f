"""RFC 7692: negotiation, the codec, and the detection of window and context violations."""

from __future__ import annotations

import os
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role
from conformance.engine.deflate import client_accept, client_offer, negotiated_codec, parse_offer, server_accept
from conformance.engine.rules import HandshakeError
from conformance.wire.deflate import DeflateCodec, DeflateParams, DeflateTooBigError
from conformance.wire.extheader import parse_extensions
from conformance.wire.frames import Frame, Opcode, serialize_frame


class TestSection7_1Negotiation:
    @pytest.mark.parametrize("params", [
        [("x_unknown", None)], [("server_no_context_takeover", None), ("server_no_context_takeover", None)],
        [("server_max_window_bits", "7")], [("server_max_window_bits", "16")], [("server_max_window_bits", "010")],
        [("server_max_window_bits", None)], [("server_no_context_takeover", "1")], [("client_max_window_bits", "abc")],
    ])
    def test_invalid_offers_are_declined(self, params: list[tuple[str, str | None]]) -> None:
        with pytest.raises(HandshakeError, match="deflate.offer-invalid"):
            parse_offer(params)
        assert server_accept([("permessage-deflate", params)]) is None

    def test_first_valid_offer_wins_and_only_its_parameters_apply(self) -> None:
        offers = parse_extensions([client_offer([{"server_max_window_bits": "16"},
                                                 {"server_no_context_takeover": True, "server_max_window_bits": 9},
                                                 {}])])
        params, response = server_accept(offers)  # type: ignore[misc]
        assert params.server_no_context_takeover and params.server_max_window_bits == 9
        assert response == [("server_no_context_takeover", None), ("server_max_window_bits", "9")]

    def test_policy_and_client_checks(self) -> None:
        offer = [("client_max_window_bits", None)]
        got = server_accept([("permessage-deflate", offer)], [{"client_max_window_bits": 10}])
        assert got is not None and got[1] == [("client_max_window_bits", "10")]
        assert client_accept(got[1], [parse_offer(offer)]).client_max_window_bits == 10
        with pytest.raises(HandshakeError, match="deflate.response-invalid"):
            client_accept([("client_max_window_bits", "10")], [parse_offer([])])
        with pytest.raises(HandshakeError, match="deflate.response-invalid"):
            client_accept([("x_other", None)], [parse_offer([])])


class TestSection7_2Codec:
    def test_rfc_hello_example(self) -> None:
        codec = DeflateCodec(role="client", params=DeflateParams())
        assert codec.decode(bytes.fromhex("f248cdc9c90700"), True) == b"Hello"

    @given(st.lists(st.binary(max_size=3000), min_size=1, max_size=5), st.sampled_from([9, 10, 12, 15]),
           st.booleans())
    @settings(max_examples=60, deadline=None)
    def test_round_trip(self, messages: list[bytes], bits: int, no_takeover: bool) -> None:
        params = DeflateParams(no_takeover, no_takeover, bits, bits)
        sender = DeflateCodec(role="server", params=params)
        receiver = DeflateCodec(role="client", params=params)
        for m in messages:
            half = len(m) // 2
            wire = [sender.encode(m[:half], False), sender.encode(m[half:], True)]
            assert receiver.decode(wire[0], False) + receiver.decode(wire[1], True) == m

    def test_interoperates_with_wsproto(self) -> None:
        from wsproto.extensions import PerMessageDeflate
        from wsproto.frame_protocol import Opcode as WOpcode
        from wsproto.frame_protocol import RsvBits

        theirs = PerMessageDeflate()
        theirs._enabled = True
        data = os.urandom(200) * 5
        ours = DeflateCodec(role="client", params=DeflateParams())
        from types import SimpleNamespace

        server_side = SimpleNamespace(client=False)  # wsproto asks its protocol object which side it is
        rsv, compressed = theirs.frame_outbound(server_side, WOpcode.BINARY, RsvBits(False, False, False),  # type: ignore[arg-type]
                                                data, True)
        assert rsv.rsv1 and ours.decode(bytes(compressed), True) == data

    def test_bomb_is_refused_within_the_limit(self) -> None:
        import tracemalloc

        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = c.compress(b"\0" * (256 * 1024 * 1024)) + c.flush(zlib.Z_SYNC_FLUSH)
        codec = DeflateCodec(role="client", params=DeflateParams(), max_message=1 << 20)
        tracemalloc.start()
        with pytest.raises(DeflateTooBigError):
            codec.decode(bomb[:-4], True)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 8 * 1024 * 1024


class TestViolations:
    def test_window_and_context_violations_are_named(self) -> None:
        block = os.urandom(600)
        wide = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = wide.compress(block + block) + wide.flush(zlib.Z_SYNC_FLUSH)
        c = Connection(Role.CLIENT, deflate=negotiated_codec(DeflateParams(True, False, 9, None), "client", None))
        c.receive_data(serialize_frame(Frame(Opcode.BINARY, data[:-4], rsv1=True)))
        assert [e.rule.id for e in c.events() if isinstance(e, ev.Failure)] == ["deflate.window-bits"]
        keep = zlib.compressobj(6, zlib.DEFLATED, -15)
        m1 = keep.compress(block) + keep.flush(zlib.Z_SYNC_FLUSH)
        m2 = keep.compress(block) + keep.flush(zlib.Z_SYNC_FLUSH)
        c = Connection(Role.CLIENT, deflate=negotiated_codec(DeflateParams(True, False, None, None), "client", None))
        c.receive_data(serialize_frame(Frame(Opcode.BINARY, m1[:-4], rsv1=True))
                       + serialize_frame(Frame(Opcode.BINARY, m2[:-4], rsv1=True)))
        assert [e.rule.id for e in c.events() if isinstance(e, ev.Failure)] == ["deflate.context-takeover"]

    @pytest.mark.parametrize(("frames", "rule"), [
        ([Frame(Opcode.TEXT, bytes.fromhex("f248"), fin=False, rsv1=True),
          Frame(Opcode.CONT, bytes.fromhex("cdc9c90700"), rsv1=True)], "deflate.rsv1-continuation"),
        ([Frame(Opcode.PING, b"p", rsv1=True)], "deflate.rsv1-control"),
        ([Frame(Opcode.TEXT, b"\xff\xff\xff\xff", rsv1=True)], "deflate.invalid-data"),
    ])
    def test_framing_rules(self, frames: list[Frame], rule: str) -> None:
        s = Connection(Role.SERVER, deflate=negotiated_codec(DeflateParams(), "server", None))
        s.receive_data(b"".join(serialize_frame(f, mask=b"abcd") for f in frames))
        assert [e.rule.id for e in s.events() if isinstance(e, ev.Failure)] == [rule]
