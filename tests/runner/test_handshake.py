"""runner/handshake.py: a request given as octets is checked against its own Sec-WebSocket-Key."""

from __future__ import annotations

import asyncio
import dataclasses

from conformance.catalog.load import load_catalogue
from conformance.catalog.model import HandshakeSpec
from conformance.catalog.payload import PayloadSpec
from conformance.runner.judge import judge
from conformance.runner.session import execute_case
from conformance.runner.trace import RunOptions
from conformance.targets.tcp import ServerTarget
from testees.peers.spawn import spawn_server

RAW = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def test_a_raw_request_opens_and_is_judged_like_a_built_one() -> None:
    case = next(c for c in load_catalogue().cases if c.id == "1.1.1")
    raw = dataclasses.replace(case, handshake=HandshakeSpec(raw=PayloadSpec("literal", RAW)))
    with spawn_server(["-m", "conformance", "echo-server", "--port", "0"]) as (url, _):
        trace = asyncio.run(execute_case(raw, ServerTarget.from_url(url), RunOptions()))
    assert trace.handshake_error is None and trace.opened  # the answer's Accept is for RAW's key
    assert "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in trace.response  # RFC 6455 §1.3's example key and answer
    v = judge(raw, trace)
    assert (v.behavior, v.behavior_close) == ("OK", "OK")
