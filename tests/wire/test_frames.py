"""RFC 6455 §5.2 / §5.3: the header codec and masking."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.wire.frames import (
    Frame,
    Opcode,
    PayloadBuffer,
    apply_mask,
    parse_header,
    serialize_fragments,
    serialize_frame,
    serialize_header,
    unmask_payloads,
    unmask_slice,
)


def _reference_mask(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


class TestSection5_2BaseFraming:
    @pytest.mark.parametrize(("length", "form", "header_len"), [
        (0, 7, 2), (125, 7, 2), (126, 16, 4), (65535, 16, 4), (65536, 64, 10)])
    def test_minimal_length_forms(self, length: int, form: int, header_len: int) -> None:
        raw = serialize_header(opcode=Opcode.BINARY, length=length)
        h = parse_header(raw)
        assert h is not None
        assert (h.length, h.length_form, h.header_len, h.minimal_length) == (length, form, header_len, True)

    @pytest.mark.parametrize(("length", "form"), [(5, 16), (5, 64), (200, 64), (125, 16)])
    def test_non_minimal_forms_decode_and_are_flagged(self, length: int, form: int) -> None:
        h = parse_header(serialize_header(opcode=Opcode.TEXT, length=length, length_form=form))
        assert h is not None and h.length == length and h.length_form == form
        assert not h.minimal_length

    def test_64_bit_length_with_top_bit_decodes_as_sent(self) -> None:
        raw = bytes([0x82, 0x7F]) + (1 << 63 | 5).to_bytes(8, "big")
        h = parse_header(raw)
        assert h is not None and h.length == (1 << 63 | 5)

    @pytest.mark.parametrize("opcode", range(16))
    def test_all_sixteen_opcodes_decode(self, opcode: int) -> None:
        h = parse_header(bytes([0x80 | opcode, 0]))
        assert h is not None and h.opcode == opcode
        assert h.opcode.is_reserved == (opcode in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15))
        assert h.opcode.is_control == (opcode >= 8)

    def test_flag_bits(self) -> None:
        h = parse_header(bytes([0x70 | 1, 0]))
        assert h is not None and (h.fin, h.rsv1, h.rsv2, h.rsv3) == (False, True, True, True)

    def test_every_prefix_of_a_header_is_incomplete(self) -> None:
        raw = serialize_frame(Frame(Opcode.TEXT, b"x" * 70000), mask=b"abcd")
        for i in range(14):
            assert parse_header(raw[:i]) is None
        assert parse_header(raw[:14]) is not None

    def test_length_form_too_small_is_refused(self) -> None:
        with pytest.raises(ValueError):
            serialize_header(opcode=1, length=200, length_form=7)
        with pytest.raises(ValueError):
            serialize_header(opcode=1, length=70000, length_form=16)

    def test_declared_length_can_lie(self) -> None:
        raw = serialize_frame(Frame(Opcode.TEXT, b"abc"), declared_length=10)
        h = parse_header(raw)
        assert h is not None and h.length == 10 and raw[h.header_len:] == b"abc"

    def test_opcode_names(self) -> None:
        assert Opcode.from_name("continuation") is Opcode.CONT
        assert Opcode.from_name("PING") is Opcode.PING
        assert Opcode.from_name(11) is Opcode.RESERVED_B
        assert Opcode.from_name("7") is Opcode.RESERVED_7
        with pytest.raises(ValueError):
            Opcode.from_name("bogus")


class TestSection5_3Masking:
    @pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 7, 8, 9, 2047, 2048, 2049, 4097, 100_003])
    def test_matches_reference_at_every_size(self, n: int) -> None:
        data, mask = os.urandom(n), os.urandom(4)
        assert apply_mask(data, mask) == _reference_mask(data, mask)
        assert apply_mask(apply_mask(data, mask), mask) == data

    def test_memoryview_and_bytearray_inputs(self) -> None:
        data, mask = os.urandom(5000), os.urandom(4)
        assert apply_mask(memoryview(data), mask) == apply_mask(bytearray(data), mask) == _reference_mask(data, mask)

    def test_mask_key_must_be_four_octets(self) -> None:
        with pytest.raises(ValueError):
            apply_mask(b"abc", b"abc")


frames = st.builds(
    Frame,
    opcode=st.sampled_from(list(Opcode)),
    data=st.binary(max_size=300) | st.binary(min_size=65530, max_size=65540),
    fin=st.booleans(), rsv1=st.booleans(), rsv2=st.booleans(), rsv3=st.booleans(),
)


class TestRoundTrip:
    @given(frame=frames, mask=st.none() | st.binary(min_size=4, max_size=4),
           form=st.sampled_from([None, 64]))
    @settings(deadline=None)  # 64 KiB payloads: time depends on machine load, not on correctness
    def test_serialize_then_parse_is_identity(self, frame: Frame, mask: bytes | None, form: int | None) -> None:
        raw = serialize_frame(frame, mask=mask, length_form=form)
        h = parse_header(raw)
        assert h is not None
        payload = raw[h.header_len:]
        if h.mask is not None:
            payload = apply_mask(payload, h.mask)
        again = Frame(h.opcode, payload, h.fin, h.rsv1, h.rsv2, h.rsv3)
        assert again == frame
        assert h.mask == mask
        assert serialize_frame(again, mask=mask, length_form=form) == raw


class TestSection5_3UnmaskInPlace:
    """unmask_slice (the receive path's large-payload unmasking) gives exactly apply_mask's octets
    for any size and position in the buffer, and leaves the rest of the buffer as it was."""

    @given(st.binary(min_size=4, max_size=4), st.integers(0, 11), st.integers(0, 9000), st.integers(0, 13))
    @settings(max_examples=200, deadline=None)
    def test_same_octets_as_apply_mask(self, mask: bytes, before: int, size: int, after: int) -> None:
        payload = os.urandom(size)
        buf = bytearray(os.urandom(before)) + payload + bytearray(os.urandom(after))
        around = (bytes(buf[:before]), bytes(buf[before + size:]))
        got = unmask_slice(buf, before, before + size, mask)
        assert type(got) is bytes
        assert got == apply_mask(payload, mask)
        assert (bytes(buf[:before]), bytes(buf[before + size:])) == around
        del buf[: before + size]  # the buffer can still be resized: no export left behind


class TestSection5_3UnmaskRun:
    """`unmask_payloads`: the payloads of consecutive masked frames, all unmasked by one XOR of
    words; any sizes (0 to 16-bit), any alignment of the first frame, octets before and after."""

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=7), st.lists(st.tuples(st.binary(min_size=4, max_size=4), st.one_of(
        st.binary(max_size=9), st.binary(max_size=130), st.binary(min_size=126, max_size=700))),
        min_size=1, max_size=12), st.binary(max_size=3))
    def test_every_payload_comes_out_as_the_octet_by_octet_xor(
            self, before: bytes, frames: list[tuple[bytes, bytes]], after: bytes) -> None:
        buf, starts, lengths = bytearray(before), [], []
        for key, data in frames:
            octets = serialize_frame(Frame(Opcode.BINARY, data), mask=key)
            starts.append(len(buf) + len(octets) - len(data))
            lengths.append(len(data))
            buf += octets
        buf += after
        assert unmask_payloads(buf, starts, lengths) == [data for _, data in frames]
        assert unmask_payloads(bytes(buf), starts, lengths) == [data for _, data in frames]

    def test_the_buffer_is_left_as_it_was(self) -> None:
        buf = bytearray(serialize_frame(Frame(Opcode.BINARY, b"payload"), mask=b"\x01\x02\x03\x04"))
        copy = bytes(buf)
        assert unmask_payloads(buf, [6], [7]) == [b"payload"]
        assert bytes(buf) == copy
        buf += b"x"  # no export of the buffer is left behind: it can still grow

    def test_no_frames(self) -> None:
        assert unmask_payloads(b"", [], []) == []


def _frame_by_frame(payload: bytes, fragment: int, opcode: int, rsv1: bool, keys: bytes | None) -> bytes:
    """The reference for serialize_fragments: serialize_header + apply_mask, one frame at a time."""
    count = max(1, -(-len(payload) // fragment))
    out = []
    for k in range(count):
        part = payload[k * fragment : (k + 1) * fragment]
        key = keys[4 * k : 4 * k + 4] if keys is not None else None
        out.append(serialize_header(opcode=opcode if k == 0 else Opcode.CONT, length=len(part),
                                    fin=k == count - 1, rsv1=rsv1 and k == 0, mask=key))
        out.append(apply_mask(part, key) if key is not None else part)
    return b"".join(out)


# fragment sizes around the length forms' edges (125/126, 65535/65536) and word sizes, or any
fragments = st.sampled_from([1, 2, 3, 4, 5, 7, 8, 124, 125, 126, 127, 128, 256, 1300, 4096, 65535, 65536,
                             65537, 70000]) | st.integers(1, 70000)


class TestSection5_4FragmentsInOneWrite:
    """serialize_fragments: a message cut into frames (RFC 6455 §5.4) in one pass writes the
    octets that serialize_header + apply_mask write frame by frame with the same keys."""

    @settings(max_examples=300, deadline=None)
    @given(fragment=fragments, data=st.data(), opcode=st.sampled_from([Opcode.TEXT, Opcode.BINARY, Opcode.CONT]),
           rsv1=st.booleans(), masked=st.booleans())
    def test_same_octets_as_frame_by_frame(self, fragment: int, data: st.DataObject, opcode: Opcode,
                                           rsv1: bool, masked: bool) -> None:
        # at most 2000 frames and 300 KiB: the reference is a Python loop
        size = data.draw(st.integers(0, min(300_000, fragment * 2000)) | st.sampled_from(
            [0, 1, fragment - 1, fragment, fragment + 1, 2 * fragment, 5 * fragment + 3]), label="size")
        payload = os.urandom(max(size, 0))
        count = max(1, -(-len(payload) // fragment))
        keys = os.urandom(4 * count) if masked else None
        got = serialize_fragments(payload, fragment, opcode=opcode, rsv1=rsv1, keys=keys)
        assert type(got) is bytes
        assert got == _frame_by_frame(payload, fragment, opcode, rsv1, keys)

    @pytest.mark.parametrize("inp", [bytes, bytearray, memoryview])
    def test_any_buffer_and_parse_back(self, inp: type) -> None:
        payload = os.urandom(10_000)
        keys = os.urandom(4 * 40)
        raw = serialize_fragments(inp(payload), 256, opcode=Opcode.BINARY, rsv1=True, keys=keys)
        pos, parts, seen = 0, [], []
        while pos < len(raw):
            h = parse_header(raw, pos)
            assert h is not None and h.mask is not None
            seen.append((h.opcode, h.fin, h.rsv1, h.mask))
            parts.append(apply_mask(raw[pos + h.header_len : pos + h.header_len + h.length], h.mask))
            pos += h.header_len + h.length
        assert b"".join(parts) == payload
        assert [len(p) for p in parts] == [256] * 39 + [10_000 - 39 * 256]
        assert seen[0][:3] == (Opcode.BINARY, False, True)
        assert all(s[:3] == (Opcode.CONT, False, False) for s in seen[1:-1])
        assert seen[-1][:3] == (Opcode.CONT, True, False)
        assert b"".join(s[3] for s in seen) == keys

    def test_an_empty_message_is_one_empty_frame(self) -> None:
        assert serialize_fragments(b"", 10, opcode=Opcode.TEXT, keys=b"abcd") == bytes([0x81, 0x80]) + b"abcd"
        assert serialize_fragments(b"", 10, opcode=Opcode.TEXT, rsv1=True) == bytes([0xC1, 0x00])

    def test_a_fragment_holds_an_octet(self) -> None:
        with pytest.raises(ValueError, match="at least 1 octet"):
            serialize_fragments(b"abc", 0, opcode=Opcode.TEXT)

    def test_one_key_per_frame(self) -> None:
        with pytest.raises(ValueError, match="3 frames need 12 octets of masking keys, not 8"):
            serialize_fragments(b"abcdefg", 3, opcode=Opcode.TEXT, keys=b"12345678")


class TestSection5_3PayloadBuffer:
    """`PayloadBuffer`: a payload fed in pieces of any sizes, at any offsets in the buffers they
    arrive in, comes out as apply_mask's octets (or the octets as sent, unmasked); the key's phase
    carries over from piece to piece; octets past the payload are left for the next frame."""

    @settings(max_examples=200, deadline=None)
    @given(st.one_of(st.none(), st.binary(min_size=4, max_size=4)), st.integers(0, 300_000),
           st.lists(st.integers(0, 1 << 20), max_size=8), st.integers(0, 7), st.booleans())
    def test_pieces_give_the_unmasked_payload(self, mask: bytes | None, size: int, cuts: list[int],
                                              before: int, reuse: bool) -> None:
        payload = os.urandom(size)
        wire = (apply_mask(payload, mask) if mask else payload) + b"next frame"
        points = sorted({c % (size + 1) for c in cuts} | {0, size})
        scratch = np.empty(size + 5, dtype=np.uint8) if reuse else None
        buf = PayloadBuffer(size, mask, scratch)
        for a, b in zip(points, points[1:], strict=False):
            last = b == size
            piece = bytearray(os.urandom(before)) + wire[a : len(wire) if last else b]  # the last with the next frame
            assert buf.feed(piece, before, len(piece)) == b - a
            assert bytes(buf.view(a, buf.done)) == payload[a:b]
            del piece[:]  # no export left behind: the receive buffer can be resized
        assert buf.complete
        assert buf.take() == payload
        assert buf.storage is scratch or not reuse
        assert buf.feed(b"more", 0, 4) == 0  # nothing is taken past the payload
