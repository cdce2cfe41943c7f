"""What the resource steps put on the wire, and that the suite never builds it whole in memory."""

from __future__ import annotations

import tracemalloc
import zlib
from typing import Any

from conformance.catalog.resources import Request
from conformance.runner.resources import bomb_payload, request_chunks
from conformance.wire.http import parse_request
from conformance.wire.uri import parse_uri

URI = parse_uri("ws://127.0.0.1:9/chat")


def _inflate(payload: bytes) -> int:
    d = zlib.decompressobj(-15)
    size = 0
    data = payload + b"\x00\x00\xff\xff"  # RFC 7692 §7.2.2: the receiver appends the tail
    for i in range(0, len(data), 4096):
        size += len(d.decompress(data[i : i + 4096]))
    return size


class TestBomb:
    def test_it_inflates_to_exactly_the_size_asked(self) -> None:
        for size in (1, 1000, (1 << 20) + 7, 3 << 20):
            assert _inflate(bomb_payload(size)) == size

    def test_it_is_a_thousandth_of_that_on_the_wire(self) -> None:
        assert len(bomb_payload(64 << 20)) < (64 << 20) // 900

    def test_a_gigabyte_bomb_costs_the_suite_a_few_megabytes(self) -> None:
        tracemalloc.start()
        try:
            bomb_payload(1 << 30)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 8 << 20


class TestRequest:
    def test_the_headers_are_all_there_and_the_request_parses(self) -> None:
        data = b"".join(request_chunks(URI, Request(headers=50, size=3, value="xy")))
        parsed = parse_request(data)
        assert parsed is not None and parsed[1] == len(data)
        req = parsed[0]
        assert req.headers["X-Filler-50"] == "xyx" and req.headers["Upgrade"].lower() == "websocket"
        assert req.path == "/chat"

    def test_a_long_target_and_one_long_header(self) -> None:
        data = b"".join(request_chunks(URI, Request(headers=1, size=5000, numbered=False, path_size=3000)))
        line = data.split(b"\r\n", 1)[0]
        assert len(line.split(b" ")[1]) == 3000
        assert b"\r\nX-Filler: " + b"a" * 5000 + b"\r\n" in data

    def test_pieces_are_no_larger_than_the_chunk(self) -> None:
        pieces = list(request_chunks(URI, Request(headers=100, chunk=7)))
        assert all(len(p) == 7 for p in pieces[:-1]) and 0 < len(pieces[-1]) <= 7

    def test_an_incomplete_request_has_no_blank_line(self) -> None:
        data = b"".join(request_chunks(URI, Request(headers=2, pace=0.1, complete=False)))
        assert b"\r\n\r\n" not in data and data.endswith(b"\r\n")

    def test_a_64_mib_header_is_generated_lazily(self) -> None:
        tracemalloc.start()
        try:
            total = sum(len(p) for p in request_chunks(URI, Request(headers=1, size=64 << 20, numbered=False)))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert total > 64 << 20
        assert peak < 1 << 20


class TestSelection:
    @staticmethod
    def _ids(*argv: str) -> set[str]:
        import argparse

        from conformance.commands import selected_cases
        from conformance.runner.command import _resource_selection, add_run_commands

        parser = argparse.ArgumentParser()
        add_run_commands(parser.add_subparsers())
        args = parser.parse_args(["run", *argv])
        cat, cases = selected_cases(args, "server")
        return {c.id for c in _resource_selection(args, cat, cases)}

    def test_the_default_run_leaves_the_group_out(self) -> None:
        # its verdicts rest on deadlines: opt in with --robustness or by naming the cases
        ids = self._ids()
        assert "1.1.1" in ids and not any(i.startswith("30.") for i in ids)
        assert "30.2.1" in self._ids("--cases", "30.2.*")

    def test_robustness_runs_the_whole_group(self) -> None:
        ids = self._ids("--robustness")
        assert {"30.2.1", "30.2.5", "30.7.13"} <= ids and "1.1.1" not in ids

    def test_naming_a_heavy_case_runs_it(self) -> None:
        assert self._ids("--cases", "30.7.13") == {"30.7.13"}


class TestUnreadFlood:
    """A peer that never reads (30.8): the suite stops reading, so what the server sends waits in
    the kernel's buffers, never in the suite's memory."""

    @staticmethod
    def _run(case_id: str, argv: list[str]) -> tuple[Any, int]:
        import asyncio

        from conformance.catalog.load import load_catalogue
        from conformance.runner.trace import RunOptions
        from conformance.runner.watched import execute_watched
        from conformance.targets.tcp import ServerTarget
        from testees.peers.spawn import spawn_server

        case = load_catalogue().by_id()[case_id]
        with spawn_server(argv) as (url, _proc):
            tracemalloc.start()
            try:
                trace = asyncio.run(execute_watched(case, ServerTarget.from_url(url), RunOptions()))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        return trace, peak

    def test_the_suite_stays_flat_while_the_server_answers_64_mib(self) -> None:
        # the mutant reads all 64 MiB and writes every echo back; none of it reaches the suite
        trace, peak = self._run("30.8.1", ["-m", "testees.mutants.resources", "buffers-its-output"])
        (fact,) = trace.measurements["attack"]
        assert (fact["read"], fact["reaction"]) == (False, "read") and fact["octets"] > 64 << 20
        assert trace.observations == [] and not trace.flooded
        assert fact["probe_during"]["ok"] and trace.measurements["alive"]["ok"]
        assert peak < 4 << 20

    def test_a_server_that_applies_back_pressure_stalls_the_writes(self) -> None:
        trace, _ = self._run("30.8.1", ["-m", "conformance", "echo-server", "--port", "0"])
        (fact,) = trace.measurements["attack"]
        assert fact["reaction"] == "stalled" and fact["octets"] < 48 << 20
        assert fact["probe_during"]["ok"]
