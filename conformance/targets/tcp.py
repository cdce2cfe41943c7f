"""Reaching a server under test over TCP (optionally TLS); loopback addresses only."""

from __future__ import annotations

__all__ = ["ServerTarget", "check_loopback", "open_connection"]

import asyncio
import dataclasses
import functools
import ipaddress
import os
import socket
import ssl

from conformance.errors import TargetError, UsageError
from conformance.wire.uri import WebSocketURI, parse_uri


def check_loopback(host: str) -> None:
    """Refuse any target that is not on this machine's loopback (127.0.0.0/8, ::1)."""
    name = host.strip("[]")
    if name == "localhost":
        return
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        try:
            infos = socket.getaddrinfo(name, None)
        except socket.gaierror as exc:
            raise UsageError(f"cannot resolve target host {host!r}: {exc}") from None
        addrs = {ipaddress.ip_address(i[4][0]) for i in infos}
        if not all(a.is_loopback for a in addrs):
            raise UsageError(f"target {host!r} is not a loopback address; "
                             "this suite only tests implementations on 127.0.0.1 or ::1") from None
        return
    if not addr.is_loopback:
        raise UsageError(f"target {host!r} is not a loopback address; "
                         "this suite only tests implementations on 127.0.0.1 or ::1")


@dataclasses.dataclass(frozen=True)
class ServerTarget:
    """A server URL plus how to trust its certificate."""

    url: str
    uri: WebSocketURI
    ca_file: str | None = None
    insecure: bool = False

    @classmethod
    def from_url(cls, url: str, ca_file: str | None = None, insecure: bool = False) -> ServerTarget:
        try:
            uri = parse_uri(url)
        except Exception as exc:  # InvalidURI, with its own message
            raise UsageError(f"bad target URL {url!r}: {exc}") from None
        check_loopback(uri.host)
        return cls(url, uri, ca_file, insecure)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS client context for wss:// (None for ws://), shared by every connection of the run.

        Building one loads the trust store (the system's, about 60 ms, when no --ca is given); a
        context per connection made each wss:// case that much slower than over ws://.
        """
        if not self.uri.secure:
            return None
        return _client_context(self.ca_file, self.insecure, _file_version(self.ca_file))


def _file_version(path: str | None) -> tuple[int, int] | None:
    """Size and modification time of the CA file, so that a rewritten file is loaded again."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # loading it reports the error
    return st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=8)
def _client_context(ca_file: str | None, insecure: bool, _version: tuple[int, int] | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def open_connection(
    target: ServerTarget, timeout: float, limit: int = 1 << 16
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect, or raise TargetError naming the URL and the reason."""
    try:
        return await asyncio.wait_for(
            asyncio.open_connection(target.uri.host, target.uri.port, ssl=target.ssl_context(),
                                    limit=limit),
            timeout)
    except TimeoutError:
        tls = " and TLS handshake (is the server speaking TLS? a plain server is ws://)" if target.uri.secure else ""
        raise TargetError(f"{target.url}: no TCP connection{tls} within {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise TargetError(f"{target.url}: TLS handshake failed: {exc.reason or exc.strerror or exc}") from None
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        if target.uri.secure and isinstance(exc, ConnectionError) and not isinstance(exc, ConnectionRefusedError):
            why += " during the TLS handshake (is the server speaking TLS? a plain server is ws://)"
        raise TargetError(f"{target.url}: cannot connect: {why}") from None
