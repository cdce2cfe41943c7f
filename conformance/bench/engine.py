"""`make bench`: the engine's receive throughput beside the libraries it judges, in one run.

Each workload is a byte stream a client sends (masked frames), fed to a server-side parser in
64 KiB reads; each parser delivers the same messages. Results are frames/s and MB/s, and the
ratio to websockets and to the fastest peer measured in the same run (never absolute thresholds
in a unit test). Times are the CPU time of this process (every parser is single-threaded), so
other work on the machine does not skew one parser against another.

Every row does the same work for a message: parse and unmask its frames, check the reserved bits,
opcodes and control-frame rules, inflate it when compressed, decode a text message as UTF-8 and
hand it over as one object per message. The libraries differ in what their parser layer does
alone: websockets' sans-IO `Protocol` leaves text undecoded (its connection layer decodes it), so
its row decodes each text message here; aiohttp's reader decodes text itself (`decode_text=True`),
one `bytes.decode` per message, as the engine and wsproto do. What is not the same, and printed:
the engine also checks that a client frame is masked, that a length uses its shortest form and
that a compressed message ends on a DEFLATE block boundary (rule deflate.invalid-data, RFC 7692
§7.2.1: zlib's own record of where inflate stopped, read per message, and a probe of a copy of
the inflater where that record proves nothing), which no peer here checks; the engine inflates
with zlib-ng, the peers with the standard zlib (their default).
The compressed row's messages are all distinct (JSON records with running ids; checked when the
stream is built), and every run starts a new connection: nothing a receiver remembers of
messages inflated before can answer for one, so every row inflates every message.
The small-frame rows send frames of one size, the engine's best case (one numpy matrix per run);
the mixed-size row is the frame-by-frame path.
"""

from __future__ import annotations

__all__ = [
    "main",
    "aiohttp_parser",
    "ours",
    "websockets_parser",
    "wsproto_parser",
]

import argparse
import asyncio
import gc
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from conformance.engine.connection import Connection, Role
from conformance.wire.frames import Frame, Opcode, serialize_frame

READ = 64 * 1024
Parser = Callable[[list[bytes]], int]  # feeds the reads, returns messages delivered


def _stream(n: int, size: int, opcode: Opcode = Opcode.BINARY) -> bytes:
    payload = os.urandom(size)
    return b"".join(serialize_frame(Frame(opcode, payload), mask=os.urandom(4)) for _ in range(n))


def _reads(data: bytes) -> list[bytes]:
    return [data[i : i + READ] for i in range(0, len(data), READ)]


_WORDS = ["Welle", "frame", "naïve", "señal", "κόσμε", "данные", "протокол", "数据", "接続", "octet",
          "mask", "close", "ping", "pong", "extension", "deflate", "window", "🙂"]


def _json_messages(n: int, size: int = 1024) -> list[str]:
    """`n` text messages of about `size` octets: consecutive slices (whole characters) of one JSON
    text in the style of the catalogue's json corpus (case 12.1.4), whose records carry running
    ids, so no message repeats whatever the scale: a receiver that remembers messages inflated
    before (by payload and history) never finds one, and every row inflates every message."""
    rnd = random.Random("bench-deflate")
    parts: list[str] = []
    have, i = 0, 0
    while have < (n + 1) * size:
        w = " ".join(rnd.choices(_WORDS, k=rnd.randint(3, 12)))
        record = f'{{"id": {i}, "name": "{w}", "score": {rnd.random():.6f}, "tags": ["{rnd.choice(_WORDS)}"]}},\n'
        parts.append(record)
        have += len(record.encode())
        i += 1
    text = "".join(parts).encode("utf-8")
    return [text[k * size : (k + 1) * size].decode("utf-8", "ignore") for k in range(n)]


def _deflate_stream(n: int) -> tuple[bytes, Any]:
    """The compressed row's stream (context takeover, full windows); raises if a message repeats."""
    from conformance.engine.deflate import negotiated_codec
    from conformance.wire.deflate import DeflateParams

    messages = _json_messages(n)
    if len(set(messages)) != n:
        raise RuntimeError("the deflate row's messages repeat: a receive memo would flatter it")
    params = DeflateParams(False, False, None, None)
    client = Connection(Role.CLIENT, deflate=negotiated_codec(params, "client", None))
    for m in messages:
        client.send_data(m)
    return client.data_to_send(), params


def _mixed_stream(n: int) -> bytes:
    sizes = os.urandom(n)
    return b"".join(serialize_frame(Frame(Opcode.BINARY, os.urandom(1 + s % 125)), mask=os.urandom(4))
                    for s in sizes)


# -- parsers ---------------------------------------------------------------------------------

def ours(deflate_params: Any = None) -> Parser:
    def run(reads: list[bytes]) -> int:
        codec = None
        if deflate_params is not None:
            from conformance.engine.deflate import negotiated_codec

            codec = negotiated_codec(deflate_params, "server", None)
        conn = Connection(Role.SERVER, deflate=codec, max_message=None)
        n = 0
        for r in reads:
            conn.receive_data(r)
            for _ in conn.events():
                n += 1
        return n
    return run


def websockets_parser(deflate: bool = False) -> Parser:
    from websockets.frames import Frame as WsFrame
    from websockets.protocol import Protocol, Side

    def run(reads: list[bytes]) -> int:
        p = Protocol(Side.SERVER, max_size=None)
        if deflate:
            from websockets.extensions.permessage_deflate import PerMessageDeflate

            p.extensions = [PerMessageDeflate(False, False, 15, 15)]
        n = 0
        text = Opcode.TEXT.value
        for r in reads:
            p.receive_data(r)
            for frame in p.events_received():
                if isinstance(frame, WsFrame) and frame.opcode.value == text:
                    bytes(frame.data).decode("utf-8")  # as websockets' connection layer does
                n += 1
        return n
    return run


def wsproto_parser(deflate: bool = False) -> Parser:
    from wsproto.connection import Connection as WConnection
    from wsproto.connection import ConnectionType

    def run(reads: list[bytes]) -> int:
        exts: list[Any] = []
        if deflate:
            from wsproto.extensions import PerMessageDeflate

            ext = PerMessageDeflate()
            ext._enabled = True
            exts = [ext]
        c = WConnection(ConnectionType.SERVER, extensions=exts)
        n = 0
        for r in reads:
            c.receive_data(r)
            for _ in c.events():
                n += 1
        return n
    return run


def aiohttp_parser(deflate: bool = False) -> Parser:
    from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
    from aiohttp.base_protocol import BaseProtocol

    def run(reads: list[bytes]) -> int:
        loop = asyncio.new_event_loop()
        try:
            q = WebSocketDataQueue(BaseProtocol(loop), 1 << 30, loop=loop)
            reader = WebSocketReader(q, 1 << 30, compress=deflate, decode_text=True)  # UTF-8 checked
            n = 0
            for r in reads:
                reader.feed_data(r)
                n += len(q._buffer)
                q._buffer.clear()
            return n
        finally:
            loop.close()
    return run


def _time(parser: Parser, reads: list[bytes], repeat: int) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        gc.collect()
        t = time.process_time()  # CPU of this process: a fair figure on a shared, busy machine
        count = parser(reads)
        best = min(best, time.process_time() - t)
    return best, count


def _peers(deflate: bool) -> dict[str, Callable[[], Parser]]:
    return {
        "conformance": lambda: ours(),
        "websockets": lambda: websockets_parser(deflate),
        "wsproto": lambda: wsproto_parser(deflate),
        "aiohttp": lambda: aiohttp_parser(deflate),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    ap.add_argument("--scale", type=float, default=1.0, help="scale the workload sizes")
    args = ap.parse_args(argv)
    k = args.scale
    deflate_data, dparams = _deflate_stream(int(10_000 * k))
    workloads = [
        ("100k masked 8-byte frames", _stream(int(100_000 * k), 8), int(100_000 * k), False),
        ("100k masked 64-byte frames", _stream(int(100_000 * k), 64), int(100_000 * k), False),
        ("100k masked 1-125-byte frames", _mixed_stream(int(100_000 * k)), int(100_000 * k), False),
        ("4 masked 16 MiB frames", _stream(4, 16 * 1024 * 1024), 4, False),
        ("10k deflate messages of 1 KiB", deflate_data, int(10_000 * k), True),
    ]
    print(f"engine receive throughput, 64 KiB reads, best of {args.repeat} (Python {sys.version.split()[0]})")
    print(f"{'workload':<32} {'parser':<12} {'frames/s':>12} {'MB/s':>9} {'vs websockets':>14} {'vs fastest peer':>16}")
    for name, data, expected, deflate in workloads:
        reads = _reads(data)
        rows: dict[str, tuple[float, int]] = {}
        for peer, make in _peers(deflate).items():
            try:
                parser = ours(dparams) if (peer == "conformance" and deflate) else make()
                rows[peer] = _time(parser, reads, args.repeat)
            except Exception as exc:
                print(f"{name:<32} {peer:<12} unavailable: {type(exc).__name__}: {exc}"[:120])
        base = rows.get("websockets", (0.0, 0))[0]
        fastest = min((secs for peer, (secs, _) in rows.items() if peer != "conformance"), default=0.0)
        for peer, (secs, count) in rows.items():
            ok = "" if count == expected else f"  (delivered {count}, expected {expected})"
            ratio = f"{base / secs:>13.2f}x" if base else f"{'-':>14}"
            best = f"{fastest / secs:>15.2f}x" if fastest else f"{'-':>16}"
            print(f"{name:<32} {peer:<12} {expected / secs:>12,.0f} {len(data) / secs / 1e6:>9.1f} {ratio} {best}{ok}")
    print("same work in every row: frames parsed and unmasked, reserved bits, opcodes and control frames "
          "checked, messages inflated when compressed, text decoded as UTF-8 (for websockets' Protocol by "
          "this bench, for aiohttp by decode_text=True), one object per message")
    print("the engine also checks the MASK bit and minimal lengths, and that each compressed message ends "
          "on a DEFLATE block boundary (zlib's record of where inflate stopped; a probe of a copy of the "
          "inflater where the record proves nothing); it inflates with zlib-ng, the peers with the standard "
          "zlib (their default)")
    print(f"deflate row: {int(10_000 * k)} messages, no message repeats within a run and every run is a new "
          "connection, so a receiver's memo of messages inflated before never answers")
    print("picows: no sans-IO parser is exposed to Python (its parser is Cython-internal); "
          "it is measured end to end by `make bench-suite` instead.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
