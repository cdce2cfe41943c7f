"""The report directory contract: Autobahn-shaped index.json, one JSON per case, written as cases end."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from conformance.report.model import CaseResult, ReportDir, case_file_stem, safe_agent


def test_file_names_follow_autobahn() -> None:
    assert safe_agent("My Server/1.0") == "my_server_1_0"
    assert case_file_stem("AutobahnPython", "6.4.1") == "autobahnpython_case_6_4_1"


def test_index_and_case_files(tmp_path: Path) -> None:
    rd = ReportDir(tmp_path)
    r = CaseResult(agent="srv", id="2.5", behavior="FAILED", behaviorClose="WRONG CODE", duration=12,
                   remoteCloseCode=1000, rule="frame.control-too-long", section="RFC 6455 §5.5")
    rd.write_case(r)
    index = json.loads((tmp_path / "index.json").read_text())
    assert index == {"srv": {"2.5": {"behavior": "FAILED", "behaviorClose": "WRONG CODE", "duration": 12,
                                      "remoteCloseCode": 1000, "reportfile": "srv_case_2_5.json"}}}
    data = json.loads((tmp_path / "srv_case_2_5.json").read_text())
    assert data["rule"] == "frame.control-too-long" and data["reportfile"] == "srv_case_2_5.json"
    assert [x.id for x in ReportDir(tmp_path).results()] == ["2.5"]
    assert ReportDir(tmp_path).finished_ids("srv") == {"2.5"}


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    rd = ReportDir(tmp_path)

    def write(k: int) -> None:
        for i in range(25):
            rd.write_case(CaseResult(agent=f"a{k}", id=f"1.{i}", behavior="OK", behaviorClose="OK"))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    index = json.loads((tmp_path / "index.json").read_text())
    assert sorted(index) == ["a0", "a1", "a2", "a3"] and all(len(v) == 25 for v in index.values())
    assert not list(tmp_path.glob(".*.tmp"))
