"""In-process libraries broken on purpose, built on the reference adapter: each must be caught by
`conformance fuzz --engine atheris`, and the case it exports must fail against it and pass against
the reference. Loaded as `--impl testees.mutants.adapters:NAME`."""

from __future__ import annotations

from typing import Any

from conformance.fuzz.differential import split_frames
from conformance.targets.inprocess import ReferenceAdapter


def no_pong() -> ReferenceAdapter:
    """Never answers a ping (RFC 6455 §5.5.2)."""
    return ReferenceAdapter(auto_pong=False)


class _IgnoresRsv(ReferenceAdapter):
    def _connection(self, params: Any) -> Any:
        conn = super()._connection(params)
        conn._check_rsv = lambda header: None  # reserved bits pass without an extension (§5.2)
        return conn


def ignores_rsv() -> ReferenceAdapter:
    """Accepts frames with RSV bits set that no extension defines (RFC 6455 §5.2)."""
    return _IgnoresRsv()


class _CrashesOnEmptyPing(ReferenceAdapter):
    def receive(self, data: bytes) -> None:
        if self.conn is not None and b"\x89\x80" in data:
            raise IndexError("pop from an empty payload")  # a parser bug, as a library might have
        super().receive(data)


def crashes() -> ReferenceAdapter:
    """Raises on an empty masked ping."""
    return _CrashesOnEmptyPing()


class _Utf8As1002(ReferenceAdapter):
    def data_to_send(self) -> bytes:
        out = super().data_to_send()
        if self.conn is None:
            return out
        head_end = out.find(b"\r\n\r\n") + 4 if out.startswith(b"HTTP/") else 0
        frames = split_frames(out[head_end:])
        fixed = [f[:2] + b"\x03\xea" + f[4:] if f[0] == 0x88 and f[2:4] == b"\x03\xef" else f for f in frames]
        return out[:head_end] + b"".join(fixed)


def utf8_as_1002() -> ReferenceAdapter:
    """Fails invalid UTF-8 with 1002 instead of 1007 (§8.1, §7.4.1)."""
    return _Utf8As1002()
