"""Concurrent cases start heaviest first (the volume of their echo steps), so a run does not end
with one long compression case alone on one connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conformance.catalog.load import load_catalogue
from conformance.report.model import CaseResult, ReportDir
from conformance.runner.command import embedded_server
from conformance.runner.run import _echo_octets, run_cases
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
