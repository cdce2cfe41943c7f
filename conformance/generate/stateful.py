"""A stateful hypothesis machine that holds a conversation with an in-process library and asks the
engine, after every step, what a conforming server must have done by then.

Steps are what a client does: whole messages (text or binary, in one frame or fragmented, compressed
when permessage-deflate was agreed), fragments with pings between them, pings, and, now and then, one
thing a server must refuse (an unmasked frame, a reserved opcode or RSV bit, a long or fragmented
control frame, a continuation with no message, a new message inside another, invalid UTF-8, a close
frame with an invalid code), then a close. After each step the library's reaction (messages
delivered, pongs sent, close frame sent and its code) must match what conformance.engine.oracle
requires, as in conformance.fuzz.differential. Hypothesis shrinks a failing conversation to the fewest steps.

    from conformance.generate.stateful import conversation_machine
    TestWsproto = conversation_machine(ADAPTERS["wsproto"], deflate=True).TestCase
"""

from __future__ import annotations

__all__ = ["BAD_FRAMES", "conversation_machine"]

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from conformance.engine import deflate as pmd
from conformance.engine.connection import Connection, Role
from conformance.engine.oracle import Oracle
from conformance.fuzz.differential import Reaction, client_frame, mismatch, read_output, request
from conformance.wire.extheader import parse_extensions
from conformance.wire.http import parse_response

# Things a server must refuse, each as the octets a client sends (RFC 6455 §5.1, §5.2, §5.4, §5.5,
# §5.6, §7.4.1, §8.1).
BAD_FRAMES: dict[str, bytes] = {
    "unmasked text": client_frame(1, b"hi", mask=None),
    "RSV2 without an extension": client_frame(1, b"hi", rsv2=True),
    "reserved data opcode 3": client_frame(3, b"x"),
    "reserved control opcode 11": client_frame(11, b"x"),
    "ping of 126 octets": client_frame(9, b"p" * 126),
    "fragmented ping": client_frame(9, b"p", fin=False),
    "continuation \"x\" (bad unless a message is open)": client_frame(0, b"x"),
    "invalid UTF-8 text": client_frame(1, b"ok\xed\xa0\x80ok"),
    "close code 1005": client_frame(8, (1005).to_bytes(2, "big")),
    "close code 999": client_frame(8, (999).to_bytes(2, "big")),
    "close reason not UTF-8": client_frame(8, (1000).to_bytes(2, "big") + b"\xff"),
    "one-octet close payload": client_frame(8, b"\x03"),
}
_TEXTS = st.sampled_from(["", "Hello", "κόσμε", "\U0001f600 edge", "x" * 200, "words " * 40])
_BINARIES = st.sampled_from([b"", b"\x00\xff", bytes(range(256)), b"A" * 1000])


def conversation_machine(factory: Callable[[], Any], deflate: bool = False) -> type[RuleBasedStateMachine]:
    """A machine class bound to an adapter factory; run it with `.TestCase` or `run_state_machine_as_test`."""

    class Conversation(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.trace: list[tuple[str, bytes]] = []  # (step, octets sent), for the failure report

        @initialize()
        def open(self) -> None:
            self.lib = factory()
            self.lib.receive(request(deflate))
            self.lib.messages()
            head = self.lib.data_to_send()
            parsed = parse_response(head)
            assert parsed is not None and parsed[0].status == 101, f"the library refused the handshake: {head[:200]!r}"
            answers = parse_extensions(parsed[0].headers.get_all("Sec-WebSocket-Extensions"))
            agreed = pmd.client_accept(answers[0][1], [pmd.parse_offer([])]) if answers else None
            self.compressed = agreed is not None
            self.oracle = Oracle(agreed)  # what a conforming server must have done so far
            self.writer = Connection(Role.CLIENT, deflate=pmd.negotiated_codec(agreed, "client", None) if agreed else None)
            self.output = bytearray(head[parsed[1]:])
            self.seen = Reaction()  # what the library did so far
            self.ended = False
            self.fragmenting = False

        # -- what a client does ---------------------------------------------------------------

        @precondition(lambda self: not self.ended and not self.fragmenting)
        @rule(text=_TEXTS, fragment=st.sampled_from([0, 0, 1, 3, 64]))
        def text_message(self, text: str, fragment: int) -> None:
            self.writer.send_message(text, fragment=fragment)
            self._step(f"text message of {len(text.encode())} octets in frames of {fragment or 'any'}")

        @precondition(lambda self: not self.ended and not self.fragmenting)
        @rule(data=_BINARIES, fragment=st.sampled_from([0, 0, 7, 500]))
        def binary_message(self, data: bytes, fragment: int) -> None:
            self.writer.send_message(data, fragment=fragment)
            self._step(f"binary message of {len(data)} octets in frames of {fragment or 'any'}")

        @precondition(lambda self: not self.ended and not self.fragmenting)
        @rule(text=_TEXTS)
        def first_fragment(self, text: str) -> None:
            self.writer.send_data(text, final=False)
            self.fragmenting = True
            self._step(f"first fragment of a text message ({len(text.encode())} octets)")

        @precondition(lambda self: not self.ended and self.fragmenting)
        @rule(text=_TEXTS, final=st.booleans())
        def next_fragment(self, text: str, final: bool) -> None:
            self.writer.send_data(text, final=final)
            self.fragmenting = not final
            self._step(f"{'last' if final else 'next'} fragment ({len(text.encode())} octets)")

        @precondition(lambda self: not self.ended)
        @rule(data=st.sampled_from([b"", b"ping", b"\x00" * 125]))
        def ping(self, data: bytes) -> None:
            self.writer.ping(data)
            self._step(f"ping of {len(data)} octets")

        @precondition(lambda self: not self.ended)
        @rule(data=st.sampled_from([b"", b"unsolicited"]))
        def pong(self, data: bytes) -> None:
            self.writer.pong(data)
            self._step("unsolicited pong")

        @precondition(lambda self: not self.ended)
        @rule(what=st.sampled_from(sorted(BAD_FRAMES)))
        def bad_frame(self, what: str) -> None:
            self.writer.send_raw(BAD_FRAMES[what])
            self._step(what)

        @precondition(lambda self: not self.ended)
        @rule(code=st.sampled_from([1000, 1001, 1003, 1011, 3000, 4999, None]), reason=st.sampled_from(["", "bye"]))
        def close(self, code: int | None, reason: str) -> None:
            self.writer.close(code, reason if code is not None else "")
            self._step(f"close {code or '(no code)'}")

        @rule()
        def nothing(self) -> None:
            """A step that sends nothing: always possible, so a conversation can go on after an end."""

        # -- the comparison ----------------------------------------------------------------------

        def _step(self, what: str) -> None:
            data = self.writer.data_to_send()
            self.trace.append((what, data))
            self.lib.receive(data)
            self.seen.messages.extend(self.lib.messages())
            self.output += self.lib.data_to_send()
            self.seen = self._read(self.seen.messages)
            if self.oracle.send(data):
                self.ended = True
            if self.seen.close is not None:
                self.ended = True

        def _read(self, messages: list[tuple[bool, bytes]]) -> Reaction:
            r = Reaction(messages=messages)
            read_output(bytes(self.output), r)
            return r

        @invariant()
        def reacts_like_the_engine(self) -> None:
            if not hasattr(self, "lib"):
                return
            wrong = mismatch(self.seen, self.oracle.required)
            if wrong is not None:
                steps = "\n".join(f"  {i + 1}. {what}: {data.hex()}" for i, (what, data) in enumerate(self.trace))
                raise AssertionError(f"{wrong[0]}: {wrong[1]}\nafter the steps:\n{steps}")

    Conversation.__name__ = Conversation.__qualname__ = "Conversation"
    return Conversation
