"""An Autobahn-style testee client built on websockets: it runs every case the server offers.

python -m testees.clients.websockets_client URL AGENT [--no-compression]
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException


async def main(url: str, agent: str, compression: str | None) -> None:
    async with connect(f"{url}/getCaseCount") as ws:
        count = int(await ws.recv())
    for n in range(1, count + 1):
        try:
            async with connect(f"{url}/runCase?case={n}&agent={agent}", max_size=None, open_timeout=5,
                               compression=compression) as ws:
                async for message in ws:
                    await ws.send(message)
        except (TimeoutError, WebSocketException, OSError):
            pass
    async with connect(f"{url}/updateReports?agent={agent}"):
        pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], None if "--no-compression" in sys.argv[3:] else "deflate"))
