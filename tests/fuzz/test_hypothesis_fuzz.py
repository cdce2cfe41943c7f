"""`conformance fuzz --engine hypothesis`: finds a broken server's bug without the catalogue,
shrinks it, and exports a case file that `conformance run` replays; finds nothing in a correct one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings

from conformance.catalog.load import load_file
from conformance.cli import main
from conformance.generate.strategies import GeneratedFrame, conversations, predict
from tests.peers.spawn import spawn_server

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("mutant", ["accepts-unmasked", "no-utf8-check", "ignores-rsv"])
def test_fuzzing_finds_the_mutant_and_the_export_replays(mutant: str, tmp_path: Path) -> None:
    found = tmp_path / "found"
    with spawn_server(["-m", "tests.mutants.serve", mutant]) as (url, _):
        assert main(["fuzz", "--server", url, "--seconds", "45", "--out", str(found)]) == 1
        files = list(found.glob("90_found_*.yaml"))
        assert len(files) == 1
        cases, _ = load_file(files[0])  # the export is a valid case file
        assert len(cases[0].steps) <= 3  # shrunk to a few frames
        out = tmp_path / "replay"
        assert main(["run", "--quiet", "--server", url, "--cases-dir", str(found), "--out", str(out)]) == 1
    (agent,) = json.loads((out / "index.json").read_text()).values()
    assert any(v["behavior"] == "FAILED" or v["behaviorClose"] != "OK" for v in agent.values())


def test_no_discrepancy_against_the_reference(tmp_path: Path) -> None:
    with spawn_server(["-m", "conformance", "echo-server", "--port", "0"]) as (url, _):
        assert main(["fuzz", "--server", url, "--seconds", "5", "--out", str(tmp_path)]) == 0
    assert not list(tmp_path.glob("*.yaml"))


@given(conversations())
@settings(max_examples=60, deadline=None)
def test_predictions_are_well_formed(conv: list[GeneratedFrame]) -> None:
    p = predict(conv)
    assert (p.fail_code is None) == (p.rule is None)
    assert all(kind in ("text", "binary", "pong") for kind, _ in p.observations)
    if any(not f.masked for f in conv) and p.fail_code is None:
        pytest.fail("an unmasked client frame must always be predicted to fail the connection")


def test_case_document_round_trips_through_yaml(tmp_path: Path) -> None:
    from conformance.fuzz.hypo import case_document, write_cases

    conv = [GeneratedFrame(1, b"\xce", fin=False), GeneratedFrame(0, b"\xba"), GeneratedFrame(9, b"p")]
    write_cases(tmp_path / "90_x.yaml", [case_document(conv, predict(conv), 1)])
    (case,), _ = load_file(tmp_path / "90_x.yaml")
    assert case.close.by == "us" and [o.kind for o in case.expect.ok] == ["text", "pong"]
    assert yaml.safe_load((tmp_path / "90_x.yaml").read_text())["group"] == "90"
