"""Concurrent cases start heaviest first (the volume of their echo steps), so a run does not end
with one long compression case alone on one connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conformance.catalog.load import load_catalogue
from conformance.report.model import CaseResult, ReportDir
from conformance.runner.command import embedded_server
from conformance.runner.run import _echo_octets, _timer_seconds, _weight, run_cases
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
