"""Echo steps compare the echo with the message sent octet for octet (no digest in between)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.engine.events import Message
from conformance.runner.steps import _echo_mismatch, _first_difference
from conformance.wire.frames import Opcode


@given(st.binary(min_size=1, max_size=5000), st.data())
@settings(max_examples=200, deadline=None)
def test_first_difference_is_exact(sent: bytes, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(sent) - 1))
    changed = bytearray(sent)
    changed[at] ^= data.draw(st.integers(1, 255))
    assert _first_difference(bytes(changed), sent) == at


def test_one_changed_octet_is_reported_where_it_is() -> None:
    sent = bytes(range(256)) * 512
    echo = bytearray(sent)
    echo[70_000] ^= 1
    got = _echo_mismatch(Message(Opcode.BINARY, bytes(echo)), False, sent)
    assert "differs" in got and "octet 70000" in got


def test_an_exact_echo_passes_and_type_and_length_are_checked() -> None:
    sent = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5" * 100
    assert _echo_mismatch(Message(Opcode.TEXT, sent, sent.decode()), True, sent) == ""
    assert "BINARY" in _echo_mismatch(Message(Opcode.BINARY, sent), True, sent)
    assert "octets came back" in _echo_mismatch(Message(Opcode.TEXT, sent[:-1]), True, sent)
