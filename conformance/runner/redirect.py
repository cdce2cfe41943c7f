"""The second listener of a redirect case: where the suite's 3xx answer sends the client.

A client case whose `handshake.response.redirect` is a path gets, for the length of the case, a
listener on another loopback port (another port is another origin, RFC 6454 §4) and a Location
pointing there. What the client does next is a fact for the trace (RedirectFacts): it sends a
handshake there ("followed", with the raw request, so the judge can compare its key and
credentials with the first request), or its next connection goes to the suite's main listener
("moved-on": it did not follow), or neither happens within the bound ("silent"). The bound only
limits a client that does nothing; a follower under load is slower, and is still seen as long as
it follows before it moves on to its next case.
"""

from __future__ import annotations

__all__ = ["RedirectListener", "with_location"]

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable

from conformance.catalog.model import Case
from conformance.runner.trace import RedirectFacts
from conformance.targets.streams import HeadIncomplete, read_http_head, start_stream_server
from conformance.wire.http import Headers, Response, parse_request

_REFUSAL = Response(403, "Forbidden", Headers([("Content-Length", "0"), ("Connection", "close")]), b"")


def with_location(case: Case, location: str) -> Case:
    """`case` with the Location header of its bent answer set to `location`."""
    assert case.handshake is not None and case.handshake.response is not None
    spec = case.handshake.response
    headers = tuple((n, v) for n, v in spec.headers if n.lower() != "location") + (("Location", (location,)),)
    response = dataclasses.replace(spec, headers=headers)
    return dataclasses.replace(case, handshake=dataclasses.replace(case.handshake, response=response))


class RedirectListener:
    """A loopback listener that records the first handshake a redirected client sends it, and
    refuses it (403): the case is about whether and how the client follows, not what comes after."""

    def __init__(self, path: str, browser: bool) -> None:
        self.path = path
        self.browser = browser
        self.arrived = asyncio.Event()
        self.request = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RedirectListener:
        self._server = await start_stream_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    @property
    def location(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}{self.path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _, raw, _ = await read_http_head(reader, parse_request, 10)
            if not self.arrived.is_set():
                self.request = raw.decode("latin-1")
                self.arrived.set()
            writer.write(_REFUSAL.serialize())
            await writer.drain()
        except (HeadIncomplete, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _arrival(self) -> object:
        return await self.arrived.wait()

    async def watch(self, moved_on: Callable[[], Awaitable[object]] | None, bound: float) -> RedirectFacts:
        """Wait for the client to follow or to move on (`moved_on`), `bound` seconds at most."""
        facts = RedirectFacts(location=self.location, browser=self.browser)
        t0 = time.monotonic()
        waits: list[asyncio.Future[object]] = [asyncio.ensure_future(self._arrival())]
        if moved_on is not None:
            waits.append(asyncio.ensure_future(moved_on()))
        try:
            await asyncio.wait(waits, timeout=bound, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        facts.waited = time.monotonic() - t0
        if self.arrived.is_set():
            facts.outcome, facts.request = "followed", self.request
        elif len(waits) > 1 and waits[1].done() and not waits[1].cancelled():
            facts.outcome = "moved-on"
        return facts
