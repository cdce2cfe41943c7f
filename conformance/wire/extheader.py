"""Sec-WebSocket-Extensions and Sec-WebSocket-Protocol values (RFC 6455 §9.1, §4.3 grammar).

extension-list = 1#( extension-token *( ";" extension-param ) )
extension-param = token [ "=" (token | quoted-string) ]   ; a quoted value must be a token once unquoted
"""

from __future__ import annotations

__all__ = ["ExtensionHeaderError", "parse_extensions", "parse_subprotocols", "serialize_extensions"]

import re

from conformance.errors import WireError

ExtensionList = list[tuple[str, list[tuple[str, str | None]]]]
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


class ExtensionHeaderError(WireError):
    """An extension or subprotocol header that does not follow the grammar."""


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        self.ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self, ch: str) -> bool:
        if self.peek() == ch:
            self.pos += 1
            return True
        return False

    def token(self, what: str) -> str:
        self.ws()
        m = _TOKEN.match(self.text, self.pos)
        if not m:
            raise ExtensionHeaderError(f"expected a token for {what} at position {self.pos} of {self.text!r}")
        self.pos = m.end()
        return m.group(0)

    def value(self) -> str:
        self.ws()
        m = _QUOTED.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            unquoted = re.sub(r"\\(.)", r"\1", m.group(1))
            if not _TOKEN.fullmatch(unquoted):
                raise ExtensionHeaderError(f"quoted value {m.group(0)} is not a token (RFC 6455 §9.1)")
            return unquoted
        return self.token("a parameter value")


def parse_extensions(values: list[str]) -> ExtensionList:
    out: ExtensionList = []
    for value in values:
        sc = _Scanner(value)
        while True:
            if sc.take(","):  # empty list elements are allowed by the #rule
                continue
            if not sc.peek():
                break
            name = sc.token("an extension name")
            params: list[tuple[str, str | None]] = []
            while sc.take(";"):
                pname = sc.token("a parameter name")
                params.append((pname, sc.value() if sc.take("=") else None))
            out.append((name, params))
            if sc.peek() and not sc.take(","):
                raise ExtensionHeaderError(f"unexpected {sc.peek()!r} at position {sc.pos} of {value!r}")
    return out


def serialize_extensions(exts: ExtensionList) -> str:
    return ", ".join("; ".join([name, *(p if v is None else f"{p}={v}" for p, v in params)])
                     for name, params in exts)


def parse_subprotocols(values: list[str]) -> list[str]:
    out = []
    for value in values:
        for raw in value.split(","):
            part = raw.strip()
            if not part:
                continue
            if not _TOKEN.fullmatch(part):
                raise ExtensionHeaderError(f"subprotocol {part!r} is not a token")
            out.append(part)
    return out
