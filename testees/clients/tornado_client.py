"""An Autobahn-style testee client built on tornado: it runs every case the server offers.

python -m testees.clients.tornado_client URL AGENT [--no-compression]
Offers permessage-deflate unless --no-compression; 1 GiB message limit, no pings.
"""

from __future__ import annotations

import asyncio
import sys

from tornado.websocket import websocket_connect


async def main(url: str, agent: str, compression: dict[str, object] | None) -> None:
    conn = await websocket_connect(f"{url}/getCaseCount")
    count = int(await conn.read_message())  # type: ignore[arg-type]
    while await conn.read_message() is not None:
        pass
    for n in range(1, count + 1):
        try:
            conn = await asyncio.wait_for(websocket_connect(
                f"{url}/runCase?case={n}&agent={agent}", connect_timeout=5, compression_options=compression,
                max_message_size=1 << 30, ping_interval=None), 5)
            while (message := await conn.read_message()) is not None:
                await conn.write_message(message, binary=isinstance(message, bytes))
        except Exception:
            pass
    conn = await websocket_connect(f"{url}/updateReports?agent={agent}")
    while await conn.read_message() is not None:
        pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], None if "--no-compression" in sys.argv[3:] else {}))
