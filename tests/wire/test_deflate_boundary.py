"""conformance/wire/deflate.py, the end of a message (RFC 7692 §7.2.1, rule deflate.invalid-data):
the codec proving the block boundary from zlib's record (zstate.py) accepts and refuses exactly
what the copy probe alone does, on any stream; and the comparison catches weaker checks."""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.wire import deflate as wd
from conformance.wire import zstate
from conformance.wire.deflate import DeflateCodec, DeflateDataError, DeflateParams, DeflateTooBigError
from tests.wire.deflate_data import compressible
from tests.wire.deflate_data import strict_budget as budget

SYNC, FULL, FINISH = zlib.Z_SYNC_FLUSH, zlib.Z_FULL_FLUSH, zlib.Z_FINISH
# how a message's payload ends: as §7.2.1 has it (after a sync or a full flush), with a final
# block inside and the stream going on after it (§7.2.3.4), with a final block and no empty block
# after it, cut at an octet, cut at a bit
KINDS = ["sync", "full", "final-inside", "final-last", "cut-octet", "cut-bit"]
Message = tuple[bytes, str, int, int]  # octets, how its payload ends, where it is cut, where split
Outcome = tuple[object, ...]


def cut_bits(data: bytes, bits: int) -> bytes:
    whole, rest = divmod(bits, 8)
    return data[:whole] + (bytes([data[whole] & ((1 << rest) - 1)]) if rest else b"")


class Sender:
    """A peer's compressor, as plain zlib: §7.2.1 step by step, or broken on purpose."""

    def __init__(self, bits: int, no_takeover: bool) -> None:
        self.bits, self.no_takeover = max(bits, 9), no_takeover
        self.history = b""
        self.c = self._new()

    def _new(self, history: bytes = b"") -> Any:
        if history:
            return zlib.compressobj(6, zlib.DEFLATED, -self.bits, 8, zdict=history)
        return zlib.compressobj(6, zlib.DEFLATED, -self.bits)

    def payload(self, message: bytes, kind: str, at: int) -> bytes:
        if self.no_takeover:
            self.history, self.c = b"", self._new()
        if kind in ("final-inside", "final-last"):
            at = at % (len(message) + 1) if kind == "final-inside" else len(message)
            out = self.c.compress(message[:at]) + self.c.flush(FINISH)
            self.c = self._new((self.history + message[:at])[-(1 << self.bits):])
            if kind == "final-inside":
                out += (self.c.compress(message[at:]) + self.c.flush(SYNC))[:-4]
        else:
            out = (self.c.compress(message) + self.c.flush(FULL if kind == "full" else SYNC))[:-4]
            if kind == "cut-octet":
                out = out[: at % (len(out) + 1)]
            elif kind == "cut-bit":
                out = cut_bits(out, at % (8 * len(out) + 1))
        self.history = (self.history + message)[-(1 << self.bits):]
        return out


def receiver(bits: int, no_takeover: bool, lenient: bool, limit: int | None,
             kind: type[DeflateCodec] = DeflateCodec) -> DeflateCodec:
    params = DeflateParams(server_no_context_takeover=no_takeover, server_max_window_bits=bits)
    c = kind(role="client", params=params, max_message=limit)
    c.check_boundary = not lenient
    return c


def outcomes(messages: list[Message], bits: int, no_takeover: bool, lenient: bool = False,
             limit: int | None = None, kind: type[DeflateCodec] = DeflateCodec) -> list[Outcome]:
    """What the receiver makes of each message, up to the first that fails the connection."""
    sender, c = Sender(bits, no_takeover), receiver(bits, no_takeover, lenient, limit, kind)
    seen: list[Outcome] = []
    for message, how, at, split in messages:
        payload = sender.payload(message, how, at)
        try:
            head = c.decode(payload[:split], False) if 0 < split < len(payload) else b""
            got = head + c.decode(payload[split:] if 0 < split < len(payload) else payload, True)
            seen.append(("ok", got, c.cut_short))
        except (DeflateDataError, DeflateTooBigError) as exc:
            seen.append((type(exc).__name__, str(exc), getattr(exc, "hint", None)))
            break
    return seen


@contextmanager
def reading(view: Callable[[object], Any]) -> Iterator[None]:
    """The codec reads zlib's record through `view` (the real one, none, a mutant)."""
    saved = wd.boundary_view
    wd.boundary_view = view
    try:
        yield
    finally:
        wd.boundary_view = saved




def probe_only(d: object) -> None:
    return None


def compared(messages: list[Message], bits: int, no_takeover: bool, lenient: bool, limit: int | None,
             view: Callable[[object], Any] = zstate.boundary_view,
             kind: type[DeflateCodec] = DeflateCodec) -> tuple[list[Outcome], list[Outcome]]:
    """(with `view` and `kind`, with the copy probe alone) on the same messages."""
    with reading(view):
        subject = outcomes(messages, bits, no_takeover, lenient, limit, kind)
    with reading(probe_only):
        reference = outcomes(messages, bits, no_takeover, lenient, limit)
    return subject, reference


_WORDS = [b"frame ", b"mask ", b"window ", b"\xce\xba\xe1\xbd\xb9 ", b"{\"id\": ", b"}\n"]


def words(size: int, seed: int) -> bytes:
    return compressible(size, seed, _WORDS)


texts = st.builds(words, st.integers(0, 5000), st.integers(0, 99)) | st.binary(max_size=1500) | st.just(b"")
messages_ = st.lists(st.tuples(texts, st.sampled_from(KINDS), st.integers(0, 1 << 16), st.integers(0, 400)),
                     min_size=1, max_size=8)


def random_cases(count: int, seed: int) -> Iterator[tuple[list[Message], int, bool]]:
    rnd = random.Random(seed)
    for _ in range(count):
        bits = rnd.choice([9, 12, 15, 15])
        messages = [(words(rnd.randrange(3000), rnd.randrange(99)), rnd.choice(KINDS), rnd.randrange(1 << 16),
                     rnd.choice([0, 0, 100])) for _ in range(rnd.randrange(1, 6))]
        yield messages, bits, rnd.random() < 0.3


class TestSection7_2_1SameVerdictsAsTheProbe:
    @given(messages_, st.integers(9, 15), st.booleans(), st.booleans(), st.sampled_from([None, 4000]),
           st.sampled_from([None, 3000]))
    @settings(max_examples=300, deadline=None)
    def test_any_stream(self, messages: list[Message], bits: int, no_takeover: bool, lenient: bool,
                        limit: int | None, strict_budget: int | None) -> None:
        """Random messages ending every way, cut at any octet or bit, whole or in two frames, with
        and without context takeover, windows 9-15 (stock zlib in small steps, then zlib-ng)."""
        with budget(strict_budget or wd._STRICT_BUDGET):
            subject, reference = compared(messages, bits, no_takeover, lenient, limit)
        assert subject == reference

    @pytest.mark.parametrize("no_takeover", [False, True])
    def test_every_octet_and_bit_of_one_message(self, no_takeover: bool) -> None:
        message = words(700, 1)
        for bits in (9, 15):
            length = len(Sender(bits, no_takeover).payload(message, "sync", 0))
            for at in range(8 * length + 1):
                cases = [(words(300, 2), "sync", 0, 0), (message, "cut-bit", at, 0), (words(300, 3), "sync", 0, 0)]
                subject, reference = compared(cases, bits, no_takeover, False, None)
                assert subject == reference, (bits, at)

    def test_the_streams_above_refuse_and_accept(self) -> None:
        """The comparison is not empty: cut messages are refused, the others accepted."""
        verdicts = [o[0] for cases, bits, reset in random_cases(150, 7)
                    for o in outcomes(cases, bits, reset)]
        assert verdicts.count("ok") > 100 and verdicts.count("DeflateDataError") > 50


class Always:
    value = zstate.AT_BOUNDARY


class LastOctets(DeflateCodec):
    """A mutant: the boundary judged from the payload's last octet alone (an empty stored block's
    header, three zero bits, then zero padding, ends a payload sent as §7.2.1 says)."""

    def decode(self, payload: bytes, fin: bool) -> bytes:
        self._payload = payload
        return super().decode(payload, fin)

    def _probe(self, d: Any) -> None:
        if not self._payload or self._payload[-1] >> 5:
            raise DeflateDataError("the message ends inside a deflate block: it was cut short")


class TestMutantsAreCaught:
    @pytest.mark.parametrize("mutant", ["always", "last-octets"])
    def test_the_comparison_finds_a_weaker_check(self, mutant: str) -> None:
        view: Callable[[object], Any] = (lambda d: Always()) if mutant == "always" else probe_only
        kind = LastOctets if mutant == "last-octets" else DeflateCodec
        differ = sum(1 for cases, bits, reset in random_cases(150, 7)
                     if len(set(map(repr, compared(cases, bits, reset, False, None, view, kind)))) > 1)
        assert differ > 10

    def test_the_real_check_differs_nowhere(self) -> None:
        assert all(a == b for a, b in (compared(cases, bits, reset, False, None)
                                       for cases, bits, reset in random_cases(150, 7)))


class TestTheProbeRunsOnlyWhereNeeded:
    @staticmethod
    def probes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
        calls: list[int] = []
        real = DeflateCodec._probe

        def counted(self: DeflateCodec, d: Any) -> None:
            calls.append(1)
            real(self, d)

        monkeypatch.setattr(DeflateCodec, "_probe", counted)
        return calls

    @pytest.mark.parametrize("bits", [9, 12, 15])
    @pytest.mark.parametrize("no_takeover", [False, True])
    def test_messages_as_sent_need_no_probe(self, monkeypatch: pytest.MonkeyPatch, bits: int,
                                            no_takeover: bool) -> None:
        calls = self.probes(monkeypatch)
        cases = [(words(n, n), "sync", 0, 0) for n in (10, 500, 3000, 20_000, 1, 900)]
        assert [o[0] for o in outcomes(cases, bits, no_takeover)] == ["ok"] * len(cases)
        assert calls == []

    def test_output_filling_the_last_step_exactly_is_probed_and_accepted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Below 15 bits zlib writes 64 octets a call; a message of a multiple of 64 may make one
        more call with no input, after which zlib's record no longer shows the boundary: the
        probe decides, and accepts."""
        calls = self.probes(monkeypatch)
        cases = [(words(n, n), "sync", 0, 0) for n in (64, 640, 6400)]
        assert [o[0] for o in outcomes(cases, 12, False)] == ["ok"] * 3
        assert calls

    def test_a_cut_message_is_refused_by_the_probe(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls = self.probes(monkeypatch)
        cases = [(words(2000, 5), "sync", 0, 0), (words(2000, 6), "cut-octet", 100, 0)]
        assert [o[0] for o in outcomes(cases, 15, False)] == ["ok", "DeflateDataError"]
        assert len(calls) == 1
