"""The server's own limit, probed, and compressed messages at it (runner/exact_limit.py, cases 30.9),
against the reference echo server in its own process with a limit that is no power of two."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.runner.exact_limit import attempt, find_limit
from conformance.runner.resources import bomb_payload
from conformance.targets.tcp import ServerTarget
from testees.peers.spawn import spawn_server

LIMIT = 300_007


@pytest.fixture(scope="module")
def target() -> Iterator[ServerTarget]:
    argv = ["-m", "conformance", "echo-server", "--deflate", "--port", "0", "--max-message", str(LIMIT)]
    with spawn_server(argv) as (url, _proc):
        yield ServerTarget.from_url(url)


class TestAttempt:
    def test_a_message_within_the_limit_is_accepted_one_over_refused(self, target: ServerTarget) -> None:
        assert asyncio.run(attempt(target, LIMIT, 10))[0] == "accepted"
        assert asyncio.run(attempt(target, LIMIT + 1, 10))[0] == "refused 1009"

    def test_compressed_messages_are_judged_on_what_they_inflate_to(self, target: ServerTarget) -> None:
        for size, want in ((LIMIT, "accepted"), (LIMIT + 1, "refused 1009"), (LIMIT + 2, "refused 1009")):
            reaction, sent = asyncio.run(attempt(target, size, 10, bomb_payload(size)))
            assert reaction == want and sent < size // 50


class TestFindLimit:
    def test_it_finds_the_exact_limit_within_its_connection_bound(self, target: ServerTarget) -> None:
        probe = asyncio.run(find_limit(target, 1 << 24, 10))
        assert probe.limit == LIMIT, probe
        assert len(probe.attempts) <= 64 and (LIMIT + 1, "refused 1009") in probe.attempts

    def test_no_limit_below_the_upper_bound_is_said_so(self, target: ServerTarget) -> None:
        probe = asyncio.run(find_limit(target, 200_000, 10))
        assert probe.limit is None and probe.detail.startswith("every size up to 200000")

    def test_the_suite_holds_one_write_of_a_message_it_sends(self) -> None:
        # the masked zeros are generated per 64 KiB write: sending 16 MiB costs the suite under 1 MiB
        with spawn_server(["-m", "conformance", "echo-server", "--port", "0"]) as (url, _proc):
            tracemalloc.start()
            try:
                reaction, sent = asyncio.run(attempt(ServerTarget.from_url(url), 16 << 20, 10))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert reaction == "accepted" and sent > 16 << 20 and peak < 1 << 20


class TestStated:
    @staticmethod
    def _run(url: str, stated: int, out: Path) -> dict[str, Any]:
        code = main(["run", "--quiet", "--server", url, "--cases", "30.9.2", "--server-max-message", str(stated),
                     "--out", str(out)])
        index = json.loads((out / "index.json").read_text())
        (agent,) = index
        result: dict[str, Any] = json.loads((out / index[agent]["30.9.2"]["reportfile"]).read_text())
        assert code == 0
        return result

    def test_a_stated_limit_is_used_instead_of_the_probe(self, target: ServerTarget, tmp_path: Path) -> None:
        r = self._run(target.url, LIMIT, tmp_path / "right")
        fact = r["measurements"]["attack"][0]
        assert r["behavior"] == "OK" and fact["stated"] and fact["probe_attempts"] == 0
        # one octet too low: the server then accepts "limit + 1", and the case says so
        r = self._run(target.url, LIMIT - 1, tmp_path / "low")
        assert r["behavior"] == "INFORMATIONAL" and f"({LIMIT - 1})" in r["result"]
