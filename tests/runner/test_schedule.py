"""Concurrent cases start heaviest first (the volume of their echo steps), so a run does not end
with one long compression case alone on one connection; the light ones (no echo step) go beside
them on one of the slots, timer-prone first, so their waits do not add a tail after the volume;
the exclusive (performance) cases run alone at the end, except against the embedded reference."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path

from conformance.catalog.load import load_catalogue
from conformance.report.model import CaseResult, ReportDir
from conformance.runner.command import embedded_server
from conformance.runner.run import _echo_octets, _timer_seconds, _weight, run_cases, schedule
from conformance.runner.session import RunOptions
from conformance.targets.tcp import ServerTarget


def test_echo_volume_is_the_weight() -> None:
    cases = load_catalogue().by_id()
    assert _echo_octets(cases["12.1.10"]) == 1000 * 131072
    assert _echo_octets(cases["1.1.1"]) == 0


def test_with_one_slot_the_heaviest_case_runs_first(tmp_path: Path) -> None:
    cases = load_catalogue().by_id()
    picked = [cases["1.1.1"], cases["2.1"], cases["12.1.1"], cases["12.1.3"]]
    order: list[str] = []

    def seen(r: CaseResult) -> None:
        order.append(r.id)

    with embedded_server() as url:
        summary = asyncio.run(run_cases(picked, ServerTarget.from_url(url), RunOptions(max_echo=20),
                                        ReportDir(tmp_path), jobs=1, quiet=True, on_result=seen))
    assert not summary.failed()
    assert order == ["12.1.3", "12.1.1", "1.1.1", "2.1"]


def test_cases_that_may_wait_on_a_timer_start_before_the_quick_ones() -> None:
    # 6.4.3 waits up to the settle time at a checkpoint inside a frame, 5.19 pauses 0.2 s: started
    # first, their waits overlap the quick cases instead of ending the run alone
    cases = load_catalogue().by_id()
    picked = [cases[i] for i in ("1.1.1", "5.19", "2.1", "6.4.3", "12.1.1")]
    order = [c.id for c in sorted(picked, key=_weight, reverse=True)]
    assert order == ["12.1.1", "6.4.3", "5.19", "1.1.1", "2.1"]
    assert _timer_seconds(cases["6.4.3"]) == 2.0 and _timer_seconds(cases["5.19"]) == 0.2


def test_a_case_either_side_may_close_counts_the_reaction_wait() -> None:
    # 16.2.5: a peer that keeps the connection open is waited for up to --wait (2 s) at the end
    cases = load_catalogue().by_id()
    assert cases["16.2.5"].close.by == "either" and _timer_seconds(cases["16.2.5"]) == 2.0
    assert _timer_seconds(cases["14.5.1"]) == 2.3


def test_light_cases_have_their_own_queue_and_exclusive_ones_wait_unless_told() -> None:
    cases = load_catalogue().by_id()
    picked = [cases[i] for i in ("1.1.1", "9.1.1", "12.1.1", "6.4.3", "9.7.1", "12.1.3")]
    heavy, light, alone = schedule(picked)
    assert [c.id for c in heavy] == ["12.1.3", "12.1.1"]
    assert [c.id for c in light] == ["6.4.3", "1.1.1"]
    assert [c.id for c in alone] == ["9.1.1", "9.7.1"]
    heavy, light, alone = schedule(picked, exclusive_alone=False)
    assert [c.id for c in heavy] == ["12.1.3", "9.1.1", "12.1.1", "9.7.1"] and not alone
    assert [c.id for c in light] == ["6.4.3", "1.1.1"]


def _span(r: CaseResult) -> tuple[datetime.datetime, datetime.datetime]:
    start = datetime.datetime.fromisoformat(r.started)
    return start, start + datetime.timedelta(milliseconds=r.duration)


def test_a_light_case_runs_beside_the_heavy_ones(tmp_path: Path) -> None:
    # two slots and two heavy cases: the light one does not wait for a heavy one to end
    cases = load_catalogue().by_id()
    picked = [cases["12.1.1"], cases["12.1.3"], cases["1.1.1"]]
    with embedded_server() as url:
        summary = asyncio.run(run_cases(picked, ServerTarget.from_url(url), RunOptions(max_echo=50),
                                        ReportDir(tmp_path), jobs=2, quiet=True))
    assert not summary.failed()
    spans = {r.id: _span(r) for r in summary.results}
    light_start = spans["1.1.1"][0]
    assert all(light_start < spans[h][1] for h in ("12.1.1", "12.1.3")), spans
