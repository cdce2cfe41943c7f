"""One case, end to end, against real servers on loopback (session.execute_case, then the judge).

RFC 6455 §10.4: a peer may limit the size of the messages it accepts. A volume case (one that
carries `size_limited`) refused with a clean close 1009 is INFORMATIONAL, never FAILED; a case
without the field still fails, and the same server without a limit passes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from conformance.catalog.load import load_catalogue
from conformance.runner.judge import Verdict, judge
from conformance.runner.session import RunOptions, execute_case
from conformance.targets.echo_server import EchoServer
from conformance.targets.tcp import ServerTarget

CASES = {c.id: c for c in load_catalogue().cases}
LIMIT = 4096


async def _echo(ws: ServerConnection) -> None:
    with contextlib.suppress(Exception):
        async for message in ws:
            await ws.send(message)


@contextlib.asynccontextmanager
async def websockets_server(max_size: int | None) -> AsyncIterator[str]:
    """The websockets library's echo server, refusing messages over `max_size` octets (1009)."""
    async with serve(_echo, "127.0.0.1", 0, max_size=max_size, compression=None, ping_interval=None) as srv:
        yield f"ws://127.0.0.1:{next(iter(srv.sockets)).getsockname()[1]}/"


@contextlib.asynccontextmanager
async def reference_server(max_message: int) -> AsyncIterator[str]:
    """The reference echo server with a memory limit: it fails the connection with 1009."""
    srv = await asyncio.start_server(EchoServer(max_message=max_message).handle, "127.0.0.1", 0)
    async with srv:
        yield f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/"


async def _verdict(case_id: str, server: Any) -> Verdict:
    async with server as url:
        trace = await execute_case(CASES[case_id], ServerTarget.from_url(url), RunOptions(wait=5.0))
    return judge(CASES[case_id], trace)


@pytest.mark.parametrize("case_id", ["9.1.1", "9.3.1", "10.1.1"])
def test_websockets_refusing_by_its_size_limit_is_informational(case_id: str) -> None:
    v = asyncio.run(_verdict(case_id, websockets_server(LIMIT)))
    assert (v.behavior, v.behavior_close) == ("INFORMATIONAL", "OK"), (v.result, v.result_close)
    assert v.rule is not None and v.rule.id == "message.size-limit" and v.level == "MAY"
    assert "1009" in v.result and "§10.4" in v.result


def test_reference_server_with_a_memory_limit_is_informational() -> None:
    v = asyncio.run(_verdict("9.2.1", reference_server(LIMIT)))
    assert (v.behavior, v.behavior_close) == ("INFORMATIONAL", "OK"), (v.result, v.result_close)


def test_the_same_server_without_a_limit_echoes() -> None:
    v = asyncio.run(_verdict("9.1.1", websockets_server(None)))
    assert (v.behavior, v.behavior_close) == ("OK", "OK"), (v.result, v.result_close)


def test_a_case_without_the_field_still_fails() -> None:
    assert not CASES["1.1.7"].size_limited  # 64 KiB, judged on the framing, not a volume case
    v = asyncio.run(_verdict("1.1.7", websockets_server(LIMIT)))
    assert v.behavior == "FAILED", v.result


# -- where a case's time goes: Trace.waited by phase, and the part that ended on a timer ----------

async def _trace(case_id: str, opts: RunOptions) -> Any:
    async with reference_server(64 * 1024 * 1024) as url:
        return await execute_case(CASES[case_id], ServerTarget.from_url(url), opts)


def test_waits_on_a_conforming_peer_all_end_on_its_events() -> None:
    t = asyncio.run(_trace("5.6", RunOptions(wait=5.0)))  # a ping inside a message: pong, echo, close
    figures = t.wait_figures()
    assert {"connect", "handshake", "close:expect", "close:reply"} <= set(figures["waited"])
    assert "waited_on_timer" not in figures, figures  # no wait ran out: each ended on what the peer did
    assert all(v >= 0 for v in figures["waited"].values())


def test_a_checkpoint_inside_a_frame_ends_on_its_timer_and_says_so() -> None:
    # 6.4.3: no ping can go inside a frame, so "still open" at checkpoint A rests on --settle
    t = asyncio.run(_trace("6.4.3", RunOptions(wait=5.0, settle=0.3)))
    timer = t.wait_figures()["waited_on_timer"]
    assert set(timer) == {"step:checkpoint"} and timer["step:checkpoint"] >= 0.3


def test_a_pause_of_the_case_counts_as_a_timer() -> None:
    t = asyncio.run(_trace("5.19", RunOptions(wait=5.0)))  # `wait: 0.2` between the fragments
    assert t.wait_figures()["waited_on_timer"] == {"pause": 0.2}
