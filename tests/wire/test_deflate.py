"""conformance/wire/deflate.py: parameters, the per-message codec, RFC 7692 §7.2.3 examples,
window and context checks, bounded inflation, and interoperation with wsproto."""

from __future__ import annotations

import os
import random
import time
import tracemalloc
import zlib
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.wire.deflate import DeflateCodec, DeflateDataError, DeflateParams, DeflateTooBigError
from tests.wire.deflate_data import compressible

h = bytes.fromhex
SYNC = zlib.Z_SYNC_FLUSH


def codec(role: str = "client", max_message: int | None = None, **params: object) -> DeflateCodec:
    return DeflateCodec(role=role, params=DeflateParams(**params), max_message=max_message)  # type: ignore[arg-type]


def raw(*messages: bytes, bits: int = 15, level: int = 6) -> list[bytes]:
    """Messages compressed by plain zlib with one shared context, tails removed (§7.2.1)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -bits)
    return [(c.compress(m) + c.flush(SYNC))[:-4] for m in messages]


def exact_inflate(data: bytes, bits: int) -> bytes:
    """Inflate one octet per call: zlib then rejects every reference past the window exactly."""
    d = zlib.decompressobj(-bits)
    out = []
    while data:
        out.append(d.decompress(data, 1))
        data = d.unconsumed_tail
    while chunk := d.decompress(b"", 1):
        out.append(chunk)
    return b"".join(out)




class TestSection7_1Parameters:
    def test_header_value_lists_every_parameter(self) -> None:
        p = DeflateParams(True, True, 10, 12)
        assert p.header_value() == ("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                                    "server_max_window_bits=10; client_max_window_bits=12")
        assert DeflateParams().header_value() == "permessage-deflate"
        assert DeflateParams(client_max_window_bits=True).to_header_params() == [("client_max_window_bits", None)]

    @pytest.mark.parametrize("kw", [{"server_max_window_bits": 7}, {"server_max_window_bits": 16},
                                    {"server_max_window_bits": True}, {"client_max_window_bits": 16}])
    def test_out_of_range_bits_are_refused(self, kw: dict[str, object]) -> None:
        with pytest.raises(ValueError):
            DeflateParams(**kw)  # type: ignore[arg-type]

    def test_window_and_takeover_per_side(self) -> None:
        p = DeflateParams(True, False, 9, True)
        assert (p.window("server"), p.window("client")) == (9, 15)
        assert (p.no_takeover("server"), p.no_takeover("client")) == (True, False)

    def test_role_is_checked(self) -> None:
        with pytest.raises(ValueError):
            DeflateCodec(role="peer", params=DeflateParams())


class TestSection7_2_3Examples:
    """The byte sequences of RFC 7692 §7.2.3, inflated by the receiving side."""

    def test_one_block(self) -> None:  # §7.2.3.1
        assert codec().decode(h("f248cdc9c90700"), True) == b"Hello"

    def test_one_block_in_two_frames(self) -> None:  # §7.2.3.1, fragmented
        c = codec()
        assert c.decode(h("f248cd"), False) + c.decode(h("c9c90700"), True) == b"Hello"

    def test_shared_window(self) -> None:  # §7.2.3.2
        c = codec()
        assert [c.decode(h("f248cdc9c90700"), True), c.decode(h("f20011 0000"), True)] == [b"Hello"] * 2

    def test_shared_window_refused_without_context_takeover(self) -> None:
        c = codec(server_no_context_takeover=True)
        c.decode(h("f248cdc9c90700"), True)
        with pytest.raises(DeflateDataError) as err:
            c.decode(h("f20011 0000"), True)
        assert err.value.hint == "context"

    def test_stored_block(self) -> None:  # §7.2.3.3
        assert codec().decode(h("000500faff48656c6c6f00"), True) == b"Hello"

    def test_bfinal_block_then_empty_stored_block(self) -> None:  # §7.2.3.4
        c = codec()
        assert c.decode(h("f348cdc9c90700 00"), True) == b"Hello"
        assert c.decode(h("f20011 0000"), True) == b"Hello"  # the history survives the final block

    @pytest.mark.parametrize("fragment", [100, 1000, 5000])
    @pytest.mark.parametrize("no_takeover", [False, True])
    def test_bfinal_block_inside_a_fragmented_message(self, fragment: int, no_takeover: bool) -> None:  # §7.2.3.4
        """After a final block the blocks go on with the history: the message's earlier frames
        included (the second part here refers back to the first frames of the message), and the
        next message sees the whole of this one."""
        first = random.Random(3).randbytes(3000)
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        wire = c.compress(first) + c.flush(zlib.Z_FINISH)
        c = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=first)
        wire += (c.compress(first[:2000]) + c.flush(SYNC))[:-4]
        parts = [wire[i : i + fragment] for i in range(0, len(wire), fragment)]
        d = codec("server", client_no_context_takeover=no_takeover)
        assert b"".join(d.decode(p, k == len(parts) - 1) for k, p in enumerate(parts)) == first + first[:2000]
        if no_takeover:
            return
        c = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=first + first[:2000])
        again = c.compress(b"x") + c.flush(zlib.Z_FINISH)  # a final block first, then references
        c = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=first + first[:2000] + b"x")  # to the first frames
        again += (c.compress(first[2000:2600]) + c.flush(SYNC))[:-4]
        assert d.decode(again, True) == b"x" + first[2000:2600]

    @pytest.mark.parametrize("no_takeover", [False, True])
    def test_after_a_final_block_the_history_holds_the_earlier_frames(self, no_takeover: bool) -> None:
        """A final block in a message's second frame; the blocks after it refer back into the
        first frame's output, which the decompressor started after it must know (§7.2.3.4)."""
        first = compressible(3000, seed=5)
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        frame1 = c.compress(first) + c.flush(SYNC)
        rest = zlib.compressobj(6, zlib.DEFLATED, -15, zdict=first)
        again = first[-1500:]
        frame2 = c.flush(zlib.Z_FINISH) + (rest.compress(again) + rest.flush(SYNC))[:-4]
        receiver = codec(server_no_context_takeover=no_takeover)
        assert receiver.decode(frame1, False) + receiver.decode(frame2, True) == first + again

    def test_bfinal_block_without_the_empty_block_is_cut_short(self) -> None:  # §7.2.1 step 2
        with pytest.raises(DeflateDataError):
            codec().decode(h("f348cdc9c90700"), True)

    def test_a_lenient_receiver_inflates_what_it_can_and_says_so(self) -> None:  # §7.2.2, the fuzz oracle's model
        c = codec()
        c.check_boundary = False
        assert c.decode(h("f348cdc9c90700"), True) == b"Hello" and c.cut_short  # the empty block left out
        c = codec()
        c.check_boundary = False
        assert c.decode(h("4a064c"), True) == b"c\x10" and c.cut_short  # a final block ending in the tail
        c = codec()
        c.check_boundary = False
        assert c.decode(h("f248cdc9c90700"), True) == b"Hello" and not c.cut_short  # a correct message
        with pytest.raises(DeflateDataError):
            codec().decode(h("4a064c"), True)  # the strict receiver refuses it

    def test_two_blocks(self) -> None:  # §7.2.3.5
        assert codec().decode(h("f2480500 0000ffff cac9c90700"), True) == b"Hello"

    def test_empty_fragment(self) -> None:  # §7.2.3.6
        c = codec()
        assert c.decode(h("f248cdc9c907000000ffff"), False) + c.decode(h("00"), True) == b"Hello"
        assert codec().decode(h("00"), True) == b""

    @pytest.mark.parametrize("payload", ["ffffffff", "f248cd", "f248cdc9c9", "0005 00faff 4865"])
    def test_damaged_or_truncated_messages_do_not_inflate(self, payload: str) -> None:
        with pytest.raises(DeflateDataError) as err:
            codec().decode(h(payload), True)
        assert err.value.hint is None

    def test_encoder_output_for_hello_and_empty(self) -> None:
        c = codec("server")
        assert c.encode(b"Hello", True) == h("f248cdc9c90700")
        assert c.encode(b"", True) == h("00")


class TestSection7_2RoundTrip:
    @pytest.mark.parametrize("bits", range(8, 16))
    @pytest.mark.parametrize("no_takeover", [False, True])
    def test_every_window(self, bits: int, no_takeover: bool) -> None:
        p = {"server_no_context_takeover": no_takeover, "server_max_window_bits": bits}
        sender, receiver = codec("server", **p), codec("client", **p)
        messages = [compressible(5000, i) for i in range(4)] + [b"", b"x"]
        for m in messages:
            parts = [m[:1000], m[1000:1001], m[1001:]]
            wire = [sender.encode(parts[0], False), sender.encode(parts[1], False), sender.encode(parts[2], True)]
            assert b"".join(receiver.decode(w, i == 2) for i, w in enumerate(wire)) == m

    def test_context_takeover_shrinks_repeats(self) -> None:
        m = compressible(2000)
        keep, fresh = codec("server"), codec("server", server_no_context_takeover=True)
        assert [len(keep.encode(m, True)) < 60 for _ in range(2)] == [False, True]
        assert len(fresh.encode(m, True)) == len(fresh.encode(m, True)) > 100

    @pytest.mark.parametrize("bits", range(8, 15))
    def test_sender_stays_inside_its_window(self, bits: int) -> None:
        data = compressible(20000, bits) + os.urandom(300) * 3
        wire = codec("client", client_max_window_bits=bits).encode(data, True)
        assert exact_inflate(wire + b"\x00\x00\xff\xff", bits) == data
        # A wider window is caught (9 bits is no wider than 8 for zlib: see the module docstring).
        wide = raw(data, bits=bits + 1 if bits > 8 else 10)[0]
        with pytest.raises(zlib.error, match="too far back"):
            exact_inflate(wide + b"\x00\x00\xff\xff", bits)

    @given(st.lists(st.tuples(st.binary(max_size=2000), st.integers(0, 2000)), min_size=1, max_size=4),
           st.integers(9, 15), st.booleans())
    @settings(max_examples=40, deadline=None)
    def test_any_split(self, messages: list[tuple[bytes, int]], bits: int, no_takeover: bool) -> None:
        p = {"client_no_context_takeover": no_takeover, "client_max_window_bits": bits}
        sender, receiver = codec("client", **p), codec("server", **p)
        for m, cut in messages:
            first, last = sender.encode(m[:cut], False), sender.encode(m[cut:], True)
            assert receiver.decode(first, False) + receiver.decode(last, True) == m


class TestSection7_1_2WindowViolations:
    @pytest.mark.parametrize("bits", range(9, 15))
    def test_wider_window_is_detected(self, bits: int) -> None:
        block = os.urandom((1 << bits) + 200)
        c = codec(server_max_window_bits=bits)
        with pytest.raises(DeflateDataError, match="too far back") as err:
            c.decode(raw(block + block, bits=bits + 1)[0], True)
        assert err.value.hint == "window"

    @pytest.mark.parametrize("bits", range(9, 15))
    def test_negotiated_window_passes(self, bits: int) -> None:
        block = os.urandom((1 << bits) - 300)
        assert codec(server_max_window_bits=bits).decode(raw(block + block, bits=bits)[0], True) == block * 2

    def test_window_violation_across_messages_with_takeover(self) -> None:
        block = os.urandom(700)
        first, second = raw(block, block, bits=15)
        c = codec(server_max_window_bits=9)
        with pytest.raises(DeflateDataError) as err:
            c.decode(first, True)
            c.decode(second, True)
        assert err.value.hint == "window"

    def test_window_violation_in_a_later_frame_without_takeover(self) -> None:
        block = os.urandom(700)
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        frames = [comp.compress(block) + comp.flush(SYNC), (comp.compress(block) + comp.flush(SYNC))[:-4]]
        c = codec(server_max_window_bits=9, server_no_context_takeover=True)
        c.decode(frames[0], False)
        with pytest.raises(DeflateDataError) as err:
            c.decode(frames[1], True)
        assert err.value.hint == "window"  # within the message: the window, not the context


class TestSection7_1_1ContextViolations:
    def test_history_of_an_earlier_message_is_refused(self) -> None:
        block = os.urandom(600)
        first, second = raw(block, block)
        assert codec().decode(first, True) == block  # with takeover agreed it is fine ...
        c = codec(server_no_context_takeover=True)
        c.decode(first, True)
        with pytest.raises(DeflateDataError) as err:  # ... without, it is the context rule
            c.decode(second, True)
        assert err.value.hint == "context"

    def test_reference_before_the_stream_is_plain_damage(self) -> None:
        block = os.urandom(600)
        second = raw(block, block)[1]
        with pytest.raises(DeflateDataError) as err:
            codec().decode(second, True)
        assert err.value.hint is None


class TestBoundedInflation:
    def test_limit_is_exact_and_spans_frames(self) -> None:
        data = compressible(3000)
        wire = raw(data)[0]
        assert codec(max_message=3000).decode(wire, True) == data
        with pytest.raises(DeflateTooBigError):
            codec(max_message=2999).decode(wire, True)
        c = codec(max_message=4000)
        first = raw(data)[0] + b"\x00\x00\xff\xff"
        c.decode(first, False)
        with pytest.raises(DeflateTooBigError):
            c.decode(raw(data, data)[1], True)

    @pytest.mark.parametrize("bits", [15, 9])
    def test_gigabyte_bomb_fails_fast_in_little_memory(self, bits: int) -> None:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = comp.compress(b"\0" * (1 << 20)) + comp.flush(SYNC)
        step = comp.compress(b"\0" * (1 << 20)) + comp.flush(SYNC)  # the same octets for every later MiB
        assert codec().decode(head + step * 3, False) == b"\0" * (4 << 20)  # the construction is right
        bomb = head + step * 1023  # 1 GiB inflated
        limit = 1 << 20
        c = codec(max_message=limit, server_max_window_bits=bits)
        tracemalloc.start()
        start = time.process_time()
        try:
            with pytest.raises(DeflateTooBigError):
                c.decode(bomb, True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert time.process_time() - start < 5
        assert peak < len(bomb) + 2 * limit + (1 << 20), peak


class TestInteroperation:
    """Differential: wsproto's PerMessageDeflate and this codec read each other's messages."""

    @staticmethod
    def wsproto(bits: int, no_takeover: bool) -> object:
        from wsproto.extensions import PerMessageDeflate

        ext = PerMessageDeflate(client_no_context_takeover=no_takeover, client_max_window_bits=bits,
                                server_no_context_takeover=no_takeover, server_max_window_bits=bits)
        ext._enabled = True
        return ext

    @given(st.lists(st.binary(max_size=3000) | st.sampled_from([compressible(4000), b"ab" * 3000]),
                    min_size=1, max_size=5),
           st.integers(9, 15), st.booleans())
    @settings(max_examples=40, deadline=None)
    def test_theirs_to_ours(self, messages: list[bytes], bits: int, no_takeover: bool) -> None:
        from wsproto.frame_protocol import Opcode, RsvBits

        theirs: Any = self.wsproto(bits, no_takeover)
        ours = codec("client", server_max_window_bits=bits, server_no_context_takeover=no_takeover)
        server = SimpleNamespace(client=False)
        for m in messages:
            half = len(m) // 2
            rsv, first = theirs.frame_outbound(server, Opcode.BINARY, RsvBits(False, False, False), m[:half], False)
            _, last = theirs.frame_outbound(server, Opcode.CONTINUATION, RsvBits(False, False, False), m[half:], True)
            assert rsv.rsv1
            assert ours.decode(bytes(first), False) + ours.decode(bytes(last), True) == m

    @given(st.lists(st.binary(max_size=3000) | st.sampled_from([compressible(4000), b"ab" * 3000]),
                    min_size=1, max_size=5),
           st.integers(9, 15), st.booleans())
    @settings(max_examples=40, deadline=None)
    def test_ours_to_theirs(self, messages: list[bytes], bits: int, no_takeover: bool) -> None:
        from wsproto.frame_protocol import Opcode, RsvBits

        theirs: Any = self.wsproto(bits, no_takeover)
        ours = codec("client", client_max_window_bits=bits, client_no_context_takeover=no_takeover)
        server = SimpleNamespace(client=False)
        for m in messages:
            half = len(m) // 2
            got = b""
            for i, (part, fin) in enumerate([(m[:half], False), (m[half:], True)]):
                opcode = Opcode.BINARY if i == 0 else Opcode.CONTINUATION
                theirs.frame_inbound_header(server, opcode, RsvBits(i == 0, False, False), 0)
                got += theirs.frame_inbound_payload_data(server, ours.encode(part, fin))
                got += theirs.frame_inbound_complete(server, fin) or b""
            assert got == m


class TestDamagedInput:
    """Any payload inflates or raises one of the two documented errors, and quickly: a damaged
    message never makes the codec spin (the replay that names the broken rule stays bounded)."""

    @given(st.binary(max_size=3000) | st.sampled_from([b"\0" * 200_000, os.urandom(3000) * 20]),
           st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4),
           st.sampled_from([8, 9, 12, 15]), st.booleans(), st.sampled_from([None, 10, 100_000]),
           st.sampled_from([0, 1, 9]))
    @settings(max_examples=60, deadline=None)
    def test_decode_terminates(self, data: bytes, damage: list[tuple[int, int]], bits: int, reset: bool,
                               limit: int | None, level: int) -> None:
        wire = bytearray(raw(data, data, bits=15, level=level)[1])
        for where, value in damage:
            if wire:
                wire[where % len(wire)] = value
        c = codec(max_message=limit, server_max_window_bits=bits, server_no_context_takeover=reset)
        start = time.process_time()
        try:
            c.decode(bytes(wire[: len(wire) // 2]), False)
            c.decode(bytes(wire[len(wire) // 2:]), True)
        except (DeflateDataError, DeflateTooBigError):
            pass
        assert time.process_time() - start < 5

    def test_naming_the_rule_costs_no_more_than_the_failure(self) -> None:
        # A window violation early in a message followed by 1 GiB of zeros: explaining the error
        # must not inflate the rest (no limit is set, so nothing else would stop it).
        block = os.urandom(600)
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        parts = [comp.compress(block + block) + comp.flush(SYNC)]
        parts += [comp.compress(b"\0" * (1 << 20)) + comp.flush(SYNC) for _ in range(3)]
        assert parts[2] == parts[3]  # after the first MiB every MiB of zeros is the same octets
        message = b"".join(parts[:2]) + parts[2] * 1022
        c = codec(server_max_window_bits=9, server_no_context_takeover=True)
        start = time.process_time()
        with pytest.raises(DeflateDataError) as err:
            c.decode(message, True)
        assert err.value.hint == "window"
        assert time.process_time() - start < 0.3  # CPU time: about 1 ms; replaying the whole message takes 0.6 s


class TestSpeedups:
    """zlib-ng for the full window and the reuse of a repeated message's compressed form change
    no octet that matters: what the codec sends inflates with stock zlib to the same message."""

    def test_full_window_uses_zlib_ng_and_narrow_windows_stock_zlib(self) -> None:
        pytest.importorskip("zlib_ng")
        from conformance.wire.deflate import zlib_module

        assert zlib_module(15).__name__ == "zlib_ng.zlib_ng"
        assert all(zlib_module(bits) is zlib for bits in range(8, 15))

    def test_compression_uses_zlib_ng_from_9_bits_and_stock_zlib_for_8(self) -> None:
        pytest.importorskip("zlib_ng")
        from conformance.wire.deflate import compressor_module

        assert all(compressor_module(bits).__name__ == "zlib_ng.zlib_ng" for bits in range(9, 16))
        assert compressor_module(8) is zlib

    @given(st.lists(st.sampled_from([compressible(20_000, seed=1), compressible(3000, seed=2), os.urandom(2000)]),
                    min_size=1, max_size=4), st.integers(8, 14), st.booleans())
    @settings(max_examples=30, deadline=None)
    def test_narrow_windows_are_kept_exactly(self, messages: list[bytes], bits: int, no_takeover: bool) -> None:
        """Inflated one octet per call with the agreed window, zlib rejects any reference past it."""
        ours = codec("client", client_max_window_bits=bits, client_no_context_takeover=no_takeover)
        payloads = [ours.encode(m, True) + b"\x00\x00\xff\xff" for m in messages]
        if no_takeover:
            assert [exact_inflate(p, max(bits, 9)) for p in payloads] == messages
        else:
            assert exact_inflate(b"".join(payloads), max(bits, 9)) == b"".join(messages)

    @given(st.lists(st.binary(max_size=3000) | st.sampled_from([compressible(40_000), b"ab" * 3000]),
                    min_size=1, max_size=5), st.booleans())
    @settings(max_examples=40, deadline=None)
    def test_ours_inflate_with_stock_zlib(self, messages: list[bytes], no_takeover: bool) -> None:
        ours = codec("client", client_no_context_takeover=no_takeover)
        d = zlib.decompressobj(-15)
        for m in messages:
            payload = ours.encode(m, True)
            if no_takeover:
                d = zlib.decompressobj(-15)
            assert d.decompress(payload + b"\x00\x00\xff\xff") == m

    @given(st.lists(st.binary(max_size=3000) | st.sampled_from([compressible(40_000)]),
                    min_size=1, max_size=5), st.booleans())
    @settings(max_examples=40, deadline=None)
    def test_stock_zlib_inflates_with_ours(self, messages: list[bytes], no_takeover: bool) -> None:
        ours = codec("client", server_no_context_takeover=no_takeover)
        payloads = [raw(m)[0] for m in messages] if no_takeover else raw(*messages)
        assert [ours.decode(p, True) for p in payloads] == messages

    def test_a_repeated_message_reuses_its_compressed_form_without_context_takeover(self) -> None:
        message = compressible(8192)
        ours = codec("client", client_no_context_takeover=True)
        first = ours.encode(message, True)
        again = ours.encode(bytes(bytearray(message)), True)  # equal octets, another object
        assert again is first
        assert zlib.decompressobj(-15).decompress(again + b"\x00\x00\xff\xff") == message

    def test_with_context_takeover_a_repeated_message_refers_back(self) -> None:
        message = compressible(8192)
        ours = codec("client")
        first = ours.encode(message, True)
        again = ours.encode(message, True)
        assert len(again) < len(first) // 4  # one back-reference to the first copy
        d = zlib.decompressobj(-15)
        assert [d.decompress(p + b"\x00\x00\xff\xff") for p in (first, again)] == [message, message]

    def test_a_fragment_is_never_taken_from_the_memo(self) -> None:
        message = compressible(8192)
        ours = codec("client", client_no_context_takeover=True)
        whole = ours.encode(message, True)
        head = ours.encode(message, False)  # the first frame of a longer message: a sync-flushed prefix
        tail = ours.encode(b"", True)
        assert head is not whole
        assert zlib.decompressobj(-15).decompress(head + tail + b"\x00\x00\xff\xff") == message

    def test_the_memo_stays_bounded(self) -> None:
        from conformance.wire import deflate as wd

        ours = codec("client", client_no_context_takeover=True)
        for i in range(3 * wd._MEMO_LIMIT // 65536):
            ours.encode(compressible(65536, seed=i), True)
        assert ours._forms.size <= wd._MEMO_LIMIT


TAIL = b"\x00\x00\xff\xff"


@pytest.fixture(params=["zlib-ng", "zlib"])
def compressor(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which zlib compresses: zlib-ng (the default from 9 bits) or stock zlib (as without zlib-ng)."""
    if request.param == "zlib-ng":
        pytest.importorskip("zlib_ng")
    else:
        from conformance.wire import deflate as wd

        monkeypatch.setattr(wd, "_zlib_ng", None)
    return str(request.param)


def inflated(wire: list[bytes], bits: int, no_takeover: bool = False) -> list[bytes]:
    """The messages as two receivers inflate them: this codec (small steps below 15 bits, so a
    reference past the window fails) and plain stock zlib with the agreed window; they must agree."""
    ours = codec("client", server_max_window_bits=bits, server_no_context_takeover=no_takeover)
    mine = [ours.decode(w, True) for w in wire]
    d = zlib.decompressobj(-max(bits, 9))
    plain = []
    for w in wire:
        if no_takeover:
            d = zlib.decompressobj(-max(bits, 9))
        plain.append(d.decompress(w + TAIL))
    assert plain == mine
    return mine


def repeats(messages: list[bytes], reach: int) -> int:
    """How many messages follow the same last `reach` octets of the stream, and are the same
    message, as one before them: at most these may be sent in an earlier form."""
    seen: set[tuple[bytes, bytes]] = set()
    stream = b""
    count = 0
    for m in messages:
        pair = (stream[-reach:], m)
        count += pair in seen
        seen.add(pair)
        stream += m
    return count


class TestSection7_2SendingAgain:
    """A whole message that follows the same last 2^wbits octets as before goes out in the form it
    was compressed to then (wire/deflate.py, "Sending again"): the receiver must still inflate
    every message, with the agreed window, to exactly what was sent."""

    @pytest.mark.parametrize("bits", range(8, 16))
    @pytest.mark.parametrize("share", [3, 1, -1, -3])  # message size: W/3, W - 1, W + 7, 3W + 100
    def test_a_long_run_then_another_message(self, bits: int, share: int, compressor: str) -> None:
        if bits == 8 and compressor == "zlib-ng":
            pytest.skip("8 bits is always compressed by stock zlib (with 9)")
        reach = 1 << max(bits, 9)  # what zlib may refer back to
        size = {3: reach // 3, 1: reach - 1, -1: reach + 7, -3: 3 * reach + 100}[share]
        m, other = compressible(size, seed=bits), compressible(size // 2 + 50, seed=100 + bits)
        copies = -(-reach // size)  # copies of m that fill the window
        run = copies + 4
        sender = codec("server", server_max_window_bits=bits)
        sender.level = 1
        messages = [other, *[m] * run, other, *[m] * 3, other]
        wire = [sender.encode(x, True) for x in messages]
        assert inflated(wire, bits) == messages
        # the run's first copy follows `other`, the next ones follow fewer copies than fill the
        # window: those are compressed anew; once `copies` copies fill it, the window is the same
        # before each later copy, whose form is the one computed after the window first filled
        assert repeats(messages, reach) >= sender.reused >= run - copies - 1
        first_again = 1 + copies + 1
        assert wire[first_again:1 + run] == [wire[first_again - 1]] * (run - copies - 1)
        # the message after the run and the copies after it are compressed anew (the window differs)
        assert wire[1 + run] != wire[0]

    @pytest.mark.parametrize("bits", range(8, 16))
    def test_a_new_message_after_forms_sent_again(self, bits: int, compressor: str) -> None:
        """Going round A B A B ..., the forms of the second round are sent again, so the compressor
        last saw a window (A's end) that is not the receiver's (B's end): before C it must take
        the receiver's window, or C refers to octets the receiver does not have there."""
        if bits == 8 and compressor == "zlib-ng":
            pytest.skip("8 bits is always compressed by stock zlib (with 9)")
        reach = 1 << max(bits, 9)
        a, b, c = (compressible(reach + 100, seed) for seed in (1, 2, 3))
        sender = codec("server", server_max_window_bits=bits)
        messages = [a, b, a, b, a, b, c, a, c, b]
        wire = [sender.encode(x, True) for x in messages]
        assert sender.reused >= 3
        assert inflated(wire, bits) == messages

    @pytest.mark.parametrize("no_takeover", [True, False])
    def test_messages_alike_where_they_are_sampled_are_told_apart(self, no_takeover: bool) -> None:
        """Messages are found by their length and a few sampled octets, then compared in full."""
        m = compressible(40_000)
        n = m[:1000] + bytes([m[1000] ^ 1]) + m[1001:]
        sender = codec("server", server_no_context_takeover=no_takeover)
        messages = [m] * 3 + [n] * 3 + [m] * 3 + [n] * 3
        wire = [sender.encode(x, True) for x in messages]
        assert sender.reused > 0
        assert inflated(wire, 15, no_takeover) == messages

    def test_the_first_copies_are_compressed_with_context(self, compressor: str) -> None:
        m = compressible(7000)
        sender = codec("server")
        wire = [sender.encode(m, True) for _ in range(6)]
        assert len(wire[1]) < len(wire[0]) // 4  # the second copy refers back to the first
        assert sender.reused == 0  # the window fills only after 5 copies: the 6th is new too
        assert inflated(wire, 15) == [m] * 6

    def test_corpus_slices_going_round_reuse_their_forms(self) -> None:
        """The volume cases (12.x, 13.x): rolling slices of a 1 MiB corpus, 128 KiB each."""
        from conformance.catalog.payload import PayloadSpec

        spec = PayloadSpec("corpus", size=1 << 17, corpus="json", rolling=True)
        messages = [spec.materialize(i << 17) for i in range(24)]
        sender = codec("server")
        wire = [sender.encode(x, True) for x in messages]
        assert inflated(wire, 15) == messages
        assert sender.reused == 24 - 9  # the first round of 8, then the first slice after the round's end

    @pytest.mark.parametrize("bits", [9, 11])
    def test_reused_forms_stay_inside_the_window(self, bits: int, compressor: str) -> None:
        """Inflated one octet per call, zlib rejects any reference past the agreed window."""
        m, other = compressible(700, seed=1) + os.urandom(400), compressible(1500, seed=2)
        sender = codec("client", client_max_window_bits=bits)
        messages = [m, other, *[m] * 8, other, m, m, *[other] * 6]
        wire = [sender.encode(x, True) for x in messages]
        assert repeats(messages, 1 << bits) >= sender.reused > 0
        assert exact_inflate(b"".join(w + TAIL for w in wire), bits) == b"".join(messages)

    @given(st.lists(st.tuples(st.sampled_from([0, 1, 2, 3, 4]), st.booleans()), min_size=1, max_size=24),
           st.integers(8, 15), st.booleans(), st.booleans())
    @settings(max_examples=60, deadline=None)
    def test_random_runs(self, picks: list[tuple[int, bool]], bits: int, no_takeover: bool, stock: bool) -> None:
        """Random sequences over a few messages (short ones, ones larger than small windows, an
        empty one), some sent in two frames: every message inflates to what was sent."""
        from conformance.wire import deflate as wd

        alphabet = [compressible(700, 1), compressible(3000, 2), compressible(9000, 3),
                    random.Random(4).randbytes(2000) * 2, b""]
        saved = wd._zlib_ng
        if stock:
            wd._zlib_ng = None
        try:
            sender = codec("server", server_max_window_bits=bits, server_no_context_takeover=no_takeover)
            messages, wire = [], []
            for pick, split in picks:
                x = alphabet[pick]
                if split:
                    half = len(x) // 2
                    wire.append(sender.encode(x[:half], False) + sender.encode(x[half:], True))
                else:
                    wire.append(sender.encode(x, True))
                messages.append(x)
        finally:
            wd._zlib_ng = saved
        assert inflated(wire, bits, no_takeover) == messages
        if not no_takeover:
            assert sender.reused <= repeats(messages, 1 << max(bits, 9))


class TestNarrowWindowsPastTheSmallSteps:
    """Below 15 bits, past the first _STRICT_BUDGET octets of a connection, zlib-ng inflates."""

    @staticmethod
    def receiver(monkeypatch: pytest.MonkeyPatch, bits: int, no_takeover: bool = False) -> DeflateCodec:
        from conformance.wire import deflate as wd

        monkeypatch.setattr(wd, "_STRICT_BUDGET", 20_000)
        return codec("client", server_max_window_bits=bits, server_no_context_takeover=no_takeover)

    @pytest.mark.parametrize("bits", range(8, 15))
    @pytest.mark.parametrize("no_takeover", [False, True])
    def test_the_stream_goes_on_in_zlib_ng(self, monkeypatch: pytest.MonkeyPatch, bits: int,
                                           no_takeover: bool) -> None:
        zlib_ng = pytest.importorskip("zlib_ng.zlib_ng")
        ours = self.receiver(monkeypatch, bits, no_takeover)
        messages = [compressible(7000, seed) for seed in range(8)]
        c = zlib.compressobj(6, zlib.DEFLATED, -max(bits, 9))
        wire = []
        for m in messages:
            wire.append((c.compress(m) + c.flush(SYNC))[:-4])
            if no_takeover:
                c = zlib.compressobj(6, zlib.DEFLATED, -max(bits, 9))
        assert [ours.decode(w, True) for w in wire] == messages
        assert ours._in_zlib is zlib_ng

    @pytest.mark.parametrize("bits", [9, 12, 14])
    def test_a_fragmented_message_ending_the_small_steps_stays_in_the_history(
            self, monkeypatch: pytest.MonkeyPatch, bits: int) -> None:
        """The message that spends the small steps' budget comes in two frames, the second of one
        octet; the next message refers back into the first frame: zlib-ng, primed with the window,
        must have been given the whole message, not only its last frame."""
        ours = self.receiver(monkeypatch, bits)
        c = zlib.compressobj(6, zlib.DEFLATED, -bits)
        for seed in range(2):  # 14,000 octets: the next message spends the budget of 20,000
            m = compressible(7000, seed)
            assert ours.decode((c.compress(m) + c.flush(SYNC))[:-4], True) == m
        big = compressible(8000, seed=9)
        first = ours.decode(c.compress(big) + c.flush(SYNC), False)
        assert first + ours.decode((c.compress(b"x") + c.flush(SYNC))[:-4], True) == big + b"x"
        assert ours._in_zlib is not zlib
        again = big[-(1 << bits) // 2:]
        assert ours.decode((c.compress(again) + c.flush(SYNC))[:-4], True) == again

    @pytest.mark.parametrize("bits", range(9, 15))
    def test_a_reference_past_the_window_is_still_refused(self, monkeypatch: pytest.MonkeyPatch, bits: int) -> None:
        pytest.importorskip("zlib_ng")
        ours = self.receiver(monkeypatch, bits)
        block = os.urandom((1 << bits) + 100)
        # each from a fresh compressor, so inside the agreement; then a block twice with a wider
        # window: the second copy refers to the first, a window and more back
        packed = [raw(compressible(7000, seed), bits=bits)[0] for seed in range(4)] + raw(block, block, bits=15)
        for p in packed[:-1]:
            ours.decode(p, True)
        assert ours._in_zlib is not zlib
        with pytest.raises(DeflateDataError, match="too far back") as err:
            ours.decode(packed[-1], True)
        assert err.value.hint == "window"

    @given(st.lists(st.sampled_from([compressible(9000, 1), compressible(3000, 2), os.urandom(1500), b""]),
                    min_size=1, max_size=12), st.integers(9, 14), st.booleans())
    @settings(max_examples=40, deadline=None)
    def test_zlib_ng_and_stock_zlib_inflate_the_same(self, messages: list[bytes], bits: int, no_takeover: bool) -> None:
        """Differential: with and without zlib-ng, the same messages from the same stream."""
        from conformance.wire import deflate as wd

        c = zlib.compressobj(6, zlib.DEFLATED, -bits)
        wire = []
        for m in messages:
            wire.append((c.compress(m) + c.flush(SYNC))[:-4])
            if no_takeover:
                c = zlib.compressobj(6, zlib.DEFLATED, -bits)
        saved, budget = wd._zlib_ng, wd._STRICT_BUDGET
        try:
            wd._STRICT_BUDGET = 5000
            fast = codec("client", server_max_window_bits=bits, server_no_context_takeover=no_takeover)
            wd._zlib_ng = None
            stock = codec("client", server_max_window_bits=bits, server_no_context_takeover=no_takeover)
            got = [stock.decode(w, True) for w in wire]
            wd._zlib_ng = saved
            assert [fast.decode(w, True) for w in wire] == got == messages
        finally:
            wd._zlib_ng, wd._STRICT_BUDGET = saved, budget
