"""HTTP/1.1 messages of the opening handshake (RFC 6455 §4, RFC 9112 syntax): headers, request,
response, and an incremental parser that stays bounded against hostile input."""

from __future__ import annotations

__all__ = [
    "HTTPParseError",
    "Headers",
    "edit_headers",
    "MultipleValuesError",
    "Request",
    "Response",
    "parse_request",
    "parse_response",
]

import dataclasses
import re
from collections.abc import Iterable, Iterator, Sequence

from conformance.errors import WireError

MAX_HEAD = 65536
MAX_HEADERS = 256
MAX_LINE = 8192
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_STATUS = re.compile(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$")
_REQUEST = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) (HTTP/\d\.\d)$")


class HTTPParseError(WireError):
    """The octets are not an HTTP/1.1 message head we can read, or exceed a limit."""


class MultipleValuesError(WireError, KeyError):
    """`headers[name]` was asked for a header that appears several times."""


class Headers:
    """Case-insensitive, multi-valued, order-preserving HTTP headers."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = list(items)

    def __getitem__(self, name: str) -> str:
        values = self.get_all(name)
        if not values:
            raise KeyError(name)
        if len(values) > 1:
            raise MultipleValuesError(f"{name} appears {len(values)} times")
        return values[0]

    def __setitem__(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for k, _ in self._items:
            if k.lower() not in seen:
                seen.add(k.lower())
                yield k

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [(k.lower(), v) for k, v in self._items] == [(k.lower(), v) for k, v in other._items]

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.get_all(name)
        return values[0] if len(values) == 1 else (default if not values else ", ".join(values))

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for k, v in self._items if k.lower() == key]

    def raw_items(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def copy(self) -> Headers:
        return Headers(self._items)

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens over every value of `name`, lower-cased (Connection, Upgrade)."""
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: Headers
    http_version: str = "HTTP/1.1"

    def serialize(self) -> bytes:
        lines = [f"{self.method} {self.path} {self.http_version}"]
        lines += [f"{k}: {v}" for k, v in self.headers.raw_items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


@dataclasses.dataclass
class Response:
    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    http_version: str = "HTTP/1.1"

    def serialize(self) -> bytes:
        lines = [f"{self.http_version} {self.status} {self.reason}"]
        lines += [f"{k}: {v}" for k, v in self.headers.raw_items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + self.body


def _head(buf: bytes | bytearray, max_head: int) -> tuple[list[bytes], int] | None:
    """Split off the message head; None while incomplete. Accepts CRLF (and bare LF) line ends."""
    end = buf.find(b"\r\n\r\n")
    sep = 4
    lf = buf.find(b"\n\n")
    if lf != -1 and (end == -1 or lf < end):
        end, sep = lf, 2
    if end == -1:
        if len(buf) > max_head:
            raise HTTPParseError(f"no end of the message head within {max_head} octets")
        return None
    if end > max_head:
        raise HTTPParseError(f"message head of {end} octets exceeds the limit of {max_head}")
    lines = [ln.rstrip(b"\r") for ln in bytes(buf[:end]).split(b"\n")]
    return lines, end + sep


def _headers(lines: list[bytes], max_headers: int, max_line: int) -> Headers:
    if len(lines) > max_headers:
        raise HTTPParseError(f"{len(lines)} header lines exceed the limit of {max_headers}")
    h = Headers()
    for i, line in enumerate(lines, start=2):
        if len(line) > max_line:
            raise HTTPParseError(f"line {i} is {len(line)} octets long (limit {max_line})")
        name, colon, value = line.partition(b":")
        if not colon:
            raise HTTPParseError(f"header line {i} has no colon: {line[:60]!r}")
        if not _TOKEN.match(name):
            raise HTTPParseError(f"header line {i} has an invalid name: {name[:60]!r}")
        if b"\0" in value or b"\r" in value:
            raise HTTPParseError(f"header line {i} has a control character in its value")
        h[name.decode("ascii")] = value.strip(b" \t").decode("latin-1")
    return h


def parse_request(buf: bytes | bytearray, *, max_head: int = MAX_HEAD, max_headers: int = MAX_HEADERS,
                  max_line: int = MAX_LINE) -> tuple[Request, int] | None:
    """A whole request head and the octets it used, or None while incomplete."""
    got = _head(buf, max_head)
    if got is None:
        return None
    lines, used = got
    m = _REQUEST.match(lines[0]) if len(lines[0]) <= max_line else None
    if m is None:
        raise HTTPParseError(f"not an HTTP request line: {lines[0][:80]!r}")
    method, target, version = (g.decode("latin-1") for g in m.groups())
    return Request(method, target, _headers(lines[1:], max_headers, max_line), version), used


def parse_response(buf: bytes | bytearray, *, max_head: int = MAX_HEAD, max_headers: int = MAX_HEADERS,
                   max_line: int = MAX_LINE, max_body: int = MAX_HEAD) -> tuple[Response, int] | None:
    """A whole response (head, and a Content-Length body unless 101) or None while incomplete."""
    got = _head(buf, max_head)
    if got is None:
        return None
    lines, used = got
    m = _STATUS.match(lines[0]) if len(lines[0]) <= max_line else None
    if m is None:
        raise HTTPParseError(f"not an HTTP status line: {lines[0][:80]!r}")
    version, status, reason = m.group(1).decode(), int(m.group(2)), (m.group(3) or b"").decode("latin-1")
    headers = _headers(lines[1:], max_headers, max_line)
    body = b""
    if status != 101 and "Content-Length" in headers:
        try:
            size = int(headers.get("Content-Length") or "")
        except ValueError:
            raise HTTPParseError(f"Content-Length is not a number: {headers.get('Content-Length')!r}") from None
        if size < 0 or size > max_body:
            raise HTTPParseError(f"Content-Length {size} is out of range (limit {max_body})")
        if len(buf) < used + size:
            return None
        body = bytes(buf[used : used + size])
        used += size
    return Response(status, reason, headers, body, version), used


def edit_headers(headers: Headers, edits: Iterable[tuple[str, Sequence[str]]]) -> None:
    """Replace each named header field by the values given (no values: remove it)."""
    for name, values in edits:
        if name in headers:
            del headers[name]
        for v in values:
            headers[name] = v
