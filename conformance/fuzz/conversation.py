"""`conformance fuzz --impl NAME` (hypothesis): the stateful conversation machine against an
in-process library, with and without permessage-deflate offered, for a time budget. A failing
conversation is shrunk by hypothesis, turned into an input (flags octet + frames) and exported like
an atheris finding: as a case file checked by replaying it against the library over loopback."""

from __future__ import annotations

import dataclasses

__all__ = ["fuzz_conversations"]

import re
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.errors import HypothesisException
from hypothesis.stateful import run_state_machine_as_test

from conformance.fuzz.differential import DEFLATE, check_adapter
from conformance.fuzz.hypo import FuzzSummary, TimeUp, write_found
from conformance.generate.stateful import conversation_machine


def _run_machine(factory: Any, deflate: bool, deadline: float, steps: int) -> tuple[int, list[tuple[str, list[tuple[str, bytes]]]]]:
    """Run the machine until `deadline`; (conversations run, failures in the order seen)."""
    base = conversation_machine(factory, deflate)
    failure: list[tuple[str, list[tuple[str, bytes]]]] = []
    count = [0]

    class Timed(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            if not failure and time.monotonic() > deadline:
                raise TimeUp
            count[0] += 1
            super().__init__()

        def check_invariants(self, *args: object, **kwargs: object) -> None:
            try:
                super().check_invariants(*args, **kwargs)
            except AssertionError as exc:
                failure.append((str(exc).split("\n")[0], list(self.trace)))
                raise

    try:
        run_state_machine_as_test(Timed, settings=settings(
            max_examples=1_000_000, stateful_step_count=steps, deadline=None, database=None,
            phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet, print_blob=False))
    except (TimeUp, AssertionError):
        pass
    except HypothesisException:
        if not failure and time.monotonic() <= deadline:
            raise  # only the time limit may cut a run short
    return count[0], failure


def fuzz_conversations(spec: str, seconds: float, out: Path, steps: int = 12) -> FuzzSummary:
    factory = check_adapter(spec)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    examples = 0
    found: list[Path] = []
    detail: list[str] = []
    seen: set[str] = set()
    for n, deflate in enumerate((False, True)):
        count, failure = _run_machine(factory, deflate, t0 + seconds * (n + 1) / 2, steps)
        examples += count
        if not failure:
            continue
        from conformance.fuzz.atheris_engine import _replayable_case

        why, trace = failure[-1]  # the shrunk conversation is replayed last
        steps_text = "; ".join(what for what, _ in trace)
        if f"{why} {steps_text}" in seen:
            continue  # the same conversation fails with and without deflate offered
        seen.add(f"{why} {steps_text}")
        data = bytes([DEFLATE if deflate else 0]) + b"".join(octets for _, octets in trace)
        case, reproduced = _replayable_case(spec, data, len(found) + 1, f"{why} (after: {steps_text})",
                                            "conformance fuzz --impl (hypothesis conversation)")
        path = out / f"90_conversation_{re.sub(r'[^A-Za-z0-9]', '_', spec)}_{len(found) + 1}.yaml"
        write_found(path, [dataclasses.replace(case, id=f"90.3.{len(found) + 1}")])
        path.with_suffix(".input").write_bytes(data)
        found.append(path)
        detail.append(f"{why}{'' if reproduced else ' (the exported case does not reproduce it over TCP)'}"
                      f"\n  after: {steps_text}")
    return FuzzSummary(examples, time.monotonic() - t0, found, detail)
