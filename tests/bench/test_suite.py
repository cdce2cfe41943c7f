"""make bench-suite: octets and floor per group from the catalogue, one group measured for real, and
the timeline of a finished run."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from conformance.bench import suite
from conformance.bench.suite import main, timeline

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


class TestTimeline:
    """--timeline: where a finished run's wall time went, read from its per-case reports."""

    @staticmethod
    def _case(out: Path, cid: str, start: float, seconds: float) -> None:
        started = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=start)
        (out / f"x_case_{cid.replace('.', '_')}.json").write_text(json.dumps(
            {"id": cid, "started": started.isoformat(timespec="milliseconds"), "duration": round(seconds * 1000)}))

    def test_cases_open_at_once_gaps_groups_and_the_tail(self, tmp_path: Path) -> None:
        # two volume cases side by side for 10 s, a gap of 1 s, then one case alone for 3 s
        self._case(tmp_path, "12.1.1", 0, 10)
        self._case(tmp_path, "13.1.1", 0, 8)
        self._case(tmp_path, "9.1.1", 11, 3)
        tl = timeline(str(tmp_path))
        assert tl.span == 14
        assert tl.at_once == {0: 1.0, 1: 5.0, 2: 8.0}
        assert tl.tail == 6.0  # after 8 s the run never had two cases open again
        assert tl.groups["9"] == (11.0, 14.0, 3.0, 1) and tl.groups["12"][2] == 10.0

    def test_a_directory_without_reports_is_one_line_and_exit_2(self, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["--timeline", str(tmp_path)]) == 2
        assert "no per-case reports" in capsys.readouterr().err
