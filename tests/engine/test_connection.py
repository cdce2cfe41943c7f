"""The sans-IO connection: every framing, UTF-8 and close rule, good and bad octets."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role, State, StateError
from conformance.wire.close import serialize_close
from conformance.wire.frames import Frame, Opcode, serialize_frame, serialize_header


def client_frame(opcode: int, data: bytes = b"", *, fin: bool = True, rsv: tuple[bool, bool, bool] = (False, False, False),
                 mask: bytes | None = b"\x01\x02\x03\x04", form: int | None = None) -> bytes:
    return serialize_frame(Frame(Opcode(opcode), data, fin, *rsv), mask=mask, length_form=form)


def feed(conn: Connection, data: bytes) -> list[ev.Event]:
    conn.receive_data(data)
    return list(conn.events())


def failure(events: list[ev.Event]) -> ev.Failure:
    fails = [e for e in events if isinstance(e, ev.Failure)]
    assert fails, f"expected a failure, got {events}"
    return fails[0]


def server() -> Connection:
    return Connection(Role.SERVER)


class TestSection5_1Masking:
    def test_server_fails_on_unmasked_client_frame(self) -> None:
        s = server()
        f = failure(feed(s, client_frame(1, b"hi", mask=None)))
        assert (f.rule.id, f.close_code) == ("frame.client-unmasked", 1002)
        assert s.state is State.CLOSED
        assert s.data_to_send() == bytes([0x88, 0x02]) + (1002).to_bytes(2, "big")

    def test_client_fails_on_masked_server_frame(self) -> None:
        c = Connection(Role.CLIENT)
        f = failure(feed(c, client_frame(2, b"x")))
        assert f.rule.id == "frame.server-masked"
        out = c.data_to_send()
        assert out[0] == 0x88 and out[1] & 0x80  # the client's close frame is masked

    def test_all_zero_mask_key_is_legal(self) -> None:
        evs = feed(server(), client_frame(1, b"ok", mask=b"\0\0\0\0"))
        assert evs == [ev.Message(Opcode.TEXT, b"ok", "ok", False, evs[0].at)]  # type: ignore[union-attr]


class TestSection5_2BaseFraming:
    @pytest.mark.parametrize("rsv", [(True, False, False), (False, True, False), (False, False, True)])
    def test_reserved_bits_without_extension(self, rsv: tuple[bool, bool, bool]) -> None:
        assert failure(feed(server(), client_frame(1, b"a", rsv=rsv))).rule.id == "frame.rsv-unnegotiated"

    @pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
    def test_reserved_opcodes(self, opcode: int) -> None:
        assert failure(feed(server(), client_frame(opcode))).rule.id == "frame.opcode-reserved"

    def test_length_with_top_bit_set_fails_before_any_payload(self) -> None:
        head = bytes([0x82, 0xFF]) + (1 << 63).to_bytes(8, "big") + b"mask"
        assert failure(feed(server(), head)).rule.id == "frame.length-msb"

    def test_non_minimal_length_is_a_violation_not_a_failure_by_default(self) -> None:
        evs = feed(server(), client_frame(1, b"hello", form=64))
        assert [type(e) for e in evs] == [ev.Violation, ev.Message]
        assert evs[0].rule.id == "frame.length-not-minimal"  # type: ignore[union-attr]

    def test_non_minimal_length_can_be_rejected(self) -> None:
        s = Connection(Role.SERVER, reject_non_minimal=True)
        assert failure(feed(s, client_frame(1, b"hello", form=16))).rule.id == "frame.length-not-minimal"

    def test_message_too_big_is_refused_from_the_header_alone(self) -> None:
        s = Connection(Role.SERVER, max_message=1000)
        head = serialize_header(opcode=2, length=1 << 40, mask=b"abcd")
        f = failure(feed(s, head))
        assert (f.rule.id, f.close_code) == ("frame.message-too-big", 1009)

    def test_message_too_big_across_fragments(self) -> None:
        s = Connection(Role.SERVER, max_message=10)
        evs = feed(s, client_frame(2, b"123456", fin=False) + client_frame(0, b"123456"))
        assert failure(evs).rule.id == "frame.message-too-big"


class TestSection5_4Fragmentation:
    def test_fragments_with_interleaved_control_frames(self) -> None:
        data = (client_frame(1, b"Hel", fin=False) + client_frame(9, b"p") +
                client_frame(0, b"lo ", fin=False) + client_frame(0, b"there"))
        s = server()
        evs = feed(s, data)
        assert [type(e) for e in evs] == [ev.Ping, ev.Message]
        assert evs[1].text == "Hello there"  # type: ignore[union-attr]
        assert s.data_to_send() == bytes([0x8A, 0x01]) + b"p"  # automatic pong

    def test_continuation_without_message(self) -> None:
        assert failure(feed(server(), client_frame(0, b"x"))).rule.id == "frame.continuation-unexpected"

    def test_new_message_inside_fragmented_one(self) -> None:
        data = client_frame(1, b"a", fin=False) + client_frame(2, b"b")
        assert failure(feed(server(), data)).rule.id == "frame.data-inside-message"

    def test_message_parts_mode(self) -> None:
        s = Connection(Role.SERVER, message_parts=True)
        evs = feed(s, client_frame(2, b"ab", fin=False) + client_frame(0, b"cd"))
        assert [(e.data, e.fin) for e in evs if isinstance(e, ev.MessagePart)] == [(b"ab", False), (b"cd", True)]


class TestSection5_5ControlFrames:
    def test_control_frame_too_long(self) -> None:
        assert failure(feed(server(), client_frame(9, b"x" * 126))).rule.id == "frame.control-too-long"

    def test_125_octets_is_fine(self) -> None:
        evs = feed(server(), client_frame(9, b"x" * 125))
        assert isinstance(evs[0], ev.Ping) and len(evs[0].data) == 125

    def test_fragmented_control_frame(self) -> None:
        assert failure(feed(server(), client_frame(9, b"", fin=False))).rule.id == "frame.control-fragmented"

    def test_pong_is_reported_and_not_answered(self) -> None:
        s = server()
        assert isinstance(feed(s, client_frame(10, b"u"))[0], ev.Pong)
        assert s.data_to_send() == b""

    def test_automatic_pong_can_be_disabled(self) -> None:
        s = Connection(Role.SERVER, auto_pong=False)
        feed(s, client_frame(9, b"p"))
        assert s.data_to_send() == b""


class TestSection5_5_1Close:
    def test_close_is_answered_with_the_same_code(self) -> None:
        s = server()
        evs = feed(s, client_frame(8, serialize_close(1001, "away")))
        assert evs[0] == ev.CloseReceived(1001, "away", evs[0].at)  # type: ignore[union-attr]
        assert s.data_to_send() == bytes([0x88, 0x02]) + (1001).to_bytes(2, "big")
        assert s.state is State.CLOSED and s.should_close_transport

    def test_empty_close_is_answered_with_empty_close(self) -> None:
        s = server()
        feed(s, client_frame(8, b""))
        assert s.data_to_send() == bytes([0x88, 0x00])

    def test_one_octet_payload(self) -> None:
        assert failure(feed(server(), client_frame(8, b"\x03"))).rule.id == "close.payload-one-byte"

    @pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999])
    def test_invalid_codes(self, code: int) -> None:
        f = failure(feed(server(), client_frame(8, code.to_bytes(2, "big"))))
        assert (f.rule.id, f.close_code) == ("close.code-invalid", 1002)

    @pytest.mark.parametrize("code", [5000, 65535])
    def test_codes_above_every_range(self, code: int) -> None:
        # §7.4.2 defines nothing above 4999; the MUST is §5.5.1's "defined in Section 7.4"
        f = failure(feed(server(), client_frame(8, code.to_bytes(2, "big"))))
        assert (f.rule.id, f.rule.section, f.close_code) == ("close.code-undefined", "RFC 6455 §5.5.1", 1002)

    def test_last_defined_code_is_valid(self) -> None:
        s = server()
        feed(s, client_frame(8, (4999).to_bytes(2, "big")))
        assert s.data_to_send() == bytes([0x88, 0x02]) + (4999).to_bytes(2, "big")

    def test_reason_not_utf8(self) -> None:
        f = failure(feed(server(), client_frame(8, (1000).to_bytes(2, "big") + b"\xce")))
        assert (f.rule.id, f.close_code) == ("utf8.close-reason-invalid", 1007)

    def test_frames_after_close_are_a_violation(self) -> None:
        evs = feed(server(), client_frame(8, b"") + client_frame(1, b"late"))
        assert [type(e) for e in evs] == [ev.CloseReceived, ev.Violation]
        assert evs[1].rule.id == "close.no-frames-after-close"  # type: ignore[union-attr]

    @pytest.mark.parametrize("op", [8, 9, 10])
    def test_control_frames_after_close_are_allowed(self, op: int) -> None:
        # §5.5.1 forbids only data frames after a close: a second close, a ping or a pong is not one
        evs = feed(server(), client_frame(8, b"") + client_frame(op, b"x"))
        assert [type(e) for e in evs] == [ev.CloseReceived]

    @pytest.mark.parametrize("op", [0, 1, 2])
    def test_data_frame_after_close_in_a_later_read(self, op: int) -> None:
        s = server()
        feed(s, client_frame(8, b""))
        late = client_frame(10, b"pong") + client_frame(op, b"late")
        for i in range(len(late)):  # octet by octet: the frame is recognised by its header
            s.receive_data(late[i:i + 1])
        evs = list(s.events())
        assert [e.rule.id for e in evs if isinstance(e, ev.Violation)] == ["close.no-frames-after-close"]

    def test_our_close_then_their_close(self) -> None:
        c = Connection(Role.CLIENT)
        c.close(1000, "done")
        assert c.state is State.CLOSING
        feed(c, bytes([0x88, 0x02]) + (1000).to_bytes(2, "big"))
        assert c.state is State.CLOSED
        with pytest.raises(StateError):
            c.send_data("too late")
        with pytest.raises(StateError):
            c.close()


class TestSection8_1Utf8:
    def test_fail_fast_on_the_frame_with_the_bad_octet(self) -> None:
        s = server()
        assert feed(s, client_frame(1, b"\xce\xba\xe1\xbd\xb9", fin=False)) == []
        f = failure(feed(s, client_frame(0, b"\xf4\x90\x80\x80", fin=False)))
        assert (f.rule.id, f.close_code) == ("utf8.text-invalid", 1007)
        assert "octet 6" in f.detail

    def test_invalid_single_frame(self) -> None:
        f = failure(feed(server(), client_frame(1, b"ok\xed\xa0\x80")))
        assert "octet 3" in f.detail

    def test_truncated_at_end_of_message(self) -> None:
        assert failure(feed(server(), client_frame(1, b"ab\xce", fin=False) + client_frame(0, b""))).rule.id == "utf8.text-invalid"

    def test_code_point_split_across_frames_is_fine(self) -> None:
        evs = feed(server(), client_frame(1, b"\xce", fin=False) + client_frame(0, b"\xba"))
        assert evs[0].text == "κ"  # type: ignore[union-attr]


class TestExtensions:
    def test_extra_opcodes_are_delivered(self) -> None:
        s = Connection(Role.SERVER, extra_opcodes={3: "latin-1", 11: "compare"})
        evs = feed(s, client_frame(3, b"\xe9t\xe9") + client_frame(11, b"cmp"))
        assert isinstance(evs[0], ev.Message) and evs[0].opcode is Opcode.RESERVED_3 and evs[0].text is None
        assert isinstance(evs[1], ev.ControlFrame) and evs[1].data == b"cmp"

    def test_only_reserved_opcodes_can_be_registered(self) -> None:
        with pytest.raises(ValueError):
            Connection(Role.SERVER, extra_opcodes={1: "mine"})


class TestPositionAndTime:
    def test_frame_position_info_and_timestamps(self) -> None:
        ticks = iter([1.5, 2.5])
        s = Connection(Role.SERVER, frame_events=True, clock=lambda: next(ticks))
        one, two = client_frame(2, b"a"), client_frame(2, b"bb")
        evs = feed(s, one + two + two[:3])
        frames = [e for e in evs if isinstance(e, ev.FrameReceived)]
        assert [(f.last_in_buffer, f.tail_size) for f in frames] == [(False, len(two) + 3), (True, 3)]
        assert all(e.at == 1.5 for e in evs)
        evs = feed(s, two[3:])
        assert evs[-1].at == 2.5


class TestSending:
    def test_fragmented_send_and_roundtrip(self) -> None:
        c, s = Connection(Role.CLIENT), server()
        c.send_data("κόσ", final=False)
        c.send_data("με")
        c.send_message(b"\x00" * 10, fragment=3)
        c.ping(b"hi")
        evs = feed(s, c.data_to_send())
        assert [getattr(e, "data", None) for e in evs] == ["κόσμε".encode(), b"\x00" * 10, b"hi"]

    def test_send_frame_writes_anything(self) -> None:
        c = Connection(Role.CLIENT)
        c.send_frame(Frame(Opcode.RESERVED_5, b"x", rsv2=True), mask=False, length_form=64)
        assert c.data_to_send() == bytes([0xA5, 0x7F]) + (1).to_bytes(8, "big") + b"x"

    def test_send_frame_close_counts_as_close_sent(self) -> None:
        c = Connection(Role.CLIENT)
        c.send_frame(Frame(Opcode.CLOSE, b"\x03\xe8"))
        assert c.state is State.CLOSING and c.close_sent == (1000, "")


# -- properties ---------------------------------------------------------------------------------

messages = st.lists(st.one_of(
    st.tuples(st.just("text"), st.text(max_size=40), st.integers(0, 6)),
    st.tuples(st.just("binary"), st.binary(max_size=300), st.integers(0, 6)),
    st.tuples(st.just("ping"), st.binary(max_size=125), st.just(0)),
), max_size=8)


def _stream(msgs: list[tuple[str, object, int]]) -> bytes:
    c = Connection(Role.CLIENT)
    for kind, data, frag in msgs:
        if kind == "ping":
            c.ping(data)  # type: ignore[arg-type]
        else:
            c.send_message(data, fragment=frag)  # type: ignore[arg-type]
    return c.data_to_send()


def _summary(events: list[ev.Event]) -> list[tuple[str, bytes]]:
    out = []
    for e in events:
        if isinstance(e, ev.Message):
            out.append((e.opcode.name, e.data))
        elif isinstance(e, ev.Ping):
            out.append(("PING", e.data))
    return out


class TestChunkingProperty:
    @given(messages, st.data())
    @settings(max_examples=150)
    def test_any_chunking_gives_the_same_events(self, msgs: list[tuple[str, object, int]], data: st.DataObject) -> None:
        raw = _stream(msgs)
        whole = _summary(feed(server(), raw))
        s = server()
        bytewise: list[ev.Event] = []
        for i in range(len(raw)):
            bytewise += feed(s, raw[i:i + 1])
        cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
        s2 = server()
        split: list[ev.Event] = []
        prev = 0
        for c in [*cuts, len(raw)]:
            if c > prev:  # b"" would mean end of stream
                split += feed(s2, raw[prev:c])
            prev = c
        assert whole == _summary(bytewise) == _summary(split)
        expected = [("PING" if k == "ping" else "TEXT" if k == "text" else "BINARY",
                     d.encode() if isinstance(d, str) else d) for k, d, _ in msgs]
        assert whole == expected

    @given(st.binary(max_size=200), st.data())
    @settings(max_examples=300)
    def test_garbage_never_raises_and_chunking_agrees(self, raw: bytes, data: st.DataObject) -> None:
        s1, s2 = server(), server()
        a = [(type(e).__name__, getattr(getattr(e, "rule", None), "id", None)) for e in feed(s1, raw)]
        cut = data.draw(st.integers(0, len(raw)))
        b = [e for part in (raw[:cut], raw[cut:]) if part for e in feed(s2, part)]
        assert a == [(type(e).__name__, getattr(getattr(e, "rule", None), "id", None)) for e in b]


# -- differential: the engine against wsproto and websockets on generated valid streams --------

class TestDifferential:
    @given(messages)
    @settings(max_examples=100)
    def test_same_messages_as_wsproto(self, msgs: list[tuple[str, object, int]]) -> None:
        from wsproto.connection import Connection as WsprotoConnection
        from wsproto.connection import ConnectionType
        from wsproto.events import BytesMessage, Ping, TextMessage

        raw = _stream(msgs)
        w = WsprotoConnection(ConnectionType.SERVER)
        w.receive_data(raw)
        theirs: list[tuple[str, bytes]] = []
        buf: list[bytes] = []
        for e in w.events():
            if isinstance(e, (TextMessage, BytesMessage)):
                buf.append(e.data.encode() if isinstance(e, TextMessage) else bytes(e.data))
                if e.message_finished:
                    theirs.append(("TEXT" if isinstance(e, TextMessage) else "BINARY", b"".join(buf)))
                    buf = []
            elif isinstance(e, Ping):
                theirs.append(("PING", bytes(e.payload)))
        assert _summary(feed(server(), raw)) == theirs

    @given(messages)
    @settings(max_examples=100)
    def test_same_messages_as_websockets(self, msgs: list[tuple[str, object, int]]) -> None:
        from websockets.frames import Opcode as WsOpcode
        from websockets.protocol import Protocol, Side

        raw = _stream(msgs)
        p = Protocol(Side.SERVER, max_size=None)
        p.receive_data(raw)
        theirs: list[tuple[str, bytes]] = []
        kind, buf = "", b""
        for f in p.events_received():
            if f.opcode in (WsOpcode.TEXT, WsOpcode.BINARY):
                kind, buf = f.opcode.name, bytes(f.data)
            elif f.opcode is WsOpcode.CONT:
                buf += bytes(f.data)
            elif f.opcode is WsOpcode.PING:
                theirs.append(("PING", bytes(f.data)))
                continue
            if f.fin and f.opcode in (WsOpcode.TEXT, WsOpcode.BINARY, WsOpcode.CONT):
                theirs.append((kind, buf))
        assert _summary(feed(server(), raw)) == theirs

    @given(messages)
    @settings(max_examples=50)
    def test_engine_reads_what_websockets_writes(self, msgs: list[tuple[str, object, int]]) -> None:
        from websockets.protocol import Protocol, Side

        p = Protocol(Side.CLIENT)
        expected = []
        for kind, data, _ in msgs:
            if kind == "text":
                p.send_text(data.encode())  # type: ignore[union-attr]
                expected.append(("TEXT", data.encode()))  # type: ignore[union-attr]
            elif kind == "binary":
                p.send_binary(data)  # type: ignore[arg-type]
                expected.append(("BINARY", data))
            else:
                p.send_ping(data)  # type: ignore[arg-type]
                expected.append(("PING", data))
        raw = b"".join(p.data_to_send())
        assert _summary(feed(server(), raw)) == expected


def test_random_mask_keys_differ() -> None:
    c = Connection(Role.CLIENT)
    c.send_data(b"x")
    c.send_data(b"x")
    out = c.data_to_send()
    assert out[2:6] != out[9:13] or os.environ.get("CI_ALLOW_EQUAL_MASKS")


class TestMessageEvent:
    """Message is a named tuple for speed, with the contract of the other (dataclass) events."""

    def test_fields_defaults_and_keywords(self) -> None:
        m = ev.Message(Opcode.TEXT, b"hi", text="hi")
        assert (m.opcode, m.data, m.text, m.compressed, m.at) == (Opcode.TEXT, b"hi", "hi", False, 0.0)
        assert m == ev.Message(opcode=Opcode.TEXT, data=b"hi", text="hi", compressed=False, at=0.0)

    def test_equal_only_to_a_message(self) -> None:
        m = ev.Message(Opcode.BINARY, b"x")
        assert m != (Opcode.BINARY, b"x", None, False, 0.0)
        assert not m == (Opcode.BINARY, b"x", None, False, 0.0)  # noqa: SIM201
        assert m != ev.Message(Opcode.BINARY, b"y")
        assert m == ev.Message(Opcode.BINARY, b"x") and hash(m) == hash(ev.Message(Opcode.BINARY, b"x"))

    def test_match_and_replace(self) -> None:
        match ev.Message(Opcode.TEXT, b"a", "a"):
            case ev.Message(Opcode.TEXT, data, text="a"):
                assert data == b"a"
            case _:
                raise AssertionError("no match")
        assert ev.Message(Opcode.TEXT, b"a", "a")._replace(text=None).text is None
