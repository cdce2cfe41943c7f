"""The resource steps and limits: parsed from case files, refused when wrong, dumped back unchanged."""

from __future__ import annotations

import pytest

from conformance.catalog.dump import dump_case, dump_limits, dump_resource_step
from conformance.catalog.load import load_catalogue
from conformance.catalog.model import STEP_TYPES
from conformance.catalog.resources import (
    RESOURCE_PARSERS,
    Bomb,
    ExactLimit,
    Flood,
    Limits,
    Request,
    parse_limits,
)
from conformance.wire.frames import Opcode


class TestParse:
    def test_flood_reads_opcode_payload_and_pace(self) -> None:
        step = RESOURCE_PARSERS["flood"]({"opcode": "continuation", "count": 10, "fin": False,
                                          "payload": {"hex": "00"}, "pace": 0.5}, 7)
        assert step == Flood(Opcode.CONT, 10, step.payload, False, 0.5)
        assert step.payload.materialize() == b"\x00" and step.line == 7
        assert step.read  # the suite reads unless told not to

    def test_flood_that_never_reads(self) -> None:
        step = RESOURCE_PARSERS["flood"]({"opcode": "text", "count": 10, "read": False}, 1)
        assert step.read is False

    @pytest.mark.parametrize("value, why", [
        ({"opcode": "ping"}, "count"),
        ({"opcode": "ping", "count": 0}, "count"),
        ({"opcode": "ping", "count": 5, "pace": -1}, "pace"),
        ({"opcode": "ping", "count": 5, "speed": 1}, "unknown key"),
        ({"opcode": "ping", "count": 5, "fin": "yes"}, "true or false"),
        ({"opcode": "ping", "count": 5, "read": "no"}, "true or false"),
        ({"opcode": "ping", "count": 5, "read": False, "pace": 0.1}, "never reads"),
    ])
    def test_flood_refuses_bad_values(self, value: dict[str, object], why: str) -> None:
        with pytest.raises(ValueError, match=why):
            RESOURCE_PARSERS["flood"](value, 1)

    @pytest.mark.parametrize("value, why", [
        ({"offset": "one"}, "offset"),
        ({"offset": 5000}, "offset"),
        ({"offset": 1, "upper": 100}, "upper"),
        ({"offset": 1, "limit": 5}, "unknown key"),
    ])
    def test_exact_limit_refuses_bad_values(self, value: dict[str, object], why: str) -> None:
        with pytest.raises(ValueError, match=why):
            RESOURCE_PARSERS["exact_limit"](value, 1)

    def test_request_needs_a_pace_when_it_never_ends(self) -> None:
        with pytest.raises(ValueError, match="pace"):
            Request(complete=False)
        with pytest.raises(ValueError, match="token"):
            Request(name="X Filler")

    def test_limits_bound_grows_with_the_octets_sent(self) -> None:
        limits = parse_limits({"rss_slack": 1000, "rss_per_octet": 2})
        assert limits.rss_bound(10) == 1020
        with pytest.raises(ValueError, match="answer"):
            parse_limits({"answer": "maybe"})


class TestDump:
    def test_every_resource_step_round_trips(self) -> None:
        steps = [Flood(Opcode.PING, 3), Flood(Opcode.TEXT, 9, read=False, within=2), Bomb(1 << 20, Opcode.TEXT, 512), Request(headers=4, size=9, pace=0.1,
                                                                                  complete=False),
                 ExactLimit(0), ExactLimit(2, upper=1 << 20, within=5)]
        for step in steps:
            ((key, value),) = dump_resource_step(step).items()
            assert RESOURCE_PARSERS[key](value, step.line) == step

    def test_limits_round_trip(self) -> None:
        limits = Limits(answer="refuse", heavy=True, cpu_seconds=3.5)
        assert parse_limits(dump_limits(limits)) == limits

    def test_the_group_round_trips_through_the_dumper(self) -> None:
        cases = [c for c in load_catalogue().cases if c.group == "30"]
        assert len(cases) >= 40
        assert all(dump_case(c)["resources"] == dump_limits(c.resources) for c in cases if c.resources)

    def test_the_steps_are_registered(self) -> None:
        assert {Flood, Bomb, Request, ExactLimit} <= set(STEP_TYPES)


class TestGroup:
    def test_every_case_is_a_server_resource_case(self) -> None:
        cases = [c for c in load_catalogue().cases if c.group == "30"]
        assert all(c.resources is not None and c.role == "server" for c in cases)

    def test_heavy_variants_exist_and_the_light_ones_cover_every_class(self) -> None:
        cases = [c for c in load_catalogue().cases if c.group == "30"]
        light = {c.subgroup for c in cases if c.resources and not c.resources.heavy}
        assert light == {f"30.{n}" for n in range(1, 9)}
        assert any(c.resources and c.resources.heavy for c in cases)
