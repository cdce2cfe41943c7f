"""runner/regen.py: masking keys from a seed (the same seed, the same keys, and only the frames
the step itself sends take them), and the words for a replayed step that did otherwise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.engine import connection
from conformance.engine.connection import Connection, Role
from conformance.runner.regen import KeyStream, differences
from conformance.wire.frames import Frame, Opcode, parse_header


def _keys(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while (h := parse_header(data, pos)) is not None:
        assert h.mask is not None
        out.append(h.mask)
        pos += h.header_len + h.length
    return out


class TestKeyStream:
    def test_the_same_seed_gives_the_same_keys(self) -> None:
        a, b = KeyStream(b"s" * 16), KeyStream(b"s" * 16)
        keys = [a.take() for _ in range(40)]  # more than one block of the stream
        assert keys == [b.take() for _ in range(40)]
        assert all(len(k) == 4 for k in keys) and len(set(keys)) > 35

    def test_another_seed_gives_other_keys(self) -> None:
        a, b = KeyStream(b"s" * 16), KeyStream(b"t" * 16)
        assert [a.take() for _ in range(4)] != [b.take() for _ in range(4)]

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(0, 70) | st.integers(0, 600), max_size=12))
    def test_many_keys_at_once_are_the_keys_one_by_one(self, counts: list[int]) -> None:
        """A fragmented message takes its keys in one call: the stream and their order stay those
        of one call a frame, so that a replay of an older recording makes the same octets."""
        bulk, single = KeyStream(b"s" * 16), KeyStream(b"s" * 16)
        for n in counts:
            got = bulk.take(n)
            assert len(got) == 4 * n
            assert got == b"".join(single.take() for _ in range(n))
        assert bulk.take() == single.take()  # and both go on alike


class TestSeededConnection:
    def _send(self, seed: bytes, ping_between: bool) -> tuple[bytes, bytes]:
        c = Connection(Role.CLIENT)
        c.mask_keys = KeyStream(seed).take
        c.send_message(b"x" * 3000, fragment=1000)
        steps = c.data_to_send()
        if ping_between:
            c.ping(b"p")  # the engine's own control frame: a fresh key, not one of the stream
            c.data_to_send()
        c.send_frame(Frame(Opcode.PING, b"flood"))
        return steps, c.data_to_send()

    def test_data_frames_and_send_frame_take_the_stream(self) -> None:
        first = self._send(b"k" * 16, ping_between=False)
        assert first == self._send(b"k" * 16, ping_between=False)
        assert len(_keys(first[0])) == 3

    def test_a_message_in_one_batch_takes_the_keys_frame_by_frame_would(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """From a few frames on, a message takes its keys from the stream in one call: the same
        keys in the same order, so the same octets, as when each frame took one."""
        def send(batch_from: int) -> bytes:
            monkeypatch.setattr(connection, "_BATCH_FROM", batch_from)
            c = Connection(Role.CLIENT)
            c.mask_keys = KeyStream(b"k" * 16).take
            for size in (3000, 70, 5000):  # the stream goes on from message to message
                c.send_message(b"x" * size, fragment=100)
            return c.data_to_send()

        assert len(_keys(send(1))) == 30 + 1 + 50
        assert send(1) == send(10**9)

    def test_the_engines_own_frames_do_not_use_up_the_stream(self) -> None:
        assert self._send(b"k" * 16, ping_between=True) == self._send(b"k" * 16, ping_between=False)

    def test_without_a_stream_keys_are_fresh(self) -> None:
        a, b = Connection(Role.CLIENT), Connection(Role.CLIENT)
        a.send_message(b"x")
        b.send_message(b"x")
        assert a.data_to_send() != b.data_to_send()


class TestDifferences:
    THEN = {"sent": 10, "sent_sha256": "aa", "echoed": 2, "echoed_sha256": "bb", "echo_failure": ""}

    def test_the_same_step_has_none(self) -> None:
        assert differences(self.THEN, dict(self.THEN)) == []

    def test_other_octets_of_the_same_length_are_named(self) -> None:
        (d,) = differences(self.THEN, {**self.THEN, "sent_sha256": "cc"})
        assert "not the same octets" in d

    def test_fewer_echoes_and_how_the_echo_ended(self) -> None:
        ds = differences(self.THEN, {**self.THEN, "echoed": 1, "echo_failure": "mismatch"})
        assert ds == ["2 echoes came back intact then, 1 now", "the echo ended complete then, mismatch now"]

    def test_a_target_that_closed_mid_step_both_times_is_told_apart(self) -> None:
        then = {**self.THEN, "peer_closed": True}
        (d,) = differences(then, {**then, "sent": 7})
        assert d == "the target closed during the step both times, after 10 octets of it then and 7 now"
        (d,) = differences(self.THEN, {**self.THEN, "sent": 7})
        assert d == "wrote 10 octets then, 7 now"

    def test_a_step_the_time_budget_stopped_is_told_apart(self) -> None:
        (d,) = differences({**self.THEN, "stopped_by_budget": True}, {**self.THEN, "sent": 12})
        assert d == "the case's time budget stopped the step then (wrote 10 octets then, 12 now)"


class TestEchoDigestForms:
    """`echoed_sha256` is taken over each echo's length and SHA-256 (trace.ECHO_DIGEST); a record
    made before, over the echoes' octets, names no form: its digest cannot be compared."""

    NOW = {**TestDifferences.THEN, "echoed_digest": "length and sha256 of each echo"}

    def test_digests_of_the_same_form_are_compared(self) -> None:
        (d,) = differences(self.NOW, {**self.NOW, "echoed_sha256": "cc"})
        assert d == "as many echoes came back, but not the same octets (SHA-256 differs)"

    def test_a_record_of_the_older_form_is_not_called_different(self) -> None:
        assert differences(TestDifferences.THEN, {**self.NOW, "echoed_sha256": "cc"}) == []
        # the count is still compared
        assert differences(TestDifferences.THEN, {**self.NOW, "echoed": 1}) == ["2 echoes came back intact then, 1 now"]
