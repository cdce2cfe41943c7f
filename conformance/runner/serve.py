"""`conformance serve`: Autobahn's fuzzing-server protocol, so existing testee clients work unchanged.

Endpoints (each a WebSocket connection): /getCaseCount (a text message with the count),
/getCaseInfo?case=N (JSON with id and description), /runCase?case=N&agent=A (the case itself),
/getCaseStatus?case=N&agent=A (JSON with the verdict), /updateReports?agent=A (calls `on_update`:
`conformance serve` writes the HTML then).
Case numbers are 1..N in catalogue order over the cases that apply to clients.
"""

from __future__ import annotations

__all__ = ["CaseServer"]

import asyncio
import contextlib
import fnmatch
import json
import ssl
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

from conformance.catalog.model import Case
from conformance.engine.connection import Connection, Role, State
from conformance.engine.handshake import ServerHandshake
from conformance.engine.rules import ProtocolError
from conformance.errors import WireError
from conformance.report.model import CaseResult, ReportDir
from conformance.runner.result import make_result, now_stamp
from conformance.runner.session import RunOptions, execute_client_case
from conformance.targets.streams import (
    HeadIncomplete,
    Reader,
    Writer,
    lingering_close,
    read_http_head,
    server_side,
    start_stream_server,
)
from conformance.wire.http import Headers, Request, Response, parse_request

_READ = 1 << 16


class CaseServer:
    """Serves the client catalogue; results go to `report` as each case ends."""

    def __init__(self, cases: Sequence[Case], report: ReportDir, opts: RunOptions,
                 titles: dict[str, str] | None = None,
                 on_result: Callable[[CaseResult], None] | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 on_update: Callable[[], None] | None = None,
                 browser_agents: Sequence[str] = ()) -> None:
        self.cases = list(cases)
        # agents (names or shell patterns) the operator declared to be web browsers (serve
        # --browser-client): WHATWG's rules bind them. Declared, never guessed from the headers,
        # since a verdict of the WHATWG rule claims the client is a browser.
        self.browser_agents = tuple(browser_agents)
        self.ssl_context = ssl_context  # wss://: TLS on memory BIOs, so that the suite can half-close
        self.on_update = on_update  # /updateReports: whoever drives the server writes the HTML
        self.report = report
        self.opts = opts
        self.titles = titles or {}
        self.on_result = on_result
        self.results: dict[tuple[str, str], CaseResult] = {}
        self.started: set[int] = set()
        self.connections = 0
        self._arrivals: list[asyncio.Event] = []  # set by the next connection (redirect cases wait on it)

    async def listen(self, host: str, port: int, **kwargs: Any) -> asyncio.Server:
        """Accept clients on host:port (kwargs go to loop.create_server); octets a client sent
        before resetting the connection still reach the case (KeepingReader)."""
        return await start_stream_server(self.handle, host, port, limit=_READ, **kwargs)

    async def handle(self, tcp_reader: asyncio.StreamReader, tcp_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        for arrival in self._arrivals:
            arrival.set()
        writer: Writer = tcp_writer
        try:
            reader, writer = await server_side(tcp_reader, tcp_writer, self.ssl_context, self.opts.wait * 5)
            got = await self._read_request(reader)
            if got is not None:
                await self._dispatch(*got, reader, writer)
        except (ConnectionError, OSError, TimeoutError):
            pass
        except asyncio.CancelledError:
            # the run is over (its loop cancels what is left): end here, since Python 3.11's stream
            # server callback would log a cancelled handler as an error with a traceback
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _read_request(self, reader: Reader) -> tuple[Request, bytes, bytes] | None:
        try:
            return await read_http_head(reader, parse_request, self.opts.wait * 5)
        except HeadIncomplete:
            return None

    async def _dispatch(self, req: Request, raw: bytes, leftover: bytes, reader: Reader,
                        writer: Writer) -> None:
        url = urllib.parse.urlsplit(req.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        path = url.path.rstrip("/")
        if path == "/runCase":
            await self._run_case(q, req, raw, leftover, reader, writer)
        elif path == "/getCaseCount":
            await self._answer(req, reader, writer, str(len(self.cases)))
        elif path == "/getCaseInfo":
            case = self._case(q)
            info = {"id": case.id, "description": case.description or case.title} if case else {}
            await self._answer(req, reader, writer, json.dumps(info))
        elif path == "/getCaseStatus":
            case = self._case(q)
            res = self.results.get((q.get("agent", ""), case.id)) if case else None
            await self._answer(req, reader, writer, json.dumps({"behavior": res.behavior if res else None}))
        elif path == "/updateReports":
            if self.on_update is not None:
                self.on_update()
            await self._answer(req, reader, writer, None)
        else:
            body = f"unknown endpoint {url.path}\n".encode()
            writer.write(Response(404, "Not Found", _headers(len(body)), body).serialize())
            await writer.drain()

    def _case(self, q: dict[str, str]) -> Case | None:
        try:
            n = int(q.get("case", ""))
        except ValueError:
            return None
        return self.cases[n - 1] if 1 <= n <= len(self.cases) else None

    async def _run_case(self, q: dict[str, str], req: Request, raw: bytes, leftover: bytes,
                        reader: Reader, writer: Writer) -> None:
        case = self._case(q)
        if case is None:
            body = f"no case {q.get('case')!r}: cases are 1..{len(self.cases)}\n".encode()
            writer.write(Response(404, "Not Found", _headers(len(body)), body).serialize())
            await writer.drain()
            return
        agent = q.get("agent") or self.opts.agent
        self.started.add(self.cases.index(case) + 1)
        started = now_stamp()
        opts = RunOptions(**{**self.opts.__dict__, "agent": agent, "browser": self.is_browser(agent)})
        arrival = asyncio.Event()  # the client's next connection: it has moved on from this case
        self._arrivals.append(arrival)
        try:
            trace = await execute_client_case(case, req, raw, leftover, reader, writer, opts, arrival.wait)
        finally:
            self._arrivals.remove(arrival)
        result = make_result(case, trace, agent, started, is_server=False)
        self.report.write_case(result)
        self.results[(agent, case.id)] = result
        if self.on_result is not None:
            self.on_result(result)

    def is_browser(self, agent: str) -> bool:
        """Whether the client reporting as `agent` is a browser: the whole run says so (run
        --browser) or the operator named the agent (serve --browser-client)."""
        return self.opts.browser or any(fnmatch.fnmatchcase(agent, p) for p in self.browser_agents)

    async def _answer(self, req: Request, reader: Reader, writer: Writer,
                      text: str | None) -> None:
        """A plain WebSocket exchange: handshake, one text message (if any), close."""
        shake = ServerHandshake()
        try:
            shake.check_request(req)
            response, _ = shake.accept(req)
        except ProtocolError as exc:
            writer.write(shake.reject(exc).serialize())  # type: ignore[arg-type]
            await writer.drain()
            return
        conn = Connection(Role.SERVER)
        writer.write(response.serialize())
        if text is not None:
            conn.send_data(text)
        conn.close(1000)
        writer.write(conn.data_to_send())
        await writer.drain()
        await _close_reply(conn, reader, self.opts.wait)
        await lingering_close(reader, writer)  # the closing handshake is over: the server closes TCP now



async def _close_reply(conn: Connection, reader: Reader, wait: float) -> None:
    """Read until the client's close frame has answered ours (or it closed TCP); `wait` bounds a
    client that never answers."""
    with contextlib.suppress(TimeoutError, ConnectionError, OSError, ProtocolError, WireError):
        async with asyncio.timeout(wait):
            while conn.state is not State.CLOSED:
                data = await reader.read(_READ)
                conn.receive_data(data)
                for _ in conn.events():  # parsing happens as events are pulled
                    pass
                if not data:
                    return


def _headers(length: int) -> Headers:
    h = Headers()
    h["Content-Type"] = "text/plain; charset=utf-8"
    h["Content-Length"] = str(length)
    h["Connection"] = "close"
    return h
