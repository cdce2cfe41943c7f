"""`--help` of every command lists each option with text, the exit codes and an example; `--version`
works (issue 15 item 9)."""

from __future__ import annotations

import argparse

import pytest

from conformance import __version__
from conformance.cli import build_parser
from tests.cli.helpers import run_cli, run_main


def commands() -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command's parser by its full name, e.g. 'cases list'."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        found[prefix or "conformance"] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(f"{prefix} {name}".strip(), child)

    walk("", build_parser())
    return found


ALL = sorted(commands())


def test_version() -> None:
    r = run_cli("--version")
    assert r.code == 0 and r.out.strip() == f"conformance {__version__}"


@pytest.mark.parametrize("name", ALL)
def test_every_option_has_help_text(name: str) -> None:
    parser = commands()[name]
    missing = [a.option_strings or [a.dest] for a in parser._actions
               if not isinstance(a, argparse._SubParsersAction) and not a.help]
    assert not missing, f"{name}: options without help: {missing}"


@pytest.mark.parametrize("name", ALL)
def test_help_names_exit_codes_and_an_example(name: str) -> None:
    argv = [] if name == "conformance" else name.split()
    r = run_main(*argv, "--help")
    assert r.code == 0
    assert "exit codes:" in r.out and "3  the target could not be reached" in r.out
    example = r.out.split("example:", 1)[1].strip().splitlines()[0]
    assert example.startswith("conformance ")
    if name not in ("conformance", "cases"):
        assert example.split()[1:1 + len(argv)] == argv, example  # the example is of this command
