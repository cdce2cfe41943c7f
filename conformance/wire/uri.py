"""ws:// and wss:// URIs (RFC 6455 §3)."""

from __future__ import annotations

__all__ = ["InvalidURI", "WebSocketURI", "parse_uri"]

import dataclasses
import urllib.parse

from conformance.errors import WireError


class InvalidURI(WireError):
    """Not a WebSocket URI; the message says why."""


@dataclasses.dataclass(frozen=True)
class WebSocketURI:
    secure: bool
    host: str
    port: int
    path: str = "/"
    query: str = ""
    username: str | None = None
    password: str | None = None

    @property
    def resource_name(self) -> str:
        path = self.path or "/"
        return f"{path}?{self.query}" if self.query else path

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"

    def __str__(self) -> str:
        scheme = "wss" if self.secure else "ws"
        return f"{scheme}://{self.host_header}{self.resource_name}"


def parse_uri(text: str) -> WebSocketURI:
    """Parse a ws/wss URI; RFC 6455 §3 forbids fragments and requires a host."""
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidURI(f"{text!r}: {exc}") from None
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURI(f"{text!r}: the scheme must be ws or wss, not {parts.scheme or 'missing'!r}")
    if parts.fragment or text.endswith("#"):
        raise InvalidURI(f"{text!r}: a WebSocket URI has no fragment (RFC 6455 §3)")
    if not parts.hostname:
        raise InvalidURI(f"{text!r}: no host")
    host = parts.hostname
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidURI(f"{text!r}: the host cannot be encoded") from None
    secure = parts.scheme == "wss"
    return WebSocketURI(secure, host, port or (443 if secure else 80), parts.path or "/", parts.query,
                        parts.username, parts.password)
