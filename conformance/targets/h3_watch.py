"""Watched servers (`--server-cmd`) reached over HTTP/2 or HTTP/3, and the liveness check after a case.

`H2WatchedServer` is the watched server of `run --server-cmd CMD --http2`: the same TCP port,
named by an http:// URL. `H3WatchedServer` serves `--http3`: the free port is a UDP one, and the
server is up once its process tree holds that UDP port (QUIC has no accept to try), named by an
https:// URL.

Over HTTP/2 and HTTP/3 a server can die of something the suite sends after the WebSocket closed
(END_STREAM or a QUIC stream FIN on a stream the server has already forgotten), so the death comes
after the case's trace is complete. `survived` tells, after each case, whether the server is still
there: a new connection to it is raced against the process's exit, and whichever the server does
first decides; the time limit is only an upper bound.
"""

from __future__ import annotations

__all__ = ["H2WatchedServer", "H3WatchedServer", "survived"]

import asyncio
import contextlib
import socket
from typing import Any

import psutil

from conformance.errors import TargetError
from conformance.targets.tcp import open_connection
from conformance.targets.watch import WatchedServer


class H2WatchedServer(WatchedServer):
    """A watched server spoken to over HTTP/2 with prior knowledge (RFC 8441): http://host:port/."""

    probe_each_case = True

    @property
    def url(self) -> str:
        return "http" + super().url.removeprefix("ws")


def _free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class H3WatchedServer(WatchedServer):
    """A watched server spoken to over HTTP/3 (RFC 9220): https://host:port/, the port on UDP."""

    probe_each_case = True

    def __init__(self, command: str, **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.port = _free_udp_port(self.host)

    @property
    def url(self) -> str:
        return "https" + super().url.removeprefix("ws")

    def _accepts(self) -> bool:
        """Up once a process of its tree has bound the UDP port."""
        for proc in self._tree():
            with contextlib.suppress(psutil.Error):
                if any(c.laddr and c.laddr.port == self.port for c in proc.net_connections(kind="udp")):
                    return True
        return False


async def survived(watch: WatchedServer, target: Any, timeout: float) -> str | None:
    """None when `target` answers a new connection (`target.probe`) before the watched process ends;
    else how the process ended. A server that neither answers nor ends within `timeout` counts as
    alive here (a hang is no death; the next case sees it)."""
    probe = asyncio.ensure_future(_reach(target, timeout))
    ended = asyncio.ensure_future(_exit(watch, timeout))
    try:
        done, _ = await asyncio.wait({probe, ended}, return_when=asyncio.FIRST_COMPLETED)
        if probe in done and probe.exception() is None:
            return None
        with contextlib.suppress(TargetError, OSError):
            await probe  # a failed connection: the process's exit (or the time limit) decides
        return await ended
    finally:
        for task in (probe, ended):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TargetError, OSError):
                await task


async def _reach(target: Any, timeout: float) -> None:
    """A new connection: QUIC with TLS done (an HTTP/3 target's `probe`), else a TCP connection."""
    probe = getattr(target, "probe", None)
    if probe is not None:
        await probe(timeout)
        return
    _, writer = await open_connection(target, timeout)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _exit(watch: WatchedServer, timeout: float) -> str | None:
    """How the watched process ended, once it has; None if it still runs after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (status := watch.exit_status()) is None and loop.time() < deadline:
        await asyncio.sleep(0.02)
    return status
