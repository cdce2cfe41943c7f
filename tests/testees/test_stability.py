"""Verdicts do not depend on load: the catalogue (test size) quiet and with every core busy agree.

`make test` leaves out group 6's tables of octet sequences (6.5-6.23, each one whole text frame:
what they judge is the text, not when it arrives) and keeps 6.1-6.4, the fragmented and split texts
and the fail-fast cases; `make test-stability` (STABILITY_FULL=1) runs the whole test size,
TEST_SERVER_CASES. `make stability` runs
the same at full size, several rounds, and the client side (testees/stability.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conformance.catalog.load import load_catalogue, select
from testees.load import cpu_load
from testees.stability import (
    SERVER_TARGETS,
    TEST_SERVER_CASES,
    VOLUME_GROUPS,
    Verdict,
    flips,
    format_flips,
    run_server_catalogue,
)

# Group 6's tables of single-frame octet sequences; 6.1-6.4 (fragments, splits, fail fast) stay.
_UTF8_TABLES = tuple(f"6.{n}.*" for n in range(5, 24))
FULL = os.environ.get("STABILITY_FULL") == "1"
EXCLUDE = VOLUME_GROUPS if FULL else (*VOLUME_GROUPS, *_UTF8_TABLES)


def test_a_flip_is_any_change_of_either_verdict_or_a_missing_case() -> None:
    ok = Verdict("OK", "OK")
    quiet = {"1.1.1": ok, "2.1": ok, "7.1.1": ok, "5.1": ok}
    loaded = {"1.1.1": Verdict("OK", "OK", "other words"), "2.1": Verdict("FAILED", "OK", "no pong"),
              "7.1.1": Verdict("OK", "UNCLEAN", "", "TCP dropped"), "6.1.1": ok}
    found = flips(quiet, loaded)
    assert [f.case_id for f in found] == ["2.1", "5.1", "6.1.1", "7.1.1"]
    text = format_flips("t", found)
    assert "4 case(s) flipped" in text and "FAILED/OK (no pong" in text and "TCP dropped" in text
    assert flips(quiet, dict(quiet)) == []


@pytest.mark.slow
@pytest.mark.parametrize("target", list(SERVER_TARGETS))
def test_the_same_verdicts_quiet_and_with_every_core_busy(target: str, tmp_path: Path) -> None:
    wanted = [c.id for c in select(load_catalogue().cases, list(TEST_SERVER_CASES), list(EXCLUDE))
              if c.role in ("server", "both")]
    quiet = run_server_catalogue(target, tmp_path / "quiet", TEST_SERVER_CASES, EXCLUDE)
    with cpu_load():
        loaded = run_server_catalogue(target, tmp_path / "loaded", TEST_SERVER_CASES, EXCLUDE)
    assert sorted(quiet) == sorted(wanted) and any(c.startswith("6.4.") for c in wanted)  # fail fast stays
    found = flips(quiet, loaded)
    assert not found, format_flips(target, found)
