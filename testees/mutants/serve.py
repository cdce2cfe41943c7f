"""Deliberately broken echo servers: the reference server with exactly one rule broken.

python -m testees.mutants.serve NAME [--port 0]   prints `listening on ws://127.0.0.1:PORT/`

Each mutant runs in its own process and patches the reference implementation there, so the
break is exactly the one described, and everything else stays conformant. MUTANTS maps each name
to (what it breaks, the RFC level of the broken rule, the patch).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from conformance.engine import connection as cx
from conformance.engine import deflate as dfl
from conformance.engine import handshake as hs
from conformance.targets import echo_server as es
from conformance.wire import deflate as wdfl
from conformance.wire.frames import Opcode


def _accepts_unmasked() -> None:
    original = cx.Connection.__init__

    def init(self: cx.Connection, *a: Any, **kw: Any) -> None:
        original(self, *a, **kw)
        if self.role is cx.Role.SERVER:
            self._want_mask = None  # type: ignore[assignment]  # neither masked nor unmasked is refused

    cx.Connection.__init__ = init  # type: ignore[method-assign]


def _ignores_rsv() -> None:
    cx.Connection._check_rsv = lambda self, h: None  # type: ignore[method-assign]


def _wrap_header_check(transform: Callable[[Any], Any]) -> None:
    original = cx.Connection._check_header

    def check(self: cx.Connection, h: Any) -> None:
        original(self, transform(h))

    cx.Connection._check_header = check  # type: ignore[method-assign]


def _accepts_reserved_opcodes() -> None:
    _wrap_header_check(lambda h: dataclasses.replace(h, opcode=Opcode.BINARY) if h.opcode.is_reserved else h)


def _long_control_frames() -> None:
    _wrap_header_check(lambda h: dataclasses.replace(h, length=min(h.length, 125)) if h.opcode.is_control else h)


def _fragmented_control_frames() -> None:
    _wrap_header_check(lambda h: dataclasses.replace(h, fin=True) if h.opcode.is_control else h)


def _no_utf8_check() -> None:
    class Lenient:
        def feed(self, data: bytes, final: bool = False) -> str:
            return bytes(data).decode("utf-8", "replace")

        def copy(self) -> Lenient:
            return Lenient()

    cx.Utf8Validator = Lenient  # type: ignore[assignment,misc]
    original_run = cx.Connection._deliver_run
    original_whole = cx.Connection._deliver_whole

    def as_text(self: cx.Connection, i: int) -> None:
        e = self._events[i]
        self._events[i] = e._replace(opcode=Opcode.TEXT, text=e.data.decode("utf-8", "replace"))  # type: ignore[union-attr]

    def run(self: cx.Connection, kinds: bytes | list[int], payloads: list[bytes]) -> int:
        done = original_run(self, [0x82 if k == 0x81 else k for k in kinds], payloads)
        first = len(self._events) - done
        for j, kind in enumerate(kinds[:done]):
            if kind == 0x81:
                as_text(self, first + j)
        return done

    def whole(self: cx.Connection, op: Opcode, payload: bytes) -> None:
        original_whole(self, Opcode.BINARY if op is Opcode.TEXT else op, payload)
        if op is Opcode.TEXT:
            as_text(self, -1)

    cx.Connection._deliver_run = run  # type: ignore[method-assign]
    cx.Connection._deliver_whole = whole  # type: ignore[method-assign]


def _late_utf8_check() -> None:
    """Validates UTF-8 only when the message is complete: legal, but not fail-fast (a SHOULD)."""
    import codecs

    class AtTheEnd:
        def __init__(self) -> None:
            self.buf = bytearray()

        def copy(self) -> AtTheEnd:
            other = AtTheEnd()
            other.buf = bytearray(self.buf)
            return other

        def feed(self, data: bytes, final: bool = False) -> str:
            self.buf += data
            if not final:
                return ""
            try:
                return codecs.decode(bytes(self.buf), "utf-8")
            except UnicodeDecodeError as exc:
                raise cx.Utf8Error(exc.start, exc.reason) from None

    cx.Utf8Validator = AtTheEnd  # type: ignore[assignment,misc]


def _wrong_close_code() -> None:
    original = cx.Connection._fail

    def fail(self: cx.Connection, exc: Any) -> None:
        exc.close_code = 1000
        original(self, exc)

    cx.Connection._fail = fail  # type: ignore[method-assign]


def _no_close_reply() -> None:
    original = cx.Connection._on_close

    def on_close(self: cx.Connection, payload: bytes) -> None:
        self.close_sent = (None, "")  # pretend we already answered, so no close frame goes out
        original(self, payload)

    cx.Connection._on_close = on_close  # type: ignore[method-assign]


def _accepts_invalid_close_codes() -> None:
    cx.close_code_valid = lambda code: True  # type: ignore[assignment]


def _echoes_undefined_close_codes() -> None:
    """Takes close codes of 5000 and above as valid, so it echoes them back: its own close frame
    carries a code Section 7.4 does not define (§5.5.1); every other invalid code is still refused."""
    original = cx.close_code_valid
    cx.close_code_valid = lambda code: code > cx.LAST_DEFINED_CODE or original(code)  # type: ignore[assignment]


def _no_pong() -> None:
    original = cx.Connection.__init__

    def init(self: cx.Connection, *a: Any, **kw: Any) -> None:
        original(self, *a, **kw)
        self.auto_pong = False

    cx.Connection.__init__ = init  # type: ignore[method-assign]


def _bad_accept() -> None:
    good = hs.accept_key
    hs.accept_key = lambda key: good(key + "x")  # type: ignore[assignment]


def _no_version_check() -> None:
    original = hs.ServerHandshake.check_request

    def check(self: hs.ServerHandshake, req: Any) -> None:
        req.headers = req.headers.copy()
        del req.headers["Sec-WebSocket-Version"]
        req.headers["Sec-WebSocket-Version"] = "13"
        original(self, req)

    hs.ServerHandshake.check_request = check  # type: ignore[method-assign]


def _crash_on_bad_extension() -> None:
    """Fails the handshake (500) on an extension offer it does not understand, instead of declining."""
    def accept(offers: Any, policy: Any = None) -> Any:
        for name, params in offers:
            if name == "permessage-deflate":
                try:
                    dfl.parse_offer(params)
                except hs.HandshakeError as exc:  # blows up instead of declining the offer
                    raise RuntimeError(str(exc)) from None
        return original(offers, policy)

    original = dfl.server_accept
    dfl.server_accept = accept  # type: ignore[assignment]
    serve = es.EchoServer._serve

    async def guarded(self: es.EchoServer, reader: Any, writer: Any) -> None:
        try:
            await serve(self, reader, writer)
        except RuntimeError:
            writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    es.EchoServer._serve = guarded  # type: ignore[method-assign]


def _no_tcp_close() -> None:
    """After the closing handshake it waits for the client to close TCP (a SHOULD, RFC 6455 §7.1.1)."""
    async def wait_for_client(reader: Any, writer: Any) -> None:
        try:
            await asyncio.wait_for(reader.read(1), 10)
        except (TimeoutError, ConnectionError, OSError):
            pass

    es.lingering_close = wait_for_client  # type: ignore[assignment]


def _slow_tcp_close() -> None:
    """Closes TCP first, as §7.1.1 asks, but 1.5 s after the closing handshake (a loaded server may)."""
    original = es.lingering_close

    async def late(reader: Any, writer: Any) -> None:
        await asyncio.sleep(1.5)
        await original(reader, writer)

    es.lingering_close = late  # type: ignore[assignment]


def _masks_frames() -> None:
    original = cx.Connection.__init__

    def init(self: cx.Connection, *a: Any, **kw: Any) -> None:
        original(self, *a, **kw)
        self._mask_out = True

    cx.Connection.__init__ = init  # type: ignore[method-assign]


def _keeps_context() -> None:
    """Agrees to server_no_context_takeover but keeps its compression context anyway."""
    original = wdfl.DeflateCodec.__init__

    def init(self: wdfl.DeflateCodec, *a: Any, **kw: Any) -> None:
        original(self, *a, **kw)
        self._out_reset = False

    wdfl.DeflateCodec.__init__ = init  # type: ignore[method-assign]


def _truncates_large() -> None:
    """Echoes at most 65535 octets of a message."""
    original = cx.Connection.send_message

    def send(self: cx.Connection, data: Any, *, fragment: int = 0, text: bool | None = None) -> None:
        original(self, data[:65535], fragment=fragment, text=text)

    cx.Connection.send_message = send  # type: ignore[method-assign]


# -- variants: servers that differ from the reference where the RFC leaves the choice open ------

def _speaks_version_8() -> None:
    """Speaks draft version 8 as well as 13, as a server may (RFC 6455 §4.4)."""
    original = hs.ServerHandshake.check_request

    def check(self: hs.ServerHandshake, req: Any) -> None:
        if req.headers.get("Sec-WebSocket-Version") == "8":
            req.headers = req.headers.copy()
            del req.headers["Sec-WebSocket-Version"]
            req.headers["Sec-WebSocket-Version"] = "13"
        original(self, req)

    hs.ServerHandshake.check_request = check  # type: ignore[method-assign]


def _refuses_iana_codes() -> None:
    """Knows only RFC 6455's close codes: 1012-1014 (IANA registry only) are invalid to it."""
    original = cx.close_code_valid
    cx.close_code_valid = lambda code: original(code) and not 1012 <= code <= 1014  # type: ignore[assignment]


def _ends_window_at_bfinal() -> None:
    """Refuses a compressed message once an earlier one ended the DEFLATE stream with a final block
    (16.2.5; RFC 7692 does not say that the window outlives it)."""
    original = wdfl.DeflateCodec.decode

    def decode(self: wdfl.DeflateCodec, payload: bytes, fin: bool) -> bytes:
        if getattr(self, "_saw_bfinal", False):
            raise wdfl.DeflateDataError("the previous message ended the DEFLATE stream")
        out = original(self, payload, fin)
        if fin and payload[:1] and payload[0] & 1:  # the first block of the message was BFINAL
            self._saw_bfinal = True  # type: ignore[attr-defined]
        return out

    wdfl.DeflateCodec.decode = decode  # type: ignore[method-assign]


def _fails_with_1002() -> None:
    """Fails every connection with 1002, where 1007 or 1009 would fit better (§7.1.7: a SHOULD)."""
    original = cx.Connection._fail

    def fail(self: cx.Connection, exc: Any) -> None:
        exc.close_code = 1002
        original(self, exc)

    cx.Connection._fail = fail  # type: ignore[method-assign]


def _replace_close_code(new: bytes, when: Callable[[int], bool]) -> None:
    """The peer's close code reads as `new` (so it is not checked and is answered with `new`)
    whenever `when(code)` holds."""
    original = cx.Connection._on_close

    def on_close(self: cx.Connection, payload: bytes) -> None:
        if len(payload) >= 2 and when(int.from_bytes(payload[:2], "big")):
            payload = new + payload[2:]
        original(self, payload)

    cx.Connection._on_close = on_close  # type: ignore[method-assign]


def _answers_every_close_with_1000() -> None:
    """Answers every close frame with 1000, even one whose code nobody may send (§10.7: a SHOULD)."""
    _replace_close_code(b"\x03\xe8", lambda code: True)


def _answers_close_with_1001() -> None:
    """Answers a valid close with 1001 instead of echoing it (§5.5.1: "typically echos")."""
    valid = cx.close_code_valid
    _replace_close_code(b"\x03\xe9", valid)


def _answers_malformed_close_with_1000() -> None:
    """Answers a malformed close frame (a one-octet payload, or more than 125 octets) with a normal
    1000 close instead of failing with 1002 (§10.7: the code is a SHOULD of the receiver)."""
    original_check = cx.Connection._check_header
    original_close = cx.Connection._on_close

    def check(self: cx.Connection, h: Any) -> None:
        limit = cx.CONTROL_MAX_PAYLOAD
        if h.opcode is Opcode.CLOSE and h.length > limit:
            cx.CONTROL_MAX_PAYLOAD = h.length  # type: ignore[misc]
        try:
            original_check(self, h)
        finally:
            cx.CONTROL_MAX_PAYLOAD = limit  # type: ignore[misc]

    def on_close(self: cx.Connection, payload: bytes) -> None:
        original_close(self, b"\x03\xe8" if len(payload) == 1 else payload)

    cx.Connection._check_header = check  # type: ignore[method-assign]
    cx.Connection._on_close = on_close  # type: ignore[method-assign]


# name -> (how it differs, the patch); each must pass every case (exit 0)
def _refuses_invalid_offer() -> None:
    """Refuses the whole handshake (400) over an invalid permessage-deflate offer instead of going on
    without the extension (Node's ws does this): the offer is declined either way."""
    def accept(offers: Any, policy: Any = None) -> Any:
        for name, params in offers:
            if name == "permessage-deflate":
                dfl.parse_offer(params)  # a HandshakeError here refuses the request
        return original(offers, policy)

    original = dfl.server_accept
    dfl.server_accept = accept  # type: ignore[assignment]


VARIANTS: dict[str, tuple[str, Callable[[], None]]] = {
    "refuses-invalid-offer": ("refuses the handshake over an invalid deflate offer (RFC 7692 §5.1)",
                              _refuses_invalid_offer),
    "speaks-version-8": ("accepts Sec-WebSocket-Version 8 too (§4.4)", _speaks_version_8),
    "refuses-iana-codes": ("fails the connection on close codes 1012-1014 (§7.4.2)", _refuses_iana_codes),
    "ends-window-at-bfinal": ("refuses a back-reference past a final DEFLATE block (16.2.5)",
                              _ends_window_at_bfinal),
    "fails-with-1002": ("fails every connection with 1002 (§7.1.7)", _fails_with_1002),
    "answers-every-close-with-1000": ("answers every close with 1000, invalid codes too (§10.7)",
                                      _answers_every_close_with_1000),
    "answers-malformed-close-with-1000": ("answers a one-octet or 126-octet close with 1000 (§10.7)",
                                          _answers_malformed_close_with_1000),
    "answers-close-with-1001": ("answers a valid close with 1001 (§5.5.1)", _answers_close_with_1001),
    "slow-tcp-close": ("closes TCP first, 1.5 s after the closing handshake (§7.1.1)", _slow_tcp_close),
}


MUTANTS: dict[str, tuple[str, str, Callable[[], None]]] = {
    "accepts-unmasked": ("does not fail on unmasked client frames (RFC 6455 §5.1)", "MUST", _accepts_unmasked),
    "ignores-rsv": ("accepts RSV bits without an extension (§5.2)", "MUST", _ignores_rsv),
    "accepts-reserved-opcodes": ("treats reserved opcodes as binary (§5.2)", "MUST", _accepts_reserved_opcodes),
    "long-control-frames": ("accepts control frames over 125 octets (§5.5)", "MUST", _long_control_frames),
    "fragmented-control-frames": ("accepts fragmented control frames (§5.5)", "MUST", _fragmented_control_frames),
    "no-utf8-check": ("echoes invalid UTF-8 text (§8.1)", "MUST", _no_utf8_check),
    "late-utf8-check": ("finds invalid UTF-8 only at the end of a message (§8.1, fail-fast)", "SHOULD",
                        _late_utf8_check),
    "wrong-close-code": ("fails connections with 1000, a normal close (§8.1: it must fail on an invalid close "
                         "reason, and a 1000 answer is no failure)", "MUST", _wrong_close_code),
    "no-close-reply": ("does not answer a close frame (§5.5.1)", "MUST", _no_close_reply),
    "accepts-invalid-close-codes": ("accepts invalid close codes (§7.4)", "MUST", _accepts_invalid_close_codes),
    "echoes-undefined-close-codes": ("echoes close codes of 5000 and above back (§5.5.1)", "MUST",
                                     _echoes_undefined_close_codes),
    "no-pong": ("does not answer pings (§5.5.2)", "MUST", _no_pong),
    "bad-accept": ("sends a wrong Sec-WebSocket-Accept (§4.2.2)", "MUST", _bad_accept),
    "no-version-check": ("accepts any Sec-WebSocket-Version (§4.4)", "MUST", _no_version_check),
    "crash-on-bad-extension": ("answers 500 to an invalid permessage-deflate offer (RFC 7692 §5.1)", "MUST",
                               _crash_on_bad_extension),
    "no-tcp-close": ("leaves TCP open after the closing handshake (§7.1.1)", "SHOULD", _no_tcp_close),
    "masks-frames": ("masks the frames it sends (§5.1)", "MUST", _masks_frames),
    "keeps-context": ("keeps compression context despite server_no_context_takeover (RFC 7692 §7.1.1)", "MUST",
                      _keeps_context),
    "truncates-large": ("echoes only the first 65535 octets of a message", "MUST", _truncates_large),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("name", choices=sorted(MUTANTS) + sorted(VARIANTS))
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--no-deflate", action="store_true")
    args = ap.parse_args()
    (MUTANTS[args.name][2] if args.name in MUTANTS else VARIANTS[args.name][1])()
    serve_patched(args.port, deflate=not args.no_deflate)


def serve_patched(port: int, deflate: bool = True) -> None:
    """Run the (now patched) reference echo server on 127.0.0.1:port and announce its URL."""
    async def run() -> None:
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(es.serve_echo("127.0.0.1", port, deflate=deflate, ready=ready))
        print(f"listening on ws://127.0.0.1:{await ready}/", flush=True)
        await task

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
