"""The one failure policy: which verdicts fail a run, at which rule level, with and without --strict."""

from __future__ import annotations

import pytest

from conformance.verdicts import NOT_RUN, Behavior, CloseBehavior, is_failure, is_not_run

# (behaviour, close, level, fails without --strict, fails with it)
ROWS = [
    ("OK", "OK", "MUST", False, False),
    ("FAILED", "OK", "MUST", True, True),
    ("NON-STRICT", "OK", "SHOULD", False, True),
    ("OK", "WRONG CODE", "MUST", True, True),
    ("OK", "WRONG CODE", "SHOULD", False, True),
    ("OK", "UNCLEAN", "MUST", True, True),
    ("OK", "FAILED", "SHOULD", False, True),
    ("OK", "FAILED BY CLIENT", "SHOULD", False, True),
    ("INFORMATIONAL", "INFORMATIONAL", "informational", False, False),
    ("UNIMPLEMENTED", "UNIMPLEMENTED", "MUST", False, False),
    ("NOT RUN", "NOT RUN", "MUST", False, False),  # never reached: no claim about the peer
]


@pytest.mark.parametrize(("b", "c", "level", "plain", "strict"), ROWS)
def test_is_failure(b: str, c: str, level: str, plain: bool, strict: bool) -> None:
    assert is_failure(b, c, level) is plain
    assert is_failure(b, c, level, strict=True) is strict


def test_enums_keep_autobahns_strings() -> None:
    assert [str(b) for b in Behavior] == ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
    assert CloseBehavior("WRONG CODE") is CloseBehavior.WRONG_CODE and f"{CloseBehavior.FAILED_BY_CLIENT}" == "FAILED BY CLIENT"


def test_not_run_is_apart_from_every_verdict() -> None:
    assert is_not_run(NOT_RUN, NOT_RUN) and not is_not_run("FAILED", "FAILED")
    assert NOT_RUN not in {*Behavior, *CloseBehavior}
