"""The verdict vocabulary (Autobahn's spellings) and the one failure policy.

`is_failure` is the only place that says which verdicts make a run fail: the exit code, JUnit,
the pytest plugin, the HTML summary, the fuzzers and the retry loop all ask it. A FAILED-class
verdict claims a broken MUST: a FAILED behaviour always counts (the judge has already turned a
FAILED naming a SHOULD rule into NON-STRICT); a FAILED, WRONG CODE or UNCLEAN close counts when the
rule it names is a MUST. NON-STRICT, FAILED BY CLIENT and failed closes naming a SHOULD rule count
only with `strict`. The enums are StrEnums (str() and JSON give the value), so JSON files
keep Autobahn's strings.

`NOT_RUN` is no verdict: it marks a case the run never reached (the `--budget` ran out, the target
stopped accepting connections, the suite itself broke). It claims nothing about the peer, so it
never fails a case; every writer shows it as "not run" (JUnit: skipped).
"""

from __future__ import annotations

__all__ = ["HARD_CLOSE", "NOT_RUN", "Behavior", "CloseBehavior", "is_failure", "is_not_run"]

import enum


class Behavior(enum.StrEnum):
    """`behavior`, in order of severity."""

    OK = "OK"
    NON_STRICT = "NON-STRICT"
    INFORMATIONAL = "INFORMATIONAL"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    FAILED = "FAILED"


class CloseBehavior(enum.StrEnum):
    """`behaviorClose`, in order of severity."""

    OK = "OK"
    INFORMATIONAL = "INFORMATIONAL"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    WRONG_CODE = "WRONG CODE"
    UNCLEAN = "UNCLEAN"
    FAILED_BY_CLIENT = "FAILED BY CLIENT"  # §7.1.1's SHOULD: the server closes TCP first
    FAILED = "FAILED"


# close verdicts that claim a broken rule (a MUST one unless the verdict's level says otherwise)
HARD_CLOSE = frozenset({CloseBehavior.FAILED, CloseBehavior.WRONG_CODE, CloseBehavior.UNCLEAN})

NOT_RUN = "NOT RUN"  # behavior and behaviorClose of a case that was never run

_MUST = "MUST"  # conformance.engine.rules.Level.MUST.value


def is_failure(behavior: str, behavior_close: str, level: str = _MUST, strict: bool = False) -> bool:
    """Whether a verdict fails the run; `level` is the level of the rule the verdict names."""
    if behavior == Behavior.FAILED or (strict and behavior == Behavior.NON_STRICT):
        return True
    if behavior_close in HARD_CLOSE:
        return strict or level == _MUST
    return strict and behavior_close == CloseBehavior.FAILED_BY_CLIENT


def is_not_run(behavior: str, behavior_close: str) -> bool:
    """Whether a result stands for a case the run never reached (no claim about the peer)."""
    return behavior == NOT_RUN or behavior_close == NOT_RUN
