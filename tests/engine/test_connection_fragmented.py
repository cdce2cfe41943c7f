"""Fragmented messages (RFC 6455 §5.4) read frames together (`Connection._parse_fragmented`)
and give what the general path gives frame by frame.

`frame_events=True` turns every fast path off, so the same octets fed to a connection with and
without it must give the same events (FrameReceived aside), failures with their rule, detail and
close code, and the same octets to send: for fragmented messages of any size cut into frames of
any size (7-, 16- and 64-bit lengths), compressed or not (with or without context takeover,
narrow windows, a final deflate block inside a message, data that does not inflate), text valid
or not, frames that break a rule (reserved bits and opcodes, the wrong masking, lengths longer
than needed, FIN where it does not belong), control frames in between, a size limit, and the
octets cut anywhere into reads. Then mutants: a fast path that skips one of its checks is caught
by the same comparison.
"""

from __future__ import annotations

import dataclasses
import random
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from conformance.engine import connection
from conformance.engine import events as ev
from conformance.engine.connection import Codec, Connection, Role
from conformance.engine.deflate import negotiated_codec
from conformance.wire.deflate import DeflateParams
from conformance.wire.frames import Frame, Opcode, parse_header, serialize_frame
from tests.engine.test_connection_fast_path import _run as echo_run

_TAIL = b"\x00\x00\xff\xff"
_BREAKS = ["rsv2", "rsv3", "rsv1", "reserved-opcode", "control-opcode", "text-inside", "wrong-mask",
           "long-form", "fin-early", "fin-missing"]
_CONTROLS = ["ping", "pong", "close", "ping-long", "ping-unfinished"]
_FRAGMENTS = st.one_of(st.sampled_from([1, 3, 4, 125, 126, 127, 256, 1024]), st.integers(1, 700))
_EXAMPLES = 500  # the property's examples; each mutant below is caught within as many
_LIMITS = [None, 64 * 1024 * 1024, 130, 300, 1000, 5000, 100_000, 2_000_000]


@dataclasses.dataclass(frozen=True)
class Plan:
    """A message to send: how it is made, framed and broken."""

    text: bool
    data: bytes
    fragment: int
    compress: bool
    final_block_at: int | None  # a deflate block with BFINAL ends there, inside the message (§7.2.3.4)
    garbage: bool  # the compressed payload replaced by octets that need not inflate
    breaks: dict[int, str]  # frame index (-1: the last) -> how that frame breaks a rule
    controls: dict[int, str]  # frame index -> a control frame sent before it


@dataclasses.dataclass(frozen=True)
class Setup:
    role: Role
    deflate: bool
    no_takeover: bool  # the sender's side (what the receiver agreed for it)
    bits: int | None  # the sender's window
    limit: int | None
    fail_fast: bool


@st.composite
def payloads(draw: Any, text: bool) -> bytes:
    """Message octets: random, or UTF-8 text with (sometimes) one invalid sequence in it.
    Shrinks towards short random binary."""
    size = draw(st.one_of(st.integers(0, 2500), st.integers(200, 5000), st.sampled_from([0, 1, 125, 126, 65536, 140_000])))
    seed = draw(st.integers(0, 1 << 30))
    rnd = random.Random(seed)
    if not text:
        return rnd.randbytes(size) if draw(st.booleans()) else bytes(rnd.choices(b"abc ", k=size))
    data = "".join(rnd.choice("aé€🙂 xyz") for _ in range(size // 3)).encode()
    if draw(st.booleans()):
        bad = draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82"]))
        at = draw(st.integers(0, len(data)))
        data = data[:at] + bad + data[at:]
    return data


@st.composite
def plans(draw: Any, deflate: bool, focus: str | None = None) -> Plan:
    """A message; `focus`: one of its frames breaks a rule that way (else: one in two does,
    somehow). Shrinks towards a short binary message in a few frames, unbroken."""
    text = draw(st.booleans())
    data = draw(payloads(text))
    big = len(data) > 65536 and draw(st.booleans())
    if big:
        fragment = draw(st.sampled_from([65536, 70_000]))
    else:  # some octets or a share of the message (compression makes fewer frames)
        share = st.integers(2, 30).map(lambda k: max(1, len(data) // k))
        fragment = max(draw(st.one_of(_FRAGMENTS, share)), len(data) // 1500)
    compress = deflate and draw(st.booleans())
    final_at = draw(st.integers(0, len(data))) if compress and draw(st.integers(0, 4)) == 0 else None
    garbage = compress and draw(st.integers(0, 9)) == 0
    frames = max(1, -(-len(data) // fragment))  # roughly: compression changes it
    # mostly where the fast path decides alone: the first frame, the first of a run, the last
    index = st.sampled_from([0, 1, -1, None]).flatmap(lambda i: st.just(i) if i is not None else st.integers(0, frames + 1))
    broken = focus if focus is not None else draw(st.sampled_from([None, *_BREAKS]))
    breaks = {draw(index): broken} if broken is not None else {}
    controls = {draw(index): draw(st.sampled_from(_CONTROLS)) for _ in range(draw(st.integers(0, 2)))}
    return Plan(text, data, fragment, compress, final_at, garbage, breaks, controls)


@st.composite
def setups(draw: Any) -> Setup:
    deflate = draw(st.booleans())
    return Setup(draw(st.sampled_from([Role.SERVER, Role.SERVER, Role.CLIENT])), deflate,
                 deflate and draw(st.booleans()), draw(st.sampled_from([None, None, 9, 12])) if deflate else None,
                 draw(st.sampled_from(_LIMITS)), draw(st.booleans()))


class Sender:
    """The peer: compresses as agreed (RFC 7692 §7.2.1) and frames as a plan says."""

    def __init__(self, setup: Setup, seed: int) -> None:
        self.setup = setup
        self.rnd = random.Random(seed)
        self.bits = setup.bits or 15
        self.history = b""
        self.compressor = self._compressor()

    def _compressor(self) -> Any:
        if self.history and not self.setup.no_takeover:
            return zlib.compressobj(6, zlib.DEFLATED, -self.bits, zdict=self.history[-(1 << self.bits):])
        return zlib.compressobj(6, zlib.DEFLATED, -self.bits)

    def compress(self, plan: Plan) -> bytes:
        data, c = plan.data, self.compressor
        if plan.final_block_at is None:
            out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        else:  # a final block, then a new deflate stream that still refers back (§7.2.3.4)
            cut = plan.final_block_at
            out = c.compress(data[:cut]) + c.flush(zlib.Z_FINISH)
            self.history += data[:cut]
            c = self.compressor = self._compressor()
            out += c.compress(data[cut:]) + c.flush(zlib.Z_SYNC_FLUSH)
            data = data[cut:]
        self.history += data
        if self.setup.no_takeover:
            self.history = b""
            self.compressor = self._compressor()
        out = out[:-4] if out.endswith(_TAIL) else out
        return self.rnd.randbytes(len(out)) if plan.garbage else out

    def frames(self, plan: Plan) -> Iterator[bytes]:
        payload = self.compress(plan) if plan.compress else plan.data
        parts = [payload[i : i + plan.fragment] for i in range(0, len(payload), plan.fragment)] or [b""]
        first = Opcode.TEXT if plan.text else Opcode.BINARY
        for k, part in enumerate(parts):
            if k in plan.controls:
                yield self.control(plan.controls[k])
            frame = Frame(first if k == 0 else Opcode.CONT, part, k == len(parts) - 1, plan.compress and k == 0)
            yield self.frame(frame, plan.breaks.get(k, plan.breaks.get(k - len(parts))))
        if len(parts) in plan.controls:
            yield self.control(plan.controls[len(parts)])

    def frame(self, frame: Frame, broken: str | None) -> bytes:
        masked = self.setup.role is Role.SERVER
        form = None
        if broken in ("rsv1", "rsv2", "rsv3"):
            setattr(frame, broken, True)
        elif broken == "reserved-opcode":
            frame.opcode = Opcode(self.rnd.choice([3, 4, 7]))
        elif broken == "control-opcode":
            frame.opcode = Opcode(self.rnd.choice([0xB, 0xF]))
        elif broken == "text-inside":
            frame.opcode = Opcode.TEXT
        elif broken == "wrong-mask":
            masked = not masked
        elif broken == "long-form":
            form = 64 if len(frame.data) > 125 else self.rnd.choice([16, 64])
        elif broken == "fin-early":
            frame.fin = True
        elif broken == "fin-missing":
            frame.fin = False
        return serialize_frame(frame, mask=self.rnd.randbytes(4) if masked else None, length_form=form)

    def control(self, kind: str) -> bytes:
        data = self.rnd.randbytes(self.rnd.randint(0, 20))
        if kind == "pong":
            frame = Frame(Opcode.PONG, data)
        elif kind == "close":
            frame = Frame(Opcode.CLOSE, b"\x03\xe8done")
        elif kind == "ping-long":
            frame = Frame(Opcode.PING, b"p" * 126)
        else:
            frame = Frame(Opcode.PING, data, kind != "ping-unfinished")
        return self.frame(frame, None)


@st.composite
def streams(draw: Any, focus: str | None = None) -> tuple[Setup, list[bytes]]:
    """A setup and the reads that carry its peer's messages: a few fragmented messages (and
    whole ones, when a plan makes one frame), cut at random points; `focus` as in `plans`."""
    setup = draw(setups())
    sender = Sender(setup, draw(st.integers(0, 1 << 30)))
    messages = draw(st.lists(plans(setup.deflate, focus), min_size=1, max_size=3))
    octets = b"".join(b"".join(sender.frames(p)) for p in messages)
    return setup, _cut(octets, draw(st.lists(st.integers(0, 1 << 20), max_size=6)))


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False) if b > a]


def _conn(setup: Setup, frame_events: bool) -> Connection:
    codec = None
    if setup.deflate:
        client = setup.role is Role.SERVER  # the sender's side of the agreement
        params = DeflateParams(server_no_context_takeover=setup.no_takeover and not client,
                               client_no_context_takeover=setup.no_takeover and client,
                               server_max_window_bits=None if client else setup.bits,
                               client_max_window_bits=setup.bits if client else None)
        codec = negotiated_codec(params, setup.role.value, setup.limit)
    return Connection(setup.role, deflate=codec, frame_events=frame_events, max_message=setup.limit,
                      utf8_fail_fast=setup.fail_fast, clock=lambda: 1.0)


def _run(conn: Connection, reads: list[bytes]) -> tuple[list[object], int | bytes]:
    """The events, and what the connection sent while each message was echoed as it was pulled
    (a client masks its echoes with random keys: then only their length can be compared)."""
    got, out = echo_run(conn, reads)
    return got, out if conn.role is Role.SERVER else len(out)


def _agree(example: tuple[Setup, list[bytes]]) -> bool:
    setup, reads = example
    return _run(_conn(setup, False), reads) == _run(_conn(setup, True), reads)


@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(streams())
def test_fragmented_messages_agree_with_the_general_path(example: tuple[Setup, list[bytes]]) -> None:
    setup, reads = example
    assert _run(_conn(setup, False), reads) == _run(_conn(setup, True), reads)


def _fragmented(data: bytes, fragment: int, *, text: bool = False, deflate: bool = False) -> bytes:
    client = Connection(Role.CLIENT, deflate=negotiated_codec(
        DeflateParams(False, False, None, None), "client", None) if deflate else None)
    client.send_message(data.decode() if text else data, fragment=fragment)
    return client.data_to_send()


class _Counting:
    """A codec that records the decode calls of the real one it wraps."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        self.calls: list[tuple[int, bool]] = []

    def encode(self, data: bytes, fin: bool) -> bytes:
        return self.inner.encode(data, fin)

    def decode(self, payload: bytes, fin: bool) -> bytes:
        self.calls.append((len(payload), fin))
        return self.inner.decode(payload, fin)


class TestTheFastPathIsTaken:
    """The path under test is the one that runs: a fragmented message reaches the codec and the
    UTF-8 validator in one piece, however many frames carry it."""

    def test_a_compressed_message_is_inflated_in_one_call(self) -> None:
        conn = _conn(Setup(Role.SERVER, True, False, None, 64 << 20, True), False)
        assert conn.deflate is not None
        counting = _Counting(conn.deflate)
        conn.deflate = counting
        calls = counting.calls
        data = random.Random(5).randbytes(50_000)
        octets = _fragmented(data, 256, deflate=True)
        got, _ = _run(conn, [octets])
        assert [e.data for e in got if isinstance(e, ev.Message)] == [data]
        assert len(calls) == 1 and calls[0][1] is True

    def test_a_frame_cut_by_a_read_waits_for_the_next(self) -> None:
        """Read in slices (as the echo server feeds the engine), a message costs one codec call
        per slice: a continuation frame that has not fully arrived is not read alone later."""
        conn = _conn(Setup(Role.SERVER, True, False, None, 64 << 20, True), False)
        assert conn.deflate is not None
        counting = _Counting(conn.deflate)
        conn.deflate = counting
        data = random.Random(6).randbytes(100_000)
        octets = _fragmented(data, 256, deflate=True)
        got, _ = _run(conn, [octets[i : i + 8192] for i in range(0, len(octets), 8192)])
        assert [e.data for e in got if isinstance(e, ev.Message)] == [data]
        assert len(counting.calls) == -(-len(octets) // 8192)

    @pytest.mark.parametrize("fragment", [1, 125, 126, 1000, 70_000])
    def test_one_read_one_message(self, fragment: int) -> None:
        data = "κόσμε ".encode() * 20_000
        conn = _conn(Setup(Role.SERVER, False, False, None, None, True), False)
        conn.receive_data(_fragmented(data, fragment))
        assert list(conn.events()) == [ev.Message(Opcode.BINARY, data, None, False, 1.0)]
        assert not conn._buf  # every frame consumed in one pull


class TestLimits:
    """`max_message` counts the message as the general path does: the frame that takes it over
    the limit fails it (1009), the frames before it are read."""

    def test_the_frame_over_the_limit_fails(self) -> None:
        conn = _conn(Setup(Role.SERVER, False, False, None, 1000, True), False)
        got, _ = _run(conn, [_fragmented(b"x" * 1100, 100)])
        assert got[0][1:3] == ("frame.message-too-big", "message of at least 1100 octets, limit 1000")  # type: ignore[index]

    def test_compressed_octets_count_as_what_they_may_inflate_to(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The general path counts a compressed frame's length on top of what the frames before
        it inflated to, so a message inflating to exactly the limit fails when its last frame
        carries a few octets that inflate to less than their number (the end of the deflate
        data). The fast path cannot know what frames inflate to before inflating them, so it
        leaves a frame that might cross the limit to the general path; a mutant that counts
        compressed octets as inflated ones takes it and lets the message through."""
        data = bytes(random.Random(7).choices(b"abc ", k=3000))
        size = len(_fragmented(data, 0, deflate=True)) - 6  # the compressed payload (header, key)
        examples = [(Setup(Role.SERVER, True, False, None, len(data), True),
                     [_fragmented(data, size - k, deflate=True)]) for k in range(1, 6)]
        assert all(_agree(e) for e in examples)
        monkeypatch.setattr(Connection, "_room", lambda self, taken, compressed: self.max_message - self._msg_size - taken)
        assert not all(_agree(e) for e in examples)

    def test_a_message_at_the_limit_passes(self) -> None:
        conn = _conn(Setup(Role.SERVER, False, False, None, 1000, True), False)
        got, _ = _run(conn, [_fragmented(b"x" * 1000, 100)])
        assert got[0] == ev.Message(Opcode.BINARY, b"x" * 1000, None, False, 1.0)


class TestSection8_1FailFast:
    """Uncompressed text is validated as its frames arrive (`_look_ahead`): a frame that has not
    fully arrived is read by the general path, so invalid UTF-8 fails the connection at once."""

    def _first_read(self, fail_fast: bool) -> tuple[list[object], list[object]]:
        data = "κόσμε".encode() * 100
        octets = _fragmented(data[:450] + b"\xff" + data[450:], 100, text=False)
        octets = bytes([0x01]) + octets[1:]  # the same frames as text
        cut = 4 * 106 + 6 + 60  # frames of 6 + 100 octets: inside the fifth, past its octet 50 (450 of the text)
        setup = Setup(Role.SERVER, False, False, None, None, fail_fast)
        fast, general = _conn(setup, False), _conn(setup, True)
        for conn in (fast, general):
            conn.receive_data(octets[:cut])
        return ([e for e in fast.events() if not isinstance(e, ev.FrameReceived)],
                [e for e in general.events() if not isinstance(e, ev.FrameReceived)])

    def test_the_invalid_octet_fails_before_its_frame_is_whole(self) -> None:
        fast, general = self._first_read(True)
        assert fast == general and len(fast) == 1 and isinstance(fast[0], ev.Failure)
        assert fast[0].detail.endswith("(the frame had not fully arrived)")

    def test_a_mutant_that_lets_text_wait_fails_late(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(Connection, "_may_wait", lambda self, op, compressed: True)
        fast, general = self._first_read(True)
        assert fast == [] and general != []

    def test_without_fail_fast_nothing_is_looked_ahead(self) -> None:
        assert self._first_read(False) == ([], [])


# -- mutants: each skips one check of the fast path; the comparison above catches every one ---

def _frame_head_lax(*, mask: bool = True, minimal: bool = True) -> Callable[..., Any]:
    """`_frame_head` without its MASK-bit check or without its shortest-length check."""
    def head(buf: bytearray, pos: int, n: int, masked: bool) -> tuple[int, int, int] | None:
        h = parse_header(buf, pos)
        if h is None or h.header_len > n - pos:
            return None
        if (mask and (h.mask is not None) != masked) or (minimal and not h.minimal_length):
            return None
        return buf[pos], pos + h.header_len, h.length
    return head


_same_header = connection._same_header
_MUTANTS: dict[str, tuple[object, str, object, str | None]] = {  # what, where, the mutant, the break it misses
    "the MASK bit is not checked": (connection, "_frame_head", _frame_head_lax(mask=False), "wrong-mask"),
    "a longer length form is taken": (connection, "_frame_head", _frame_head_lax(minimal=False), "long-form"),
    "the run's headers are not compared": (connection, "_same_header", lambda rows, width: len(rows), None),
    "the run compares only the length": (connection, "_same_header",
                                         lambda rows, width: _same_header(rows[:, 1:], width - 1), "rsv3"),
    "max_message is not counted": (Connection, "_room", lambda self, taken, compressed: None, None),
    "the first frame's opcode is not checked": (connection, "_FRAGMENT_FIRST",
                                                {b: Opcode.TEXT if b == 1 else Opcode.BINARY for b in range(1, 8)},
                                                "reserved-opcode"),
    "RSV1 without deflate": (connection, "_FRAGMENT_FIRST",
                             {0x01: Opcode.TEXT, 0x02: Opcode.BINARY, 0x41: Opcode.TEXT, 0x42: Opcode.BINARY}, "rsv1"),
    "RSV1 on the last continuation frame": (connection, "_CONT_LAST", 0xC0, "rsv1"),
}


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # the repr of a long example
@pytest.mark.parametrize("name", list(_MUTANTS))
def test_the_comparison_catches_a_fast_path_that_skips_a_check(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    owner, attr, mutant, focus = _MUTANTS[name]
    monkeypatch.setattr(owner, attr, mutant)
    found = find(streams(focus), _disagree, settings=settings(
        max_examples=_EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck)))
    assert _disagree(found)


def _disagree(example: tuple[Setup, list[bytes]]) -> bool:
    """The paths differ, or the fast path breaks down (a mutant may read past what it should)."""
    try:
        return not _agree(example)
    except Exception:  # any failure of a mutant is what the comparison must see
        return True
