"""make bench-suite: octets and floor per group from the catalogue, and one group measured for real."""

from __future__ import annotations

from pathlib import Path

from conformance.bench import suite


def test_group_12_moves_autobahns_volume() -> None:
    cases, octets, floor = suite.group_octets("12", suite.floor_rates())
    sizes = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072,
             8192, 16384, 32768, 65536, 131072, 131072, 131072, 131072]
    assert cases == 90
    assert octets == 5 * 1000 * sum(sizes)
    assert floor > 0


def test_a_group_is_measured_against_the_reference_server(tmp_path: Path) -> None:
    with suite._server(None, None) as (url, proc):
        assert proc is not None
        row = suite._run_group("1", url, proc, str(tmp_path / "g1"), 2, {})
    assert row.cases == 16
    assert row.verdicts == {"OK": 16}
    assert row.wall > 0 and row.suite_cpu > 0 and row.peak_rss_mib > 10
