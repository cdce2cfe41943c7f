"""The suite-wide settings: a slow example (a busy machine) is not a failure, and the files that
run longest are handed out first."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import HEAVY_FIRST, heavy_first


def test_the_profile_sets_no_deadline() -> None:
    assert settings().deadline is None


@settings(max_examples=2, database=None)
@given(st.none())
def test_an_example_descheduled_for_longer_than_the_default_deadline_passes(_: None) -> None:
    time.sleep(0.25)  # stands for a process that did not get a core for 250 ms (hypothesis' default: 200 ms)


class _Node:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid


def test_heavy_files_go_first_and_each_file_stays_whole_and_in_order() -> None:
    ids = ["tests/a.py::x", "tests/b.py::x", "tests/b.py::y", "tests/c.py::x", "tests/a.py::y",
           "tests/d.py::x", "tests/d.py::y", "tests/d.py::z"]
    got = [n.nodeid for n in heavy_first([_Node(i) for i in ids], heavy=("tests/c.py", "tests/a.py"))]
    assert got == ["tests/c.py::x", "tests/a.py::x", "tests/a.py::y",  # heavy, in the list's order
                   "tests/d.py::x", "tests/d.py::y", "tests/d.py::z", "tests/b.py::x", "tests/b.py::y"]


def test_the_heavy_files_exist() -> None:
    # a renamed file would silently lose its place at the front
    missing = [f for f in HEAVY_FIRST if not (Path(__file__).resolve().parents[1] / f).is_file()]
    assert not missing


def test_xdist_keeps_the_collection_order(pytestconfig: pytest.Config) -> None:
    # with xdist's reorder (more tests first), the one-test files that run longest came last
    assert getattr(pytestconfig.option, "loadscopereorder", False) is False
