"""make bench-suite: octets and floor per group from the catalogue, and one group measured for real."""

from __future__ import annotations

from pathlib import Path

from conformance.bench import suite

SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072,
         8192, 16384, 32768, 65536, 131072, 131072, 131072, 131072]


def test_group_12_moves_autobahns_volume() -> None:
    work = suite.group_octets("12", suite.floor_rates())
    assert work.cases == 90
    assert work.octets == 5 * 1000 * sum(SIZES)
    assert work.suite_floor > 0 and work.server_floor > 0
    assert work.floor == max(work.suite_floor, work.server_floor)


class TestWhatMustBeDeflated:
    """The floor counts a message deflated only where it does not follow the same window as an
    earlier copy of it (wire/deflate.py, "Sending again")."""

    def test_slices_going_round_the_corpus_are_deflated_once_a_round(self) -> None:
        from conformance.catalog.payload import PayloadSpec

        big = PayloadSpec("corpus", size=131072, corpus="json", rolling=True)
        # 8 slices a round; with a window, the first slice of round two follows other octets
        assert suite.new_octets(big, 1000, 1 << 15) == 9 * 131072
        assert suite.new_octets(big, 1000, 0) == 8 * 131072  # without context takeover
        small = PayloadSpec("corpus", size=1024, corpus="json", rolling=True)
        assert suite.new_octets(small, 1000, 1 << 15) == 1000 * 1024  # less than one round
        same = PayloadSpec("repeat", b"ab", 4096)
        assert suite.new_octets(same, 100, 1 << 15) == (1 + 8) * 4096  # after none, 1, ..., 8 copies (the window full)

    def test_the_server_deflates_far_less_than_it_echoes_in_12_and_13(self) -> None:
        for group in ("12", "13"):
            work = suite.group_octets(group)
            assert work.server_new < work.octets / 4
            assert work.suite_new < work.octets / 4  # the suite offers client_no_context_takeover


def test_a_group_is_measured_against_the_reference_server(tmp_path: Path) -> None:
    with suite._server(None, None) as (url, proc):
        assert proc is not None
        row = suite._run_group("1", url, proc, str(tmp_path / "g1"), 2, {})
    assert row.work.cases == 16
    assert row.verdicts == {"OK": 16}
    assert row.wall > 0 and row.suite_cpu > 0 and row.peak_rss_mib > 10
