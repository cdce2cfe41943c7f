"""HTML reports from real runs: counts, links, and no way for a hostile target to inject markup."""

from __future__ import annotations

import html
import html.parser
import json
import re
from pathlib import Path

from conformance.report.junit import write_junit
from conformance.report.model import ReportDir
from conformance.runner.run import summary_table
from tests.report.conftest import HOSTILE_AGENT


class _Elements(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(path: Path) -> list[tuple[str, dict[str, str | None]]]:
    p = _Elements()
    p.feed(path.read_text(encoding="utf-8"))
    return p.tags


def test_index_lists_both_agents_and_every_case(report_dir: Path) -> None:
    text = (report_dir / "index.html").read_text()
    index = json.loads((report_dir / "index.json").read_text())
    assert sorted(index) == sorted(["reference", HOSTILE_AGENT])
    for case_id in index["reference"]:
        assert f'data-case="{case_id}"' in text
    assert text.count("reference_case_") >= 8


def test_no_injected_elements_or_handlers(report_dir: Path) -> None:
    pages = [report_dir / "index.html", *report_dir.glob("*_case_*.html")]
    assert len(pages) >= 16
    for page in pages:
        tags = elements(page)
        scripts = [t for t in tags if t[0] == "script"]
        assert len(scripts) <= 1, page  # only the page's own script (the index has one)
        assert not [t for t in tags if t[0] == "img"], page
        assert not [t for t in tags if any(k.startswith("on") for k in t[1])], page
        assert not [t for t in tags if t[1].get("id") == "pwned"], page
        assert 'http-equiv="Content-Security-Policy"' in page.read_text()


def test_hostile_strings_are_shown_escaped(report_dir: Path) -> None:
    page = next(report_dir.glob("*agent_case_1_1_2.html"))
    text = page.read_text()
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in text
    assert "X-Hostile" in text


def test_failing_case_page_explains_the_failure(report_dir: Path) -> None:
    page = (report_dir / "reference_case_2_5.html").read_text()
    assert "frame.control-too-long" not in page  # OK case: no rule shown as failed
    hostile = next(report_dir.glob("*agent_case_1_1_2.html")).read_text()
    assert "FAILED" in hostile and "Expected" in hostile and "rfc6455#section-5" in hostile


def visible_text(path: Path) -> str:
    """What a reader sees: the page without its style and script, tags removed, entities decoded."""
    text = re.sub(r"<(style|script)\b.*?</\1>", " ", path.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return html.unescape(re.sub(r"\s+", " ", text))


def summary_counts(index_html: str, agent: str) -> dict[str, int]:
    row = re.search(r"<tr data-agent-row=\"\d+\"><th>" + re.escape(html.escape(agent)) + r"</th>(.*?)</tr>",
                    index_html, re.S)
    assert row is not None, agent
    return {k: int(v) for k, v in re.findall(r'data-outcome="(\w+)">(\d+)<', row.group(1))}


def case_cell(index_html: str, case_id: str, column: int) -> str:
    row = re.search(r'<tr data-case="' + re.escape(case_id) + r'"[^>]*>(.*?)</tr>', index_html, re.S)
    assert row is not None, case_id
    return re.findall(r'<td data-outcome="\w+".*?</td>', row.group(1), re.S)[column]


class TestCounts:
    """One policy (conformance.verdicts.is_failure) behind every count; unreached cases are not run."""

    def test_the_summary_counts_what_is_failure_counts(self, mixed_dir: Path) -> None:
        text = (mixed_dir / "index.html").read_text()
        results = list(ReportDir(mixed_dir).results())
        for agent in {r.agent for r in results}:
            mine = [r for r in results if r.agent == agent]
            counts = summary_counts(text, agent)
            assert counts["fails"] == sum(r.is_failure() for r in mine), agent
            assert counts["notrun"] == sum(r.behavior == "NOT RUN" for r in mine), agent
            assert sum(counts.values()) == len(mine)
        assert summary_counts(text, "noclose")["fails"] == 3  # behaviour OK, close UNCLEAN: red

    def test_a_close_only_failure_is_drawn_red(self, mixed_dir: Path) -> None:
        text = (mixed_dir / "index.html").read_text()
        agents = sorted(json.loads((mixed_dir / "index.json").read_text()))
        cell = case_cell(text, "1.1.1", agents.index("noclose"))
        assert 'data-outcome="fails"' in cell and ">OK<" in cell and "UNCLEAN" in cell
        matrix = re.search(r'<table class="matrix" id="matrix">(.*?)</table>', text, re.S)
        assert matrix is not None
        group1 = re.search(r"<tr><th>1 [^<]*</th>(.*?)</tr>", matrix.group(1), re.S)
        assert group1 is not None
        outcomes = re.findall(r'data-outcome="(\w+)"', group1.group(1))
        assert outcomes[agents.index("noclose")] == "fails" and outcomes[agents.index("reference")] == "ok"

    def test_unreached_cases_are_not_run_in_every_writer(self, mixed_dir: Path, tmp_path: Path) -> None:
        index = json.loads((mixed_dir / "index.json").read_text())
        assert index["budget"]["2.2"]["behavior"] == "NOT RUN" == index["budget"]["2.2"]["behaviorClose"]
        assert summary_counts((mixed_dir / "index.html").read_text(), "budget")["notrun"] == 2
        out = tmp_path / "junit.xml"
        results = [r for r in ReportDir(mixed_dir).results() if r.agent == "budget"]
        write_junit(results, out, strict=True)
        xml = out.read_text()
        assert xml.count("<skipped") == 2 and xml.count("<failure") == 1
        table = summary_table(results, {})
        framing = next(ln for ln in table.splitlines() if ln.startswith("1 "))
        assert framing.split()[-3:] == ["1", "1", "1"]  # FAILED 1, NOT RUN 1, fails the run 1


class TestDetails:
    def test_no_python_reprs_in_any_page_or_the_junit(self, mixed_dir: Path, report_dir: Path,
                                                      tmp_path: Path) -> None:
        repr_like = re.compile(r"\b(True|False|None)\b|\[\s*(True|False|None|'|\")|\{'|\bb'")
        pages = [*mixed_dir.glob("*.html"), *report_dir.glob("*.html")]
        assert len(pages) > 30
        for page in pages:
            found = repr_like.search(visible_text(page))
            assert found is None, (page.name, visible_text(page)[max(0, found.start() - 80):found.end() + 80])
        junit = tmp_path / "junit.xml"
        write_junit([*ReportDir(mixed_dir).results(), *ReportDir(report_dir).results()], junit, strict=True)
        assert "<failure" in junit.read_text()
        found = repr_like.search(html.unescape(junit.read_text()))
        assert found is None, junit.read_text()[max(0, found.start() - 200):found.end() + 80]

    def test_the_observed_kind_is_said_once(self, mixed_dir: Path) -> None:
        text = visible_text(mixed_dir / "reference_case_2_2.html")
        assert "observed pong 'Hello, world!'" in text and "pong pong" not in text

    def test_expected_payload_and_close_in_words(self, mixed_dir: Path) -> None:
        text = visible_text(mixed_dir / "reference_case_2_2.html")
        assert "OK pong 'Hello, world!'" in text
        assert "expected close the suite starts the closing handshake with code 1000" in text
        assert "closedByMe" not in text and "--- expected" not in text  # equal sequences: no diff

    def test_frames_the_suite_sent_are_decoded(self, mixed_dir: Path) -> None:
        page = (mixed_dir / "reference_case_2_2.html").read_text()
        sent = [m for m in re.findall(r'<tr class="tx">(.*?)</tr>', page, re.S) if "PING" in m or "CLOSE" in m]
        assert any("PING &#39;Hello, world!&#39;" in m and "masked" in m for m in sent), sent
        assert any("CLOSE 1000" in m for m in sent), sent

    def test_a_failed_handshake_case_does_not_claim_the_ok_sequence(self, mixed_dir: Path) -> None:
        text = visible_text(mixed_dir / "anyversion_case_0_3_2.html")
        assert "FAILED" in text and "exactly the OK sequence" not in text
        assert "the verdict rests on something else" in text
        assert "only if the handshake succeeds" in text
        assert "exactly the OK sequence" in visible_text(mixed_dir / "reference_case_1_1_1.html")

    def test_measurements_have_names_people_read(self, mixed_dir: Path) -> None:
        text = visible_text(mixed_dir / "reference_case_9_1_1.html")
        assert "throughput" in text and "MB/s" in text and "messages per second" in text
        assert "mb_per_s" not in text and "messages_per_s" not in text

    def test_close_fields_in_words(self, mixed_dir: Path) -> None:
        text = visible_text(mixed_dir / "noclose_case_1_1_1.html")
        assert "clean close no" in text and "peer's close code none" in text


class TestIndex:
    def test_the_reason_shows_on_hover(self, mixed_dir: Path) -> None:
        text = (mixed_dir / "index.html").read_text()
        agents = sorted(json.loads((mixed_dir / "index.json").read_text()))
        r = next(x for x in ReportDir(mixed_dir).results() if x.agent == "anyversion" and x.id == "0.3.2")
        cell = case_cell(text, "0.3.2", agents.index("anyversion"))
        title = re.search(r'<a class="v"[^>]* title="([^"]*)"', cell)
        assert title is not None and html.unescape(title.group(1)) == f"fails: {r.result}"

    def test_matrix_durations_and_performance_charts(self, mixed_dir: Path) -> None:
        text = (mixed_dir / "index.html").read_text()
        index = json.loads((mixed_dir / "index.json").read_text())
        groups = {c.split(".")[0] for cases in index.values() for c in cases}
        matrix = re.search(r'id="matrix">(.*?)</table>', text, re.S)
        assert matrix is not None and matrix.group(1).count("<tr><th>") - 1 == len(groups)
        durations = re.search(r'<svg id="durations".*?</svg>', text, re.S)
        assert durations is not None and durations.group(0).count("<rect") == len(groups) * len(index)
        perf = re.search(r'<svg id="performance".*?</svg>', text, re.S)
        assert perf is not None
        bars = re.findall(r"<title>9\.1\.1, ([^:]+): ([\d.]+) MB/s</title>", perf.group(0))
        assert sorted(a for a, _ in bars) == sorted(a for a in index if "9.1.1" in index[a])
        assert all(float(v) > 0 for _, v in bars)
