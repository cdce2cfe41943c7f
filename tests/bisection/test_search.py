"""The search over a table of verdicts (no process, no network): the first difference, the number
of tries against the issue's bound, and skipped candidates."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from conformance.bisection.search import NoReference, Trial, bisect, most_runs, run_bound

GOOD = (("1.1", "OK", "OK"),)
BAD = (("1.1", "FAILED", "OK"),)


def versions(n: int) -> list[str]:
    return [f"1.{i}" for i in range(n)]


def oracle(names: list[str], first_bad: int | None,
           skipped: frozenset[int] = frozenset()) -> tuple[Callable[[str], Trial], list[str]]:
    """A trial function over a table, recording which candidates were asked for."""
    asked: list[str] = []

    def trial(name: str) -> Trial:
        asked.append(name)
        i = names.index(name)
        if i in skipped:
            return Trial(name, None, "did not install")
        return Trial(name, BAD if first_bad is not None and i >= first_bad else GOOD)

    return trial, asked


class TestFirstDifference:
    @pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 33, 100])
    def test_every_change_point_is_found_within_the_bound(self, n: int) -> None:
        names = versions(n)
        for first in range(1, n):
            trial, asked = oracle(names, first)
            out = bisect(names, trial)
            assert out.found and out.first_bad == names[first] and out.last_good == names[first - 1]
            assert out.runs == len(asked) <= run_bound(n)
            assert out.runs <= most_runs(n) == 1 + math.ceil(math.log2(n)) <= run_bound(n)
            assert len(set(asked)) == len(asked)  # nothing tried twice

    def test_the_good_one_is_tried_first_and_each_try_is_reported(self) -> None:
        names = versions(9)
        trial, asked = oracle(names, 6)
        out = bisect(names, trial)
        assert asked[0] == "1.0" and out.reference.candidate == "1.0"
        assert [t.candidate for t in out.trials] == asked

    def test_no_difference_up_to_the_bad_one(self) -> None:
        names = versions(10)
        trial, asked = oracle(names, None)
        out = bisect(names, trial)
        assert out.first_bad is None and not out.found and out.last_good == "1.9" and "1.9" in asked
        assert out.runs <= run_bound(10)

    def test_fewer_than_two_candidates_is_an_error(self) -> None:
        with pytest.raises(ValueError):
            bisect(["1.0"], oracle(["1.0"], None)[0])


class TestSkip:
    def test_a_skipped_candidate_is_stepped_around(self) -> None:
        names = versions(17)
        trial, asked = oracle(names, 12, skipped=frozenset({8}))
        out = bisect(names, trial)
        assert "1.8" in asked and out.found and out.first_bad == "1.12"
        assert [t.candidate for t in out.trials if t.skipped] == ["1.8"]

    def test_skips_next_to_the_change_leave_a_range(self) -> None:
        names = versions(9)
        trial, _ = oracle(names, 5, skipped=frozenset({4}))
        out = bisect(names, trial)
        assert not out.found and out.last_good == "1.3" and out.unknown == ("1.4",) and out.first_bad == "1.5"

    def test_a_skipped_last_candidate_is_not_a_difference(self) -> None:
        names = versions(5)
        trial, _ = oracle(names, None, skipped=frozenset({4}))
        out = bisect(names, trial)
        assert out.first_bad is None and out.unknown == ("1.4",) and not out.found

    def test_the_good_one_skipped_leaves_nothing_to_compare(self) -> None:
        names = versions(5)
        with pytest.raises(NoReference, match="did not install"):
            bisect(names, oracle(names, 3, skipped=frozenset({0}))[0])

    def test_every_candidate_between_skipped(self) -> None:
        names = versions(6)
        trial, asked = oracle(names, 5, skipped=frozenset({1, 2, 3, 4}))
        out = bisect(names, trial)
        assert out.unknown == ("1.1", "1.2", "1.3", "1.4") and out.first_bad == "1.5"
        assert sorted(asked) == names
