"""The parsed catalogue kept between runs (catalog/cache.py): read back only for the same files
and code, equal to a fresh parse, and never in the way (off, unwritable, cut short)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conformance.catalog import load
from conformance.catalog.load import DEFAULT_CASES_DIR, load_catalogue


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The case files parsed from now on."""
    seen: list[Path] = []
    original = load.load_file

    def spy(path: str | Path) -> object:
        seen.append(Path(path))
        return original(path)

    monkeypatch.setattr(load, "load_file", spy)
    return seen


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("CONFORMANCE_CACHE", str(where))
    return where


def _cases_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "cases"
    shutil.copytree(DEFAULT_CASES_DIR, copy)
    return copy


def test_the_second_load_reads_back_what_the_first_parsed(cache: Path, parses: list[Path]) -> None:
    first = load_catalogue()
    assert len(parses) == len(list(DEFAULT_CASES_DIR.glob("*.yaml"))) and len(list(cache.glob("catalogue-*"))) == 1
    parses.clear()
    second = load_catalogue()
    assert parses == []
    assert second.cases == first.cases and second.titles == first.titles and len(second.cases) > 900


def test_an_edited_case_file_is_parsed_again(tmp_path: Path, cache: Path, parses: list[Path]) -> None:
    cases = _cases_copy(tmp_path)
    assert load_catalogue(cases).titles["1"] == "Framing"
    path = cases / "1_framing.yaml"
    path.write_text(path.read_text().replace("\ntitle: Framing\n", "\ntitle: Framing, edited\n", 1))
    parses.clear()
    assert load_catalogue(cases).titles["1"] == "Framing, edited" and parses
    assert len(list(cache.glob("catalogue-*"))) == 2


def test_an_entry_cut_short_costs_only_the_parse(cache: Path, parses: list[Path]) -> None:
    first = load_catalogue()
    (entry,) = cache.glob("catalogue-*")
    entry.write_bytes(entry.read_bytes()[:1000])
    parses.clear()
    assert load_catalogue().cases == first.cases and parses
    parses.clear()
    assert load_catalogue().cases == first.cases and not parses  # written again, whole


@pytest.mark.parametrize("setting", ["off", "file"])
def test_off_or_unwritable_means_parsing_every_time(setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      parses: list[Path]) -> None:
    if setting == "off":
        monkeypatch.setenv("CONFORMANCE_CACHE", "off")
    else:
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        monkeypatch.setenv("CONFORMANCE_CACHE", str(blocker / "cache"))  # below a file: cannot exist
    first = load_catalogue()
    parses.clear()
    assert load_catalogue().cases == first.cases and parses


def test_a_check_of_the_files_always_parses(cache: Path, parses: list[Path]) -> None:
    load_catalogue()
    parses.clear()
    load_catalogue(parse=True)
    assert parses


def test_only_the_newest_entries_are_kept(tmp_path: Path, cache: Path) -> None:
    cases = _cases_copy(tmp_path)
    path = cases / "1_framing.yaml"
    text = path.read_text()
    for i in range(11):
        path.write_text(text + f"\n# edit {i}\n")
        load_catalogue(cases)
    assert len(list(cache.glob("catalogue-*"))) == 8


def test_other_code_means_another_entry(cache: Path, parses: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.catalog import cache as module

    load_catalogue()
    monkeypatch.setattr(module, "_code_digest", b"the loader of another version")
    parses.clear()
    load_catalogue()
    assert parses and len(list(cache.glob("catalogue-*"))) == 2


def test_a_catalogue_that_cannot_be_pickled_is_still_returned(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.catalog import cache as module

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("cannot pickle this")

    monkeypatch.setattr(module.pickle, "dump", broken)
    assert len(load_catalogue().cases) > 900
    assert list(cache.glob("catalogue-*")) == [] and list(cache.glob(".catalogue-*")) == []  # no leftovers


def test_a_directory_others_may_write_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  parses: list[Path]) -> None:
    """An entry is code this process runs (pickle): a directory another user could write is no cache."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("CONFORMANCE_CACHE", str(shared))
    load_catalogue()
    parses.clear()
    load_catalogue()
    assert parses and list(shared.iterdir()) == []


def test_a_case_file_saved_during_the_parse_is_not_kept(tmp_path: Path, cache: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file saved between the key and its reading: the parse (of the new octets) must not be kept
    under the key of the old ones, which would answer once the file is back as it was."""
    cases = _cases_copy(tmp_path)
    path = cases / "1_framing.yaml"
    before = path.read_text()
    original = load.load_file

    def saved_first(p: str | Path) -> object:
        if Path(p) == path:
            path.write_text(before.replace("\ntitle: Framing\n", "\ntitle: Framing, saved meanwhile\n", 1))
        return original(p)

    monkeypatch.setattr(load, "load_file", saved_first)
    assert load_catalogue(cases).titles["1"] == "Framing, saved meanwhile"
    monkeypatch.setattr(load, "load_file", original)
    path.write_text(before)  # back as it was when the key was made
    assert load_catalogue(cases).titles["1"] == "Framing"


def test_a_file_name_that_is_not_utf8_is_no_crash(tmp_path: Path, cache: Path) -> None:
    cases = _cases_copy(tmp_path)
    odd = os.fsdecode(b"extra-\xe9.yaml")
    (cases / "1_framing.yaml").rename(cases / odd)
    assert len(load_catalogue(cases).cases) > 900
    assert list(cache.glob("catalogue-*"))  # kept, under a key made of the name's octets
    assert len(load_catalogue(cases).cases) > 900


def test_an_entry_in_use_is_kept_and_leftovers_go(tmp_path: Path, cache: Path) -> None:
    load_catalogue()  # the bundled catalogue's entry, written long ago
    (bundled,) = cache.glob("catalogue-*")
    os.utime(bundled, (1, 1))
    leftover = cache / ".catalogue-killed.tmp"
    leftover.write_bytes(b"cut short")
    os.utime(leftover, (1, 1))
    cases = _cases_copy(tmp_path)
    path = cases / "1_framing.yaml"
    text = path.read_text()
    for i in range(8):  # eight other states of the files; the bundled one is used before the last
        if i == 7:
            load_catalogue()
        path.write_text(text + f"\n# edit {i}\n")
        load_catalogue(cases)
    assert len(list(cache.glob("catalogue-*"))) == 8
    assert bundled.exists() and not leftover.exists()  # the first edit's entry went instead
