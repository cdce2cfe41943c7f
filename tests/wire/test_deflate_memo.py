"""conformance/wire/deflate.py, the receive memo (`_Inflations`): a message inflated before after
the same history is taken from it, and that must never change an output or an error.

The property: a receiver with the memo and one without, fed the same frames, give the same
messages and fail on the same frame with the same error. The streams go round a small pool of
messages (so that compressed forms recur after the same history), with context takeover on and
off, windows of 9-15 bits, messages that differ in one octet where the fingerprint does not look,
histories that differ only far back, and payloads damaged, cut or moved after another history.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from conformance.wire import deflate as wd
from conformance.wire.deflate import DeflateCodec, DeflateParams
from tests.wire.deflate_data import compressible, strict_budget

BASE = compressible(40_000, 1)
# one octet changed a quarter in: the fingerprint (start, middle, end) does not see it
ONE_OCTET = BASE[:2000] + bytes([BASE[500] ^ 1]) + BASE[2001:3000]
POOL = [
    BASE[:3000], ONE_OCTET, BASE[3000:4500], BASE[4500:9000], BASE[:1200],
    b"X" * 40 + BASE[40:3000],  # differs from the first only at its start: far back, later
    BASE[9000:10_100], bytes(range(256)) * 6, BASE[:300], b"",
]


@dataclasses.dataclass(frozen=True)
class Stream:
    bits: int
    no_takeover: bool
    frames: list[tuple[bytes, bool]]  # (payload, fin) as the receiver gets them
    max_message: int | None


def sender(bits: int, no_takeover: bool) -> DeflateCodec:
    params = DeflateParams(client_no_context_takeover=no_takeover, client_max_window_bits=bits)
    return DeflateCodec(role="client", params=params, level=1)


def receiver(stream: Stream, recall: bool) -> DeflateCodec:
    params = DeflateParams(client_no_context_takeover=stream.no_takeover, client_max_window_bits=stream.bits)
    codec = DeflateCodec(role="server", params=params, max_message=stream.max_message)
    codec.recall = recall
    return codec


def _damage(frames: list[tuple[bytes, bool]], how: str, at: int, where: int, other: int) -> None:
    if not frames:
        return
    i = at % len(frames)
    payload, fin = frames[i]
    if how == "flip" and payload:
        k = where % len(payload)
        frames[i] = (payload[:k] + bytes([payload[k] ^ (1 << (where % 8))]) + payload[k + 1:], fin)
    elif how == "cut" and payload:
        frames[i] = (payload[: where % len(payload)], fin)
    elif how == "move":  # a payload compressed after one history, received after another
        frames[i] = (frames[other % len(frames)][0], fin)


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    """Streams that go round a pattern of pool messages (whole, or in two frames), then damage
    some frames. Shrinks towards fewer rounds, shorter patterns and no damage."""
    bits = draw(st.integers(9, 15))
    no_takeover = draw(st.booleans())
    pattern = draw(st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=5))
    rounds = draw(st.integers(1, 6))
    extra = draw(st.lists(st.integers(0, len(POOL) - 1), max_size=4))
    messages = [*(pattern * rounds), *extra, *pattern]
    split = draw(st.lists(st.integers(0, len(messages) - 1), max_size=2))
    cut = draw(st.sets(st.integers(0, len(POOL) - 1), max_size=3))  # these go out in frames of `size`
    size = draw(st.sampled_from([7, 64, 300]))
    joins = random.Random(draw(st.integers(0, 1 << 32)))  # which frames arrive together, in one call
    tx = sender(bits, no_takeover)
    frames: list[tuple[bytes, bool]] = []
    for i, k in enumerate(messages):
        m = POOL[k]
        if i in split and len(m) > 1:
            frames += [(tx.encode(m[: len(m) // 2], False), False), (tx.encode(m[len(m) // 2:], True), True)]
        elif k in cut:
            frames += calls(tx.encode(m, True), size, joins)
        else:
            frames.append((tx.encode(m, True), True))
    damage = draw(st.lists(st.tuples(st.sampled_from(["flip", "cut", "move"]), st.integers(0, 200),
                                     st.integers(0, 1 << 16), st.integers(0, 200)), max_size=2))
    for how, at, where, other in damage:
        _damage(frames, how, at, where, other)
    limit = draw(st.sampled_from([None, None, 3500]))
    return Stream(bits, no_takeover, frames, limit)


def calls(payload: bytes, size: int, joins: random.Random) -> list[tuple[bytes, bool]]:
    """A compressed message cut into frames of `size` octets (anywhere, even inside a block), as
    `decode` gets them when some arrive together: consecutive frames joined in one call."""
    frames = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    out: list[tuple[bytes, bool]] = []
    run = b""
    for i, frame in enumerate(frames):
        run += frame
        if i == len(frames) - 1 or joins.random() < 0.5:
            out.append((run, i == len(frames) - 1))
            run = b""
    return out


def outcomes(stream: Stream, recall: bool) -> list[object]:
    """What a receiver makes of each frame: its message, or its error (type, text, hint) and
    nothing after it (the connection is failed there)."""
    codec = receiver(stream, recall)
    got: list[object] = []
    for payload, fin in stream.frames:
        try:
            got.append(codec.decode(payload, fin))
        except (wd.DeflateDataError, wd.DeflateTooBigError) as exc:
            got.append((type(exc).__name__, str(exc), getattr(exc, "hint", None)))
            break
    return got




def same_with_and_without(stream: Stream) -> bool:
    with strict_budget(2000):
        return outcomes(stream, True) == outcomes(stream, False)


class TestSameOutputsAndErrors:
    @given(streams())
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    def test_the_memo_changes_nothing(self, stream: Stream) -> None:
        assert same_with_and_without(stream)

    def test_a_memo_keyed_without_the_history_is_caught(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The mutant: the key names the payload alone. The property above finds a stream it
        gets wrong (a payload after another history than the one it was inflated after)."""
        def key(self: wd._Inflations, payload: bytes) -> object:
            return None if len(payload) < self.lookup_from else ((), wd._fingerprint(payload))

        monkeypatch.setattr(wd._Inflations, "key", key)
        found = find(streams(), lambda s: not same_with_and_without(s),
                     settings=settings(max_examples=1000, deadline=None, database=None, derandomize=True,
                                     suppress_health_check=list(HealthCheck)))
        assert not found.no_takeover  # without context takeover the history is empty anyway


class TestHits:
    def slices(self, size: int, count: int, bits: int = 15, no_takeover: bool = False) -> list[bytes]:
        """Our sender's frames for `count` slices going round a corpus, as the volume cases send."""
        tx = sender(bits, no_takeover)
        rounds = [BASE[i * size:(i + 1) * size] for i in range(len(BASE) // size)]
        return [tx.encode(rounds[i % len(rounds)], True) for i in range(count)]

    @pytest.mark.parametrize(("bits", "no_takeover"), [(15, False), (15, True), (9, False), (12, True)])
    def test_corpus_slices_going_round_are_recalled(self, bits: int, no_takeover: bool) -> None:
        frames = self.slices(4000, 60, bits, no_takeover)
        stream = Stream(bits, no_takeover, [(f, True) for f in frames], None)
        with strict_budget(2000):
            codec = receiver(stream, True)
            got = [codec.decode(f, True) for f in frames]
            assert got == outcomes(stream, False)
        assert codec.recalled >= 60 - 3 * (len(BASE) // 4000)  # every copy after the second round
        assert got[-1] is got[-1 - len(BASE) // 4000]  # the stored bytes object, not a new inflation

    @pytest.mark.parametrize(("bits", "no_takeover"), [(15, False), (15, True), (9, False)])
    def test_messages_in_frames_going_round_are_recalled(self, bits: int, no_takeover: bool) -> None:
        """As 12.x.11-18: each compressed message cut into frames of 256 octets; some frames
        arrive together in one call, differently each time."""
        joins = random.Random(3)
        stream = Stream(bits, no_takeover, [c for f in self.slices(4000, 60, bits, no_takeover)
                                            for c in calls(f, 256, joins)], None)
        with strict_budget(2000):
            codec = receiver(stream, True)
            got = [codec.decode(p, fin) for p, fin in stream.frames]
            assert got == outcomes(stream, False)
        assert codec.recalled >= 20

    def test_a_memo_hit_leaves_the_decompressor_to_catch_up(self) -> None:
        """After recalled messages a new message refers back into them: the decompressor must be
        given the window it missed."""
        frames = self.slices(4000, 30)
        tx_tail = sender(15, False)
        for m in [BASE[i * 4000:(i + 1) * 4000] for i in range(10)] * 3:
            tx_tail.encode(m, True)
        new = tx_tail.encode(BASE[36_000:40_000] + BASE[1000:3000], True)
        codec = receiver(Stream(15, False, [], None), True)
        for f in frames:
            codec.decode(f, True)
        assert codec.recalled > 0
        assert codec.decode(new, True) == BASE[36_000:40_000] + BASE[1000:3000]

    def test_the_limit_is_checked_on_a_hit(self) -> None:
        frames = self.slices(4000, 30, no_takeover=True)
        codec = receiver(Stream(15, True, [], None), True)
        for f in frames:
            codec.decode(f, True)
        codec.max_message = 3999
        with pytest.raises(wd.DeflateTooBigError):
            codec.decode(frames[0], True)

    def test_a_part_of_a_message_is_never_recalled(self) -> None:
        tx = sender(15, True)
        whole = tx.encode(BASE[:4000], True)
        codec = receiver(Stream(15, True, [], None), True)
        codec.decode(whole, True)
        head = tx.encode(BASE[:4000], False)
        assert codec.decode(head, False) == BASE[:4000]
        codec.decode(whole, True)  # the same payload, but as the last frame of a longer message
        assert codec.recalled == 0

    def test_the_memo_stays_bounded(self) -> None:
        tx = sender(15, True)
        codec = receiver(Stream(15, True, [], None), True)
        for i in range(3 * wd._MEMO_LIMIT // 30_000):
            message = compressible(30_000, i)
            codec.text_of(codec.decode(tx.encode(message, True), True))
        assert codec._recall.size <= wd._MEMO_LIMIT


class TestText:
    """`text_of`: the latest message read as UTF-8, decoded once per stored copy."""

    def test_a_recalled_text_keeps_its_checked_text(self) -> None:
        tx = sender(15, False)
        codec = receiver(Stream(15, False, [], None), True)
        sent = [BASE[(i % 8) * 4000:(i % 8 + 1) * 4000] for i in range(40)]
        texts = [codec.text_of(codec.decode(tx.encode(m, True), True)) for m in sent]
        assert texts == [m.decode() for m in sent]
        assert codec.recalled > 0 and texts[-1] is texts[-9]  # the same str, decoded once

    def test_the_text_is_always_the_messages_own(self) -> None:
        tx = sender(15, True)
        codec = receiver(Stream(15, True, [], None), True)
        first = codec.decode(tx.encode(BASE[:4000], True), True)
        told = codec.text_of(first)
        again = codec.decode(tx.encode(BASE[:4000], True), True)
        assert again is first and codec.text_of(again) is told
        other = codec.decode(tx.encode(BASE[4000:8000], True), True)
        assert codec.text_of(other) == BASE[4000:8000].decode()
        assert codec.text_of(first) == told  # no longer the latest: decoded anew, the same text

    def test_invalid_utf8_is_refused_every_time(self) -> None:
        tx = sender(15, True)
        codec = receiver(Stream(15, True, [], None), True)
        bad = b"\xff" + random.Random(2).randbytes(3000)
        for _ in range(3):
            message = codec.decode(tx.encode(bad, True), True)
            with pytest.raises(UnicodeDecodeError):
                codec.text_of(message)
        assert codec.recalled == 2
