"""The stateful conversation machine: the engine asked at every step of a conversation with an
in-process library; it agrees with the reference, catches broken adapters, and `conformance fuzz
--impl` exports what it finds as a case that replays."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from conformance.cli import main
from conformance.generate.stateful import conversation_machine
from conformance.targets.inprocess import ADAPTERS
from testees.mutants import adapters as mutant_adapters

pytestmark = pytest.mark.slow
SETTINGS = settings(max_examples=120, stateful_step_count=15, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("deflate", [False, True])
def test_reference_holds_every_conversation(deflate: bool) -> None:
    run_state_machine_as_test(conversation_machine(ADAPTERS["reference"], deflate), settings=SETTINGS)


@pytest.mark.parametrize(("mutant", "says"), [("no_pong", "pongs"), ("utf8_as_1002", "close 1002"),
                                               ("ignores_rsv", "")])
def test_machine_catches_the_mutant(mutant: str, says: str) -> None:
    # derandomized, with room to draw the one bad frame that shows a mutant's break among twelve
    hunting = settings(SETTINGS, max_examples=400, derandomize=True)
    with pytest.raises(AssertionError) as err:
        run_state_machine_as_test(conversation_machine(getattr(mutant_adapters, mutant)), settings=hunting)
    assert says in str(err.value) and "after the steps" in str(err.value)


def test_cli_conversations_find_export_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = "testees.mutants.adapters:no_pong"
    assert main(["fuzz", "--impl", "reference", "--seconds", "4", "--out", str(tmp_path / "none")]) == 0
    assert not list((tmp_path / "none").glob("*.yaml"))
    assert main(["fuzz", "--impl", spec, "--seconds", "20", "--out", str(tmp_path / "found")]) == 1
    out = capsys.readouterr().out
    assert "generated conversations" in out and "ping" in out
    (case,) = sorted((tmp_path / "found").glob("90_conversation_*.yaml"))
    assert main(["run", "--quiet", "--impl", spec, "--cases-dir", str(case.parent), "--out", str(tmp_path / "a")]) == 1
    assert main(["run", "--quiet", "--impl", "reference", "--cases-dir", str(case.parent), "--out", str(tmp_path / "b")]) == 0
