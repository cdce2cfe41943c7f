"""conformance/engine/connection.py, sending: a fragmented message built in one batch
(wire.frames.serialize_fragments) writes the octets the frame-by-frame path writes with the same
masking keys, for either role, compressed or not, and the keys come from the same stream in the
same order."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.engine import connection
from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role
from conformance.engine.deflate import negotiated_codec
from conformance.wire.deflate import DeflateParams
from conformance.wire.frames import Opcode, apply_mask, parse_header


@contextlib.contextmanager
def _batch_from(frames: int) -> Iterator[None]:
    """Messages of `frames` frames or more go out in one batch (1: always, huge: never)."""
    was = connection._BATCH_FROM
    connection._BATCH_FROM = frames
    try:
        yield
    finally:
        connection._BATCH_FROM = was


def _stream(seed: bytes) -> Callable[[int], bytes]:
    """A seeded key source as the runner sets one: n keys per call, in order."""
    made = bytearray()
    taken = 0

    def take(n: int = 1) -> bytes:
        nonlocal taken
        while len(made) < taken + 4 * n:
            made.extend(hashlib.sha256(seed + len(made).to_bytes(8, "big")).digest())
        taken += 4 * n
        return bytes(made[taken - 4 * n : taken])

    return take


def _conn(role: Role, compressed: bool, seed: bytes | None) -> Connection:
    codec = negotiated_codec(DeflateParams(), role.value, None) if compressed else None
    c = Connection(role, deflate=codec)
    if seed is not None:
        c.mask_keys = _stream(seed)
    return c


Send = tuple[int, int, bool, bool | None]  # size, fragment, text, compress (send_message's)


def _send_all(c: Connection, messages: list[Send], payload: bytes) -> bytes:
    for k, (size, fragment, text, compress) in enumerate(messages):
        c.send_message(payload[:size], fragment=fragment, text=text, compress=compress)
        if k == 1:
            c.ping(b"between")  # the engine's own control frame: a random key, not one of the stream
            c.data_to_send()
    return c.data_to_send()


def _frames(raw: bytes) -> list[tuple[Opcode, bool, bool, bytes | None, bytes]]:
    out, pos = [], 0
    while pos < len(raw):
        h = parse_header(raw, pos)
        assert h is not None
        body = raw[pos + h.header_len : pos + h.header_len + h.length]
        out.append((h.opcode, h.fin, h.rsv1, h.mask, apply_mask(body, h.mask) if h.mask else body))
        pos += h.header_len + h.length
    assert pos == len(raw)
    return out


fragments = st.sampled_from([1, 3, 4, 125, 126, 256, 1024, 4096, 32768, 65535, 65536, 70000]) | st.integers(1, 70000)
# at most 3000 frames a message: the frame-by-frame reference is slow
sends = fragments.flatmap(lambda f: st.tuples(
    st.integers(0, min(140_000, 3000 * f)) | st.sampled_from([0, f - 1, f, f + 1, 3 * f, 4 * f + 1]),
    st.just(f), st.booleans(), st.sampled_from([None, False])))


class TestSection5_4FragmentedMessagesInOneBatch:
    @settings(max_examples=120, deadline=None)
    @given(st.lists(sends, min_size=1, max_size=4), st.sampled_from([Role.CLIENT, Role.SERVER]), st.booleans())
    def test_the_same_octets_as_frame_by_frame(self, messages: list[Send], role: Role, compressed: bool) -> None:
        payload = os.urandom(140_000)
        with _batch_from(10**9):
            one_by_one = _send_all(_conn(role, compressed, b"seed"), messages, payload)
        with _batch_from(1):
            batch = _send_all(_conn(role, compressed, b"seed"), messages, payload)
        assert batch == one_by_one

    def test_the_default_batches_from_a_few_frames(self) -> None:
        assert 2 <= connection._BATCH_FROM <= 16
        with _batch_from(10**9):
            one_by_one = _send_all(_conn(Role.CLIENT, True, b"s"), [(9000, 256, True, None)], os.urandom(9000))
        c = _conn(Role.CLIENT, True, b"s")
        out = _send_all(c, [(9000, 256, True, None)], os.urandom(9000))
        assert len(_frames(out)) == len(_frames(one_by_one))

    def test_keys_without_a_stream_are_fresh_and_the_peer_reads_the_message(self) -> None:
        client = Connection(Role.CLIENT, deflate=negotiated_codec(DeflateParams(), "client", None))
        server = Connection(Role.SERVER, deflate=negotiated_codec(DeflateParams(), "server", None))
        text = os.urandom(50_000).hex()
        client.send_message(text, fragment=256)
        raw = client.data_to_send()
        frames = _frames(raw)
        assert len(frames) > 100
        assert [f[:3] for f in (frames[0], frames[1], frames[-1])] == [
            (Opcode.TEXT, False, True), (Opcode.CONT, False, False), (Opcode.CONT, True, False)]
        keys = [f[3] for f in frames]
        assert len(set(keys)) > len(keys) * 0.9  # one key per frame, random
        server.receive_data(raw)
        got = [e for e in server.events() if isinstance(e, ev.Message)]
        assert [(m.opcode, m.data) for m in got] == [(Opcode.TEXT, text.encode())]

    def test_a_server_sends_unmasked(self) -> None:
        server = Connection(Role.SERVER)
        server.send_message(b"x" * 1000, fragment=100, text=False)
        frames = _frames(server.data_to_send())
        assert [(f[0], f[1], f[3], len(f[4])) for f in frames] == (
            [(Opcode.BINARY, False, None, 100)] + [(Opcode.CONT, False, None, 100)] * 8 + [(Opcode.CONT, True, None, 100)])

    def test_a_subclass_that_chooses_keys_is_asked_frame_by_frame(self) -> None:
        """The replay's connection masks its frames with recorded keys through `_mask_key`."""

        class Recorded(Connection):
            def __init__(self) -> None:
                super().__init__(Role.CLIENT)
                self.given = [bytes((i, i, i, i)) for i in range(1, 11)]

            def _mask_key(self, opcode: Opcode) -> bytes:
                return self.given.pop(0)

        c = Recorded()
        c.send_message(b"y" * 50, fragment=5, text=False)
        assert [f[3] for f in _frames(c.data_to_send())] == [bytes((i, i, i, i)) for i in range(1, 11)]
