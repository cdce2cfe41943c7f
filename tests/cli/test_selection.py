"""Selecting cases by ID, RFC section, rule and level, on every command that runs or lists them
(issue 15 item 10 and the selection by requirement)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import one_line_error, run_main


def listed(*argv: str) -> list[dict[str, object]]:
    r = run_main("cases", "list", "--json", *argv)
    assert r.code == 0, r.err
    return list(json.loads(r.out))


class TestCasesList:
    def test_shows_sections_and_level(self) -> None:
        r = run_main("cases", "list", "7.1.5")
        assert r.code == 0
        assert "MUST" in r.out and "6455 §5.4" in r.out and "6455 §5.5.1" in r.out

    def test_json_has_rfc_level_and_rule(self) -> None:
        (case,) = listed("2.5")
        assert case["id"] == "2.5" and case["level"] == "MUST" and case["rfc"]
        assert set(case) >= {"id", "title", "rfc", "level", "role", "rule"}


class TestByRequirement:
    def test_rfc_section_prefix_on_section_boundaries(self) -> None:
        got = listed("--rfc", "6455 §5.5")
        sections = [s for c in got for s in c["rfc"]]  # type: ignore[attr-defined]
        assert got and all(any(s == "RFC 6455 §5.5" or s.startswith("RFC 6455 §5.5.") for s in c["rfc"])  # type: ignore[attr-defined]
                           for c in got)
        assert "RFC 6455 §5.5.1" in sections
        narrow = listed("--rfc", "RFC 6455 §5.5.1")
        assert 0 < len(narrow) < len(got)

    def test_rule_glob(self) -> None:
        got = listed("--rule", "close.*")
        assert got and all(str(c["rule"]).startswith("close.") for c in got)

    def test_level(self) -> None:
        got = listed("--level", "informational")
        assert got and {c["level"] for c in got} == {"informational"}
        assert len(listed("--level", "MUST")) > len(got)

    def test_criteria_combine(self) -> None:
        both = listed("--rfc", "6455 §7", "--level", "MUST", "--cases", "7.*")
        assert both and all(str(c["id"]).startswith("7.") and c["level"] == "MUST" for c in both)


class TestNothingMatched:
    def test_a_glob_that_matches_nothing_is_named(self) -> None:
        r = run_main("cases", "list", "--cases", "1.1.*", "--cases", "99.*")
        assert r.code == 2 and "'99.*' matches no case" in one_line_error(r)

    def test_exclude_removing_everything_is_named_as_exclude(self) -> None:
        r = run_main("run", "--cases", "1.1.*", "--exclude", "1.*")
        line = one_line_error(r)
        assert r.code == 2 and "--exclude" in line and "removes all 8" in line

    def test_bad_rfc_and_level_and_rule(self) -> None:
        assert "--rfc" in one_line_error(run_main("cases", "list", "--rfc", "section five"))
        assert "--level" in one_line_error(run_main("cases", "list", "--level", "MUSTN'T"))
        assert "--rule 'nosuch.*'" in one_line_error(run_main("cases", "list", "--rule", "nosuch.*"))
        assert "--rfc '6455 §99'" in one_line_error(run_main("cases", "list", "--rfc", "6455 §99"))

    def test_server_run_of_client_only_cases(self) -> None:
        r = run_main("run", "--cases", "20.*")
        assert r.code == 2 and "other side" in one_line_error(r)


CASE = """group: "99"
title: Mine
cases:
  - id: {id}
    title: one text message
    rfc: {rfc}
    steps:
      - send_message: {{opcode: text, payload: hello}}
    expect:
      ok: [{{text: hello}}]
    close: {{by: us, codes: [1000]}}
"""


def write_case(tmp_path: Path, id_: str = '"99.10"', rfc: str = '["RFC 6455 §5.6"]') -> Path:
    d = tmp_path / "mine"
    d.mkdir(exist_ok=True)
    (d / "99_mine.yaml").write_text(CASE.format(id=id_, rfc=rfc), encoding="utf-8")
    return d


class TestCasesDir:
    def test_adds_to_the_bundled_catalogue(self, tmp_path: Path) -> None:
        d = write_case(tmp_path)
        ids = {c["id"] for c in listed("--cases-dir", str(d), "--cases", "*")}
        assert "99.10" in ids and "1.1.1" in ids
        alone = {c["id"] for c in listed("--cases-dir", str(d))}  # no other selection: just those cases
        assert alone == {"99.10"}

    def test_empty_directory_is_one_clear_line(self, tmp_path: Path) -> None:
        (tmp_path / "empty").mkdir()
        r = run_main("cases", "list", "--cases-dir", str(tmp_path / "empty"))
        line = one_line_error(r)
        assert r.code == 2 and "no case files" in line and "[" not in line

    def test_unquoted_numeric_id_gets_a_hint(self, tmp_path: Path) -> None:
        d = write_case(tmp_path, id_="99.10")
        r = run_main("cases", "check", "--cases-dir", str(d))
        line = one_line_error(r)
        assert r.code == 2 and "99_mine.yaml:4" in line and "quote it" in line

    def test_rfc_must_name_a_section(self, tmp_path: Path) -> None:
        d = write_case(tmp_path, rfc='["section five"]')
        r = run_main("cases", "check", "--cases-dir", str(d))
        line = one_line_error(r)
        assert r.code == 2 and "rfc" in line and "'section five'" in line and "99_mine.yaml" in line

    def test_a_case_with_a_bundled_id_replaces_it_and_says_so(self, tmp_path: Path) -> None:
        d = tmp_path / "dup"
        d.mkdir()
        (d / "1_dup.yaml").write_text(CASE.replace('"99"', '"1"').format(id='"1.1.1"', rfc='["RFC 6455 §5.6"]'),
                                      encoding="utf-8")
        r = run_main("cases", "list", "--json", "--cases-dir", str(d), "--cases", "1.1.*")
        assert r.code == 0 and "replaces 1 bundled cases with its own: 1.1.1" in r.err
        got = {c["id"]: c["title"] for c in json.loads(r.out)}
        assert got["1.1.1"] == "one text message" and len(got) == 8

    def test_a_duplicate_within_the_added_directory_names_both_places(self, tmp_path: Path) -> None:
        d = write_case(tmp_path)
        (d / "99_again.yaml").write_text(CASE.format(id='"99.10"', rfc='["RFC 6455 §5.6"]'), encoding="utf-8")
        line = one_line_error(run_main("cases", "check", "--cases-dir", str(d)))
        assert "already defined" in line and "99_again.yaml" in line and "99_mine.yaml" in line
