"""The receive fast paths of the connection give the events of the general path, on any stream.

`frame_events=True` turns every fast path off (each frame is then reported on its own), so the
same octets fed to a connection with and without it must give the same events, FrameReceived
aside, and the same octets to send: whatever the frames (valid or not, compressed or not,
fragmented, control frames between them) and however the octets are cut into reads.
"""

from __future__ import annotations

import importlib.util
import random
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.engine import connection as connection_module
from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, State
from conformance.engine.deflate import negotiated_codec
from conformance.wire import framescan
from conformance.wire.deflate import DeflateParams
from conformance.wire.frames import Frame, Opcode, apply_mask, serialize_frame

_TEXTS = [b"", b"ok", "κόσμε 🙂".encode(), b"ab\xce", b"\xed\xa0\x80", b"x" * 130, "数据".encode() * 50]


def _compress(data: bytes, cut: bool) -> bytes:
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if cut else out  # cut=False keeps 00 00 ff ff: still valid (an empty block more)


@st.composite
def frames(draw: Any, deflate: bool) -> bytes:
    """One frame's octets: mostly the commonest kinds (small whole text/binary), plus everything
    that must leave the fast path: fragments, control frames, reserved bits, unmasked frames,
    16-bit lengths, lengths in a longer form than needed, invalid UTF-8, compressed payloads (valid, cut short or garbage)."""
    kind = draw(st.sampled_from(["text", "binary", "binary", "fragment", "cont", "ping", "close",
                                 "rsv", "unmasked", "compressed", "garbage-deflate", "big", "long-form"]))
    mask: bytes | None = draw(st.binary(min_size=4, max_size=4))
    rsv1 = False
    fin = True
    if kind == "text":
        op, data = Opcode.TEXT, draw(st.sampled_from(_TEXTS))
    elif kind == "binary":
        op, data = Opcode.BINARY, draw(st.binary(max_size=140))
    elif kind == "fragment":
        op, data, fin = draw(st.sampled_from([Opcode.TEXT, Opcode.BINARY])), draw(st.sampled_from(_TEXTS)), False
    elif kind == "cont":
        op, data, fin = Opcode.CONT, draw(st.sampled_from(_TEXTS)), draw(st.booleans())
    elif kind == "ping":
        op, data = Opcode.PING, draw(st.binary(max_size=20))
    elif kind == "close":
        op, data = Opcode.CLOSE, b"\x03\xe8bye"
    elif kind == "rsv":
        op, data = Opcode.BINARY, b"r"
        return serialize_frame(Frame(op, data, True, False, True, False), mask=mask)
    elif kind == "long-form":  # a length in a longer form than it needs (frame.length-not-minimal)
        op, data = Opcode.BINARY, draw(st.binary(max_size=130))
        return serialize_frame(Frame(op, data), mask=mask, length_form=draw(st.sampled_from([16, 64])))
    elif kind == "unmasked":
        op, data, mask = Opcode.BINARY, b"u", None
    elif kind == "big":
        op, data = draw(st.sampled_from([Opcode.TEXT, Opcode.BINARY])), b"y" * draw(st.integers(126, 70_000))
    else:
        op = draw(st.sampled_from([Opcode.TEXT, Opcode.BINARY]))
        plain = draw(st.sampled_from(_TEXTS))
        data = _compress(plain, draw(st.booleans())) if kind == "compressed" else draw(st.binary(max_size=30))
        rsv1 = deflate or draw(st.booleans())
    return serialize_frame(Frame(op, data, fin, rsv1), mask=mask)


_ODD = {  # first octets (and payload) of frames that must end a run of equal-size frames
    "rsv2": 0xA2, "reserved-opcode": 0x83, "control-opcode": 0x8B, "continuation": 0x80,
    "no-fin": 0x02, "ping": 0x89, "pong": 0x8A, "close": 0x88, "compressed": 0xC2,
}


@st.composite
def runs(draw: Any, masked: bool = True) -> bytes:
    """A run of 16-80 frames of one size (text or binary, the matrix path of the engine), where
    some frames may be anything else of the same size: reserved bits and opcodes, control and
    continuation frames, FIN clear, unmasked, invalid UTF-8 in a text frame, another length.
    `masked=False`: frames as a server sends them, the odd one masked. Shrinks towards short runs
    of plain binary frames."""
    size = draw(st.sampled_from([0, 1, 3, 4, 5, 8, 13, 64, 125]))
    count = draw(st.integers(16, 80))
    odd = draw(st.dictionaries(st.integers(0, count - 1),
                               st.sampled_from([*_ODD, "bad-utf8", "unmasked", "longer", "text"]), max_size=3))
    out = []
    for i in range(count):
        kind = odd.get(i, draw(st.sampled_from(["binary", "binary", "text"])))
        data = draw(st.binary(min_size=size, max_size=size)) if kind != "text" else b"k" * size
        b0, mask = 0x82, draw(st.binary(min_size=4, max_size=4)) if masked else b""
        if kind == "text":
            b0 = 0x81
        elif kind == "bad-utf8":
            b0, data = 0x81, (b"\xff" + data)[:size] if size else data
        elif kind == "unmasked":
            mask = b"" if masked else b"\x01\x02\x03\x04"
        elif kind == "longer":
            data += b"+"
        elif kind in _ODD:
            b0 = _ODD[kind]
        if kind == "close" and size == 1:
            data = b""
        key = mask if mask else None
        out.append(bytes((b0, (0x80 if key else 0) | len(data))) + (key or b"")
                   + (apply_mask(data, key) if key else data))
    return b"".join(out)


_UNIT = "texte ascii, κόσμε, 数据, 🙂 ".encode()
_BAD = [b"\xff", b"\xed\xa0\x80", b"\xe2\x82A", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2"]


@st.composite
def big_frames(draw: Any, deflate: bool) -> bytes:
    """A frame of 64-200 KiB (long enough to arrive over several reads and be gathered in its
    own array): binary, valid text, text with an invalid sequence anywhere (the last octets
    included), a fragmented message (a long first frame, a long continuation that may end a
    code point split between them or may itself be cut short by FIN clear), a lone continuation,
    compressed; masked with any key, or not masked. Shrinks towards binary frames of 64 KiB."""
    size = draw(st.integers(64 * 1024, 200_000))
    kind = draw(st.sampled_from(["binary", "text", "bad-text", "bad-text", "fragmented", "fragmented",
                                 "cont", "compressed", "unmasked"]))
    mask: bytes | None = draw(st.binary(min_size=4, max_size=4))
    text = (_UNIT * (size // len(_UNIT) + 1))[:size]
    text = text[: len(text.decode("utf-8", "ignore").encode())]  # whole characters
    if kind == "binary":
        return serialize_frame(Frame(Opcode.BINARY, b"b" * size), mask=mask)
    if kind == "text":
        return serialize_frame(Frame(Opcode.TEXT, text), mask=mask)
    if kind == "bad-text":
        at = draw(st.integers(0, len(text)))
        bad = text[:at] + draw(st.sampled_from(_BAD)) + text[at:]
        return serialize_frame(Frame(Opcode.TEXT, bad), mask=mask)
    if kind == "fragmented":
        op = draw(st.sampled_from([Opcode.TEXT, Opcode.BINARY]))
        cut = draw(st.integers(1, len(text) - 1))  # anywhere: inside a code point too
        second = text[cut:]
        if draw(st.booleans()):
            at = draw(st.integers(0, len(second)))
            second = second[:at] + draw(st.sampled_from(_BAD)) + second[at:]
        return (serialize_frame(Frame(op, text[:cut], False), mask=mask)
                + serialize_frame(Frame(Opcode.CONT, second, draw(st.booleans())), mask=mask))
    if kind == "cont":
        return serialize_frame(Frame(Opcode.CONT, text), mask=mask)
    if kind == "compressed":
        op = draw(st.sampled_from([Opcode.TEXT, Opcode.BINARY]))
        return serialize_frame(Frame(op, _compress(text * 3, draw(st.booleans())), rsv1=True), mask=mask)
    return serialize_frame(Frame(Opcode.BINARY, b"u" * size), mask=None)  # unmasked


@st.composite
def mixed_runs(draw: Any, masked: bool = True) -> bytes:
    """A run of 33-400 whole frames of mixed sizes (0-125 octets): the commonest traffic, which
    goes past the frame-by-frame loop into the compiled scan; text (valid, or with an invalid
    octet) or binary, and up to three frames anywhere that must end the run (every kind of
    `runs`, and a 16-bit length). `masked=False`: as a server sends them. Shrinks towards short
    runs with no odd frame."""
    count = draw(st.integers(33, 400))
    odd = draw(st.dictionaries(st.integers(0, count - 1),
                               st.sampled_from([*_ODD, "bad-utf8", "unmasked", "long16"]), max_size=3))
    rng = random.Random(draw(st.integers(0, 1 << 32)))
    out = []
    for i in range(count):
        kind = odd.get(i, rng.choice(["binary", "binary", "text"]))
        size = rng.randint(0, 125)
        data = rng.randbytes(size) if kind != "text" else ("é" * 63).encode()[:size - size % 2]
        b0, key = 0x82, rng.randbytes(4) if masked else None
        if kind == "text":
            b0 = 0x81
        elif kind == "bad-utf8":
            b0, data = 0x81, data[:rng.randint(0, size)] + b"\xff"
        elif kind == "unmasked":
            key = None if masked else b"\x01\x02\x03\x04"
        elif kind == "long16":
            data = rng.randbytes(rng.randint(126, 400))
        elif kind in _ODD:
            b0 = _ODD[kind]
            data = data[:2] if kind == "close" else data
        form = 7 if len(data) <= 125 else 16
        head = bytes((b0, (0x80 if key else 0) | (len(data) if form == 7 else 126)))
        head += len(data).to_bytes(2, "big") if form == 16 else b""
        out.append(head + (key or b"") + (apply_mask(data, key) if key else data))
    return b"".join(out)


@st.composite
def whole_runs(draw: Any, deflate: bool, masked: bool = True) -> bytes:
    """A run of 33-300 whole frames with 16-bit lengths (126-700 octets), compressed ones among
    them when `deflate` (of any length): the frames `_parse_whole_run` reads, past its first _SCAN_AFTER in the
    compiled scan. Up to three frames anywhere that must stop it or fail the connection: a
    length in the 16-bit form that fits in 7 bits, a 64-bit length, an unmasked frame, a
    reserved bit, invalid UTF-8, a compressed payload that does not inflate or is cut short."""
    count = draw(st.integers(33, 300))
    odd = draw(st.dictionaries(st.integers(0, count - 1), st.sampled_from(
        ["short16", "long64", "unmasked", "rsv2", "bad-utf8", "garbage-deflate", "cut-deflate"]), max_size=3))
    rng = random.Random(draw(st.integers(0, 1 << 32)))
    out = []
    for i in range(count):
        kind = odd.get(i, rng.choice(["binary", "text", "compressed"] if deflate else ["binary", "text"]))
        size = rng.randint(126, 700)
        data = rng.randbytes(size) if kind in ("binary", "long64") else (_UNIT * 30)[:size]
        data = data if kind != "text" else data[: len(data.decode("utf-8", "ignore").encode())]
        b0 = 0x82 if kind in ("binary", "long64", "unmasked") else 0x81
        if kind == "bad-utf8":
            data = data[:100] + b"\xff" + data[100:]
        elif kind == "rsv2":
            b0 |= 0x20
        elif kind == "short16":
            data = data[: rng.randint(0, 125)]
        elif kind in ("compressed", "garbage-deflate", "cut-deflate"):
            b0 |= 0x40
            data = (_compress(data * 3, True) if kind == "compressed" else rng.randbytes(size)
                    if kind == "garbage-deflate" else _compress(data, True)[:-3])
        key = None if kind == "unmasked" or not masked else rng.randbytes(4)
        bit = 0x80 if key else 0
        if kind == "long64":
            head = bytes((b0, bit | 127)) + len(data).to_bytes(8, "big")
        elif len(data) > 125 or kind == "short16":
            head = bytes((b0, bit | 126)) + len(data).to_bytes(2, "big")
        else:  # a compressed payload may be short: the 7-bit form, which the run takes too
            head = bytes((b0, bit | len(data)))
        out.append(head + (key or b"") + (apply_mask(data, key) if key else data))
    return b"".join(out)


def _conn(deflate: bool, frame_events: bool, max_message: int | None, fail_fast: bool = True) -> Connection:
    codec = None
    if deflate:
        codec = negotiated_codec(DeflateParams(False, False, None, None), "server", max_message)
    return Connection(Role.SERVER, deflate=codec, frame_events=frame_events, max_message=max_message,
                      utf8_fail_fast=fail_fast, clock=lambda: 1.0)


def _run(conn: Connection, reads: list[bytes]) -> tuple[list[object], bytes]:
    """The events, and what the connection sent while each message was echoed as it was pulled
    (as the echo server does): a message before a broken frame must be answerable, so its echo
    goes out before the close frame that fails the connection."""
    got: list[object] = []
    for r in reads:
        conn.receive_data(r)
        for e in conn.events():
            if isinstance(e, ev.FrameReceived):
                continue
            if isinstance(e, ev.Message) and conn.state is State.OPEN:
                conn.send_data(e.data)
            got.append((type(e).__name__, e.rule.id, e.detail, e.close_code) if isinstance(e, ev.Failure) else e)
    conn.receive_data(b"")
    got.extend(conn.events())
    return got, conn.data_to_send()


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.data())
def test_fast_and_general_paths_agree(deflate: bool, data: st.DataObject) -> None:
    stream = b"".join(data.draw(st.lists(frames(deflate), max_size=30)))
    reads = _cut(stream, data.draw(st.lists(st.integers(0, 1 << 20), max_size=6)))
    limit = data.draw(st.sampled_from([None, 64 * 1024 * 1024, 200]))
    fast = _run(_conn(deflate, False, limit), reads)
    general = _run(_conn(deflate, True, limit), reads)
    assert fast == general


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.data())
def test_runs_of_equal_size_frames_agree_with_the_general_path(deflate: bool, data: st.DataObject) -> None:
    """The matrix path (a run of frames of one size) against the general path, on runs broken
    by every kind of frame that must leave it, cut at random read boundaries."""
    parts = data.draw(st.lists(st.one_of(runs(), frames(deflate)), min_size=1, max_size=6))
    stream = b"".join(parts)
    reads = _cut(stream, data.draw(st.lists(st.integers(0, 1 << 20), max_size=6)))
    fast = _run(_conn(deflate, False, None), reads)
    general = _run(_conn(deflate, True, None), reads)
    assert fast == general  # a server masks nothing: the octets sent are the same too


@settings(max_examples=100, deadline=None)
@given(st.lists(runs(masked=False), min_size=1, max_size=4), st.lists(st.integers(0, 1 << 20), max_size=6))
def test_a_client_reads_runs_of_unmasked_frames_as_the_general_path_does(parts: list[bytes], cuts: list[int]) -> None:
    """The matrix path of a client (server frames are not masked; a masked one fails, §5.1)."""
    reads = _cut(b"".join(parts), cuts)
    fast, general = (_run(Connection(Role.CLIENT, frame_events=f, max_message=None, clock=lambda: 1.0), reads)
                     for f in (False, True))
    assert fast[0] == general[0]
    assert len(fast[1]) == len(general[1])  # the echoes are masked with random keys


@settings(max_examples=150, deadline=None)
@given(st.booleans(), st.booleans(), st.data())
def test_long_frames_over_many_reads_agree_with_the_general_path(deflate: bool, fail_fast: bool,
                                                                 data: st.DataObject) -> None:
    """Frames of 64-200 KiB arriving over several reads (each gathered in its own array, its
    text checked as it arrives) among small frames, cut anywhere: the same events, failures
    (and where UTF-8 failed: before or after the frame had fully arrived) and octets sent."""
    parts = data.draw(st.lists(st.one_of(big_frames(deflate), big_frames(deflate), frames(deflate)), min_size=1, max_size=5))
    stream = b"".join(parts)
    reads = _cut(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))  # anywhere in it
    limit = data.draw(st.sampled_from([None, 64 * 1024 * 1024, 100_000]))
    fast = _run(_conn(deflate, False, limit, fail_fast), reads)
    general = _run(_conn(deflate, True, limit, fail_fast), reads)
    assert fast == general


def test_a_long_text_frame_fails_at_the_first_bad_octet_before_it_has_arrived() -> None:
    """§8.1 fail-fast on the long-frame path: the failure comes with the read that holds the bad
    octet, long before the frame's end, and names its position."""
    payload = b"a" * 100_000 + b"\xff" + b"a" * 100_000
    stream = serialize_frame(Frame(Opcode.TEXT, payload), mask=b"\x01\x02\x03\x04")
    conn = _conn(False, False, None)
    conn.receive_data(stream[:50_000])
    assert list(conn.events()) == []
    conn.receive_data(stream[50_000:120_000])
    failure = conn.next_event()
    assert isinstance(failure, ev.Failure) and failure.rule.id == "utf8.text-invalid"
    assert failure.detail == "invalid UTF-8 at octet 100000: invalid start byte (the frame had not fully arrived)"


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.data())
def test_long_runs_of_mixed_sizes_agree_with_the_general_path(deflate: bool, data: st.DataObject) -> None:
    """The compiled scan (wire/framescan.py, or the loop without numba) against the general
    path, on long runs of mixed sizes broken by every kind of frame that must leave them, cut at
    random read boundaries (most reads still hold long runs)."""
    parts = data.draw(st.lists(st.one_of(mixed_runs(), mixed_runs(), frames(deflate)), min_size=1, max_size=4))
    stream = b"".join(parts)
    reads = _cut(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=3)))
    fast = _run(_conn(deflate, False, None), reads)
    general = _run(_conn(deflate, True, None), reads)
    assert fast == general


@settings(max_examples=60, deadline=None)
@given(st.lists(mixed_runs(masked=False), min_size=1, max_size=3), st.data())
def test_a_client_reads_long_runs_of_unmasked_frames_as_the_general_path_does(parts: list[bytes],
                                                                              data: st.DataObject) -> None:
    stream = b"".join(parts)
    reads = _cut(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=3)))
    fast, general = (_run(Connection(Role.CLIENT, frame_events=f, max_message=None, clock=lambda: 1.0), reads)
                     for f in (False, True))
    assert fast[0] == general[0]
    assert len(fast[1]) == len(general[1])  # the echoes are masked with random keys


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.data())
def test_long_runs_of_whole_frames_agree_with_the_general_path(deflate: bool, data: st.DataObject) -> None:
    """`_parse_whole_run` (the loop, then the compiled scan) against the general path: long runs
    of 16-bit-length and compressed frames broken by frames that must leave them, cut at random
    read boundaries, under no limit, a large one and one that some frames exceed."""
    parts = data.draw(st.lists(st.one_of(whole_runs(deflate), whole_runs(deflate), frames(deflate)),
                               min_size=1, max_size=4))
    stream = b"".join(parts)
    reads = _cut(stream, data.draw(st.lists(st.integers(0, len(stream)), max_size=3)))
    limit = data.draw(st.sampled_from([None, 64 * 1024 * 1024, 500]))
    fast = _run(_conn(deflate, False, limit), reads)
    general = _run(_conn(deflate, True, limit), reads)
    assert fast == general


class TestCompiledScan:
    """The long-run path really goes through the compiled scan when numba is there, and gives
    the same messages through the loop when it is not."""

    _SIZES = [random.Random(i).randint(0, 125) for i in range(500)]

    def _stream(self) -> bytes:
        return b"".join(serialize_frame(Frame(Opcode.BINARY, b"t" * size), mask=b"%04d" % i)
                        for i, size in enumerate(self._SIZES))

    @staticmethod
    def _spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
        """The number of frames each call of the compiled scan took, as calls are made."""
        calls: list[int] = []

        def spy(*args: Any, **kwargs: Any) -> framescan.Run | None:
            run = framescan.scan_run(*args, **kwargs)
            calls.append(len(run.payloads) if run else 0)
            return run

        monkeypatch.setattr(connection_module, "scan_run", spy)
        return calls

    def _messages(self) -> list[bytes]:
        got, _ = _run(_conn(False, False, None), [self._stream()])
        return [e.data for e in got if isinstance(e, ev.Message)]

    @pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")
    def test_a_long_run_is_scanned_by_the_kernel(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls = self._spy(monkeypatch)
        assert len(self._messages()) == 500
        assert sum(calls) >= 400  # past the first _SCAN_AFTER frames of each read, the kernel's

    def test_without_numba_the_loop_delivers_the_same(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with_kernel = self._messages()
        monkeypatch.setattr(connection_module, "scan_run", lambda *a, **k: None)
        assert self._messages() == with_kernel == [b"t" * size for size in self._SIZES]

    _LONG = [random.Random(i).randint(126, 2000) for i in range(300)]

    def _whole_messages(self) -> list[bytes]:
        stream = b"".join(serialize_frame(Frame(Opcode.BINARY, b"w" * size), mask=b"%04d" % i)
                          for i, size in enumerate(self._LONG))
        got, _ = _run(_conn(False, False, None), [stream])
        return [e.data for e in got if isinstance(e, ev.Message)]

    @pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")
    def test_a_long_run_of_16_bit_lengths_is_scanned_by_the_kernel(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls = self._spy(monkeypatch)
        assert self._whole_messages() == [b"w" * size for size in self._LONG]
        # one read: the loop's first frames (none once the kernel is loaded), then the kernel's
        assert sum(calls) in (len(self._LONG) - connection_module._SCAN_AFTER, len(self._LONG))

    def test_without_numba_whole_frames_are_delivered_the_same(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(connection_module, "scan_run", lambda *a, **k: None)
        assert self._whole_messages() == [b"w" * size for size in self._LONG]


def test_a_run_of_small_frames_is_delivered_whole() -> None:
    """The commonest case itself: many small masked frames in one read, every one a message."""
    key = b"\x01\x02\x03\x04"
    stream = b"".join(serialize_frame(Frame(Opcode.BINARY if i % 2 else Opcode.TEXT, b"%05d" % i), mask=key)
                      for i in range(1000))
    got, _ = _run(_conn(False, False, None), [stream])
    assert [e.data for e in got if isinstance(e, ev.Message)] == [b"%05d" % i for i in range(1000)]


def test_a_run_of_compressed_messages_is_inflated_in_order() -> None:
    """Compressed one-frame messages with the context kept: each inflates against the one before."""
    client = Connection(Role.CLIENT, deflate=negotiated_codec(DeflateParams(False, False, None, None), "client", None))
    texts = [f"message {i} " * (i % 7 + 1) for i in range(300)]
    for t in texts:
        client.send_data(t)
    stream = client.data_to_send()
    for frame_events in (False, True):
        got, _ = _run(_conn(True, frame_events, None), [stream])
        assert [e.text for e in got if isinstance(e, ev.Message)] == texts


class TestKnownText:
    """`known_text`: a text message equal to octets the application vouches for is not decoded
    again; anything else still is, so invalid UTF-8 still fails the connection (§8.1)."""

    def test_the_known_octets_are_delivered_undecoded(self) -> None:
        conn = _conn(False, False, None)
        conn.known_text = "κόσμε".encode()
        got, _ = _run(conn, [serialize_frame(Frame(Opcode.TEXT, "κόσμε".encode()), mask=b"abcd")])
        assert got == [ev.Message(Opcode.TEXT, "κόσμε".encode(), None, False, 1.0)]

    def test_known_octets_inflated_from_a_run_are_delivered_undecoded(self) -> None:
        """Compressed messages in a run of whole frames (each inflated, then compared)."""
        conn = _conn(True, False, None)
        conn.known_text = "κόσμε".encode() * 40
        frames_ = [serialize_frame(Frame(Opcode.TEXT, _compress(conn.known_text, True), rsv1=True),
                                   mask=b"%04d" % i) for i in range(40)]
        got, _ = _run(conn, [b"".join(frames_)])
        assert got == [ev.Message(Opcode.TEXT, conn.known_text, None, True, 1.0)] * 40

    def test_other_text_is_still_checked(self) -> None:
        conn = _conn(True, False, None)
        conn.known_text = b"ok"
        got, _ = _run(conn, [serialize_frame(Frame(Opcode.TEXT, _compress(b"ok\xff", True), rsv1=True), mask=b"abcd")])
        assert got[0][:2] == ("Failure", "utf8.text-invalid")  # type: ignore[index]


class TestHeldFailure:
    """§7.1.7 fails the connection at the broken frame, not before: in a run of whole frames, the
    messages before one that does not inflate (or is not UTF-8) are answered first."""

    def _stream(self, broken: bytes) -> list[bytes]:
        key = b"abcd"
        good = serialize_frame(Frame(Opcode.BINARY, _compress(b"hello", True), rsv1=True), mask=key)
        return [good + serialize_frame(Frame(Opcode.TEXT, broken, rsv1=True), mask=key)]

    def test_the_echo_of_a_message_precedes_the_close_frame(self) -> None:
        for broken in (b"\xff\xff\xff", _compress(b"ok\xff", True)):
            fast = _run(_conn(True, False, None), self._stream(broken))
            general = _run(_conn(True, True, None), self._stream(broken))
            assert fast == general
            assert fast[1].startswith(b"\xc2")  # the echo (compressed, RSV1) before the close frame

    def test_the_failure_waits_until_it_is_pulled(self) -> None:
        conn = _conn(True, False, None)
        conn.receive_data(self._stream(b"\xff\xff\xff")[0])
        first = conn.next_event()
        assert isinstance(first, ev.Message) and conn.state is State.OPEN and conn.data_to_send() == b""
        failure = conn.next_event()
        assert isinstance(failure, ev.Failure) and failure.close_code == 1007
        assert conn.data_to_send()[:1] == b"\x88"
