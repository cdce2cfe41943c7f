"""The report's templates are compiled once and read back by later runs (jinja2's bytecode cache
in the catalogue's cache directory); without a usable directory the pages render all the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest

from conformance.report import html


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The templates jinja2 compiles from source from now on (a fresh environment each time)."""
    seen: list[str] = []
    original = jinja2.Environment.compile

    def spy(self: jinja2.Environment, source: object, name: str | None = None, *a: object, **kw: object) -> object:
        seen.append(str(name))
        return original(self, source, name, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.Environment, "compile", spy)
    html._env.cache_clear()
    yield seen
    html._env.cache_clear()


def _render() -> str:
    return html._render("base.html.j2", "a title")


def test_a_later_run_reads_the_compiled_templates_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       compiles: list[str]) -> None:
    monkeypatch.setenv("CONFORMANCE_CACHE", str(tmp_path / "cache"))
    first = _render()
    (templates,) = (tmp_path / "cache").glob("templates-*")  # named by jinja2's version and options
    assert compiles and list(templates.iterdir())
    compiles.clear()
    html._env.cache_clear()  # as a new process would start
    assert _render() == first and compiles == []


@pytest.mark.parametrize("setting", ["off", "below-a-file", "read-only"])
def test_pages_render_without_a_usable_cache(setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             compiles: list[str]) -> None:
    where = tmp_path / "cache"
    if setting == "off":
        monkeypatch.setenv("CONFORMANCE_CACHE", "off")
    elif setting == "below-a-file":
        (tmp_path / "file").write_text("")
        monkeypatch.setenv("CONFORMANCE_CACHE", str(tmp_path / "file" / "cache"))
    else:
        monkeypatch.setenv("CONFORMANCE_CACHE", str(where))
        monkeypatch.setattr(html.os, "access", lambda path, mode: False)  # as for a user other than root
    assert "a title" in _render() and compiles


def test_an_entry_cut_short_or_a_full_disk_costs_only_a_compile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                compiles: list[str]) -> None:
    monkeypatch.setenv("CONFORMANCE_CACHE", str(tmp_path / "cache"))
    first = _render()
    for entry in next((tmp_path / "cache").glob("templates-*")).iterdir():
        entry.write_bytes(entry.read_bytes()[:40])  # past jinja2's magic, into the checksum
    html._env.cache_clear()
    compiles.clear()

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "dump_bytecode", full)
    assert _render() == first and compiles


def test_other_options_or_another_jinja2_compile_anew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      compiles: list[str]) -> None:
    monkeypatch.setenv("CONFORMANCE_CACHE", str(tmp_path / "cache"))
    _render()
    html._env.cache_clear()
    compiles.clear()
    monkeypatch.setitem(html._ENV_OPTIONS, "trim_blocks", False)
    _render()
    assert compiles and len(list((tmp_path / "cache").glob("templates-*"))) == 2
