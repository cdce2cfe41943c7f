"""The search of `conformance bisect`, as a pure function: candidates in, tries out.

The candidates are ordered oldest first; the first is the known-good one (V1) and its verdicts are
the reference. The search looks for the first candidate whose verdicts differ from the reference,
assuming that once they differ they stay different (as `git bisect` assumes). The last candidate
(V2) is not tried up front: the search treats the place after it as "differs" and tries V2 only if
every earlier try matched, so N candidates cost at most 1 + ceil(log2 N) tries (the issue's
bound is log2(N) + 2). A candidate that cannot be tried (it does not install, build or start) is
skipped, as `git bisect skip` does: the search tries its nearest untried neighbour instead, and when
only skipped candidates remain between the last match and the first difference, the answer is the
range of them.
"""

from __future__ import annotations

__all__ = ["NoReference", "Outcome", "Trial", "Verdicts", "bisect", "most_runs", "run_bound"]

import dataclasses
import math
from collections.abc import Callable, Sequence

# (case id, behavior, behaviorClose) for each case, sorted by id
Verdicts = tuple[tuple[str, str, str], ...]


class NoReference(ValueError):
    """The first candidate was skipped: there are no verdicts to compare the others with."""


@dataclasses.dataclass(frozen=True)
class Trial:
    """One candidate tried: its verdicts, or None when it was skipped (`detail` says why)."""

    candidate: str
    verdicts: Verdicts | None
    detail: str = ""

    @property
    def skipped(self) -> bool:
        return self.verdicts is None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the search found.

    `last_good`: the last candidate known to match the first one; `first_bad`: the first candidate
    known to differ from it (None when none was found to differ); `unknown`: the skipped candidates
    between them, any of which may be the first to differ instead (`found` is False then).
    """

    trials: tuple[Trial, ...]
    reference: Trial
    first_bad: str | None
    last_good: str
    unknown: tuple[str, ...] = ()

    @property
    def runs(self) -> int:
        return len(self.trials)

    @property
    def found(self) -> bool:
        """The first differing candidate is known exactly."""
        return self.first_bad is not None and not self.unknown


def run_bound(n: int) -> float:
    """The issue's bound on the tries for `n` candidates: log2(n) + 2."""
    return math.log2(max(n, 1)) + 2


def most_runs(n: int) -> int:
    """The tries this search needs at most for `n` candidates when none is skipped: 1 + ceil(log2 n)."""
    return 1 + math.ceil(math.log2(max(n, 1)))


def bisect(candidates: Sequence[str], trial: Callable[[str], Trial]) -> Outcome:
    """Search `candidates` (oldest first, at least two) with `trial`. ValueError for fewer than two;
    NoReference when the first one is skipped (without its verdicts there is nothing to compare)."""
    if len(candidates) < 2:
        raise ValueError("bisect needs at least two candidates")
    done: dict[int, Trial] = {0: trial(candidates[0])}
    reference = done[0]
    if reference.verdicts is None:
        raise NoReference(f"{candidates[0]} could not be tried: {reference.detail}")
    lo, hi = 0, len(candidates)  # lo matches the reference; hi differs (len: past the end, assumed)
    while True:
        mid = _next_index(lo, hi, len(candidates), done)
        if mid is None:
            break
        done[mid] = trial(candidates[mid])
        got = done[mid].verdicts
        if got is None:
            continue
        if got == reference.verdicts:
            lo = mid
        else:
            hi = mid
    return _outcome(candidates, done, reference, lo, hi)


def _next_index(lo: int, hi: int, n: int, done: dict[int, Trial]) -> int | None:
    """The untried index between lo and hi nearest to their middle, or None when none is left."""
    mid = (lo + hi) // 2
    for offset in range(hi - lo):
        for i in (mid + offset, mid - offset) if offset else (mid,):
            if lo < i < min(hi, n) and i not in done:
                return i
    return None


def _outcome(candidates: Sequence[str], done: dict[int, Trial], reference: Trial, lo: int, hi: int) -> Outcome:
    first_bad = candidates[hi] if hi < len(candidates) else None
    unknown = tuple(candidates[i] for i in range(lo + 1, min(hi, len(candidates))))
    return Outcome(tuple(done.values()), reference, first_bad, candidates[lo], unknown)
