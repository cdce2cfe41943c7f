"""HTML reports from real runs: counts, links, and no way for a hostile target to inject markup."""

from __future__ import annotations

import html.parser
import json
from pathlib import Path

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
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in text
    assert "X-Hostile" in text


def test_failing_case_page_explains_the_failure(report_dir: Path) -> None:
    page = (report_dir / "reference_case_2_5.html").read_text()
    assert "frame.control-too-long" not in page  # OK case: no rule shown as failed
    hostile = next(report_dir.glob("*agent_case_1_1_2.html")).read_text()
    assert "FAILED" in hostile and "Expected" in hostile and "rfc6455#section-5" in hostile
