"""An Autobahn-style testee client built on aiohttp: it runs every case the server offers.

python -m testees.clients.aiohttp_client URL AGENT [--no-compression]
Offers permessage-deflate unless --no-compression; no message size limit, no heartbeat.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp


async def main(url: str, agent: str, compress: int) -> None:
    # force_close: no connection reuse, even after a handshake response aiohttp refused
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        async with session.ws_connect(f"{url}/getCaseCount") as ws:
            count = int((await ws.receive()).data)
        for n in range(1, count + 1):
            try:
                async with asyncio.timeout(5):
                    ws = await session.ws_connect(f"{url}/runCase?case={n}&agent={agent}", compress=compress,
                                                  max_msg_size=0, heartbeat=None)
                async with ws:
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            await ws.send_str(msg.data)
                        elif msg.type == aiohttp.WSMsgType.BINARY:
                            await ws.send_bytes(msg.data)
            except Exception:
                pass
        async with session.ws_connect(f"{url}/updateReports?agent={agent}"):
            pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], 0 if "--no-compression" in sys.argv[3:] else 15))
