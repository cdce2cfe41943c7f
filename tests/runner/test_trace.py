"""trace.py: the per-case budget and the deflate precondition, the facts' helpers."""

from __future__ import annotations

from conformance.catalog.model import Case, DeflateSpec
from conformance.runner.trace import RunOptions, Trace, case_budget, deflate_missing

CASE = Case(id="99.1.1", title="t", rfc=("RFC 6455 §5.2",))


def test_a_case_budget_is_its_own_or_the_run_default_capped_by_an_explicit_timeout() -> None:
    big = Case(id="9.1.6", title="t", rfc=("RFC 6455 §5.2",), timeout=100)
    assert case_budget(CASE, RunOptions(timeout=10)) == 10
    assert case_budget(big, RunOptions(timeout=10)) == 100
    assert case_budget(big, RunOptions(timeout=5, timeout_cap=5)) == 5


def test_deflate_is_missing_only_when_required_and_not_agreed() -> None:
    needs = Case(id="12.1.1", title="t", rfc=("RFC 7692 §7",), deflate=DeflateSpec(offers=((),)))
    assert deflate_missing(needs, Trace(deflate_negotiated=False))
    assert not deflate_missing(needs, Trace(deflate_negotiated=True))
    assert not deflate_missing(CASE, Trace(deflate_negotiated=None))


def test_the_peer_has_closed_on_any_of_its_endings() -> None:
    assert not Trace().peer_closed
    assert Trace(eof=True).peer_closed and Trace(flooded="x").peer_closed
