"""The suite-wide hypothesis profile: a slow example (a busy machine) is not a failure."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st


def test_the_profile_sets_no_deadline() -> None:
    assert settings().deadline is None


@settings(max_examples=2, database=None)
@given(st.none())
def test_an_example_descheduled_for_longer_than_the_default_deadline_passes(_: None) -> None:
    time.sleep(0.25)  # stands for a process that did not get a core for 250 ms (hypothesis' default: 200 ms)
