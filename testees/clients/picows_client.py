"""An Autobahn-style testee client built on picows: it runs every case the server offers.

python -m testees.clients.picows_client URL AGENT [--no-compression]
The message assembly and echo are the picows echo server's (testees/peers/picows_server.py), waiting
for the server to close TCP after the closing handshake. picows has no permessage-deflate:
--no-compression is accepted and ignored.
"""

from __future__ import annotations

import asyncio
import sys

from picows import ws_connect

from testees.peers.picows_server import Echo


async def session(url: str, echo: bool = True) -> list[bytes]:
    async with asyncio.timeout(5):
        transport, listener = await ws_connect(lambda: Echo(echo, linger=5), url, websocket_handshake_timeout=5,
                                               enable_auto_ping=False, max_frame_size=1 << 30)
    await transport.wait_disconnected()
    return listener.received  # type: ignore[attr-defined, no-any-return]


async def main(url: str, agent: str) -> None:
    count = int((await session(f"{url}/getCaseCount", echo=False))[0])
    for n in range(1, count + 1):
        try:
            await session(f"{url}/runCase?case={n}&agent={agent}")
        except Exception:
            pass
    await session(f"{url}/updateReports?agent={agent}", echo=False)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))  # --no-compression (argv[3]) is accepted and ignored
