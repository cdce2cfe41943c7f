"""The echo digest of a step (runner/steps.py, trace.note_echo): each distinct message is hashed
once, yet the digest is that of every echo in order, also when a rolling corpus slice goes round
the corpus and repeats (12.1.10: 128 KiB slices of a 1 MiB corpus, a round every 8 messages)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from conformance.catalog.load import load_catalogue
from conformance.catalog.model import Echo
from conformance.report.model import ReportDir
from conformance.runner.command import embedded_server
from conformance.runner.regen import REGEN_END
from conformance.runner.run import run_cases
from conformance.runner.trace import ECHO_DIGEST, RunOptions
from conformance.targets.tcp import ServerTarget


def _expected(case_id: str, count: int) -> str:
    """The digest by its definition: every message of the step, in order, hashed by itself."""
    (step,) = [s for s in load_catalogue().by_id()[case_id].steps if isinstance(s, Echo)]
    payload = step.spec.payload
    h = hashlib.sha256()
    for i in range(count):
        data = payload.materialize(i * (payload.size or 1) if payload.rolling else 0)
        h.update(len(data).to_bytes(8, "big") + hashlib.sha256(data).digest())
    return h.hexdigest()


@pytest.mark.parametrize(("case_id", "count"), [("12.1.10", 19), ("9.7.3", 5), ("13.2.4", 7)])
def test_the_digest_covers_every_echo_in_order(tmp_path: Path, case_id: str, count: int) -> None:
    case = load_catalogue().by_id()[case_id]
    with embedded_server() as url:
        summary = asyncio.run(run_cases([case], ServerTarget.from_url(url), RunOptions(max_echo=count),
                                        ReportDir(tmp_path), quiet=True))
    (res,) = summary.results
    assert not res.is_failure()
    (fact,) = [e[REGEN_END] for e in res.wirelog if REGEN_END in e]
    assert fact["echoed"] == count and fact["echoed_digest"] == ECHO_DIGEST
    assert fact["echoed_sha256"] == _expected(case_id, count)
