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
from conformance.generate.strategies import Close, Exchange, GeneratedFrame, Message, exchanges, predict
from testees.peers.spawn import spawn_server

pytestmark = pytest.mark.slow


# A sample of the mutants, one per kind of break (framing, UTF-8, handshake, deflate offer, large
# messages, close codes, deflate context); `make fuzz-mutants` sweeps all of them with 60 s each.
@pytest.mark.parametrize("mutant", ["accepts-unmasked", "no-utf8-check", "ignores-rsv", "no-version-check",
                                    "crash-on-bad-extension", "truncates-large", "accepts-invalid-close-codes",
                                    "keeps-context"])
def test_fuzzing_finds_the_mutant_and_the_export_replays(mutant: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    found = tmp_path / "found"
    with spawn_server(["-m", "testees.mutants.serve", mutant]) as (url, _):
        fuzz = main(["fuzz", "--server", url, "--seconds", "60", "--out", str(found)])
        said = capsys.readouterr().out
        assert fuzz == 1, said
        files = list(found.glob("90_found_*.yaml"))
        assert len(files) == 1, said
        cases, _ = load_file(files[0])  # the export is a valid case file
        assert len(cases[0].steps) <= 3  # shrunk to a few steps
        out = tmp_path / "replay"
        code = main(["run", "--quiet", "--server", url, "--cases-dir", str(found), "--out", str(out)])
    assert code == 1, f"the export does not reproduce: {said}\n{files[0].read_text()}"
    (agent,) = json.loads((out / "index.json").read_text()).values()
    assert any(v["behavior"] in ("FAILED", "WRONG CODE") or v["behaviorClose"] not in ("OK", "INFORMATIONAL")
               for v in agent.values())


@pytest.mark.parametrize("flags", [[], ["--strict"]])
def test_no_discrepancy_against_the_reference(flags: list[str], tmp_path: Path) -> None:
    with spawn_server(["-m", "conformance", "echo-server", "--port", "0"]) as (url, _):
        assert main(["fuzz", "--server", url, "--seconds", "8", "--out", str(tmp_path), *flags]) == 0
    assert not list(tmp_path.glob("*.yaml"))


@given(exchanges())
@settings(max_examples=80, deadline=None)
def test_predictions_are_well_formed(x: Exchange) -> None:
    p = predict(x)
    if p.status is not None:  # a refused request: nothing is sent after it
        assert not x.steps and p.rule is not None
        return
    assert (p.fail_code is None) == (p.rule is None)
    assert all(kind in ("text", "binary", "pong", "timeout") for kind, _ in p.observations)
    used = x.steps[: p.steps_used]
    if any(isinstance(s, GeneratedFrame) and not s.masked for s in used) and p.fail_code is None:
        pytest.fail("an unmasked client frame must always be predicted to fail the connection")


def test_a_message_over_the_16_bit_length_is_predicted_whole() -> None:
    msg = Message(text=False, pattern=b"ab", size=65536)
    p = predict(Exchange((msg, Close(1000, b""))))
    assert p.observations == [("binary", b"ab" * 32768)] and p.fail_code is None and p.close_codes == [1000]


def test_an_invalid_close_code_with_a_reason_not_utf8_accepts_either_rules_code() -> None:
    """It breaks §7.4.1 and §5.5.1; the RFC does not say which to report, so 1007 is as right as 1002."""
    p = predict(Exchange((Close(999, b"\xff"),)))
    assert p.rule == "close.code-invalid" and p.close_codes == [1002, 1007] and p.closed_by == "us"


def test_generated_case_round_trips_through_the_dumper(tmp_path: Path) -> None:
    from conformance.fuzz.hypo import case_for, write_found

    conv = [GeneratedFrame(1, b"\xce", fin=False), GeneratedFrame(0, b"\xba"), GeneratedFrame(9, b"p")]
    built = case_for(conv, predict(conv), 1)
    write_found(tmp_path / "90_x.yaml", [built])
    (case,), _ = load_file(tmp_path / "90_x.yaml")
    assert case == built  # the one dumper is the loader's inverse
    assert case.close.by == "us" and [o.kind for o in case.expect.ok] == ["text", "pong"]
    assert yaml.safe_load((tmp_path / "90_x.yaml").read_text())["group"] == "90"


def test_tighten_drops_every_step_the_discrepancy_does_not_need() -> None:
    from conformance.fuzz.hypo import tighten

    hello = Message(text=True, pattern=b"Hello", size=5)
    # the local minimum the shrinker once stopped in: an empty frame before the two messages
    x = Exchange((GeneratedFrame(2, b""), hello, hello, Close(1000, b"")), offer={"server_no_context_takeover": True})
    tried: list[Exchange] = []

    def run(c: Exchange) -> tuple[bool, str]:  # the bug needs two messages and the offer
        tried.append(c)
        bad = c.offer is not None and sum(s == hello for s in c.steps) >= 2
        return not bad, "FAILED" if bad else "OK"

    small, why = tighten(x, "FAILED", run)
    assert small.steps == (hello, hello) and small.offer == x.offer and why == "FAILED"
    # nothing to drop: the exchange comes back as it was
    assert tighten(small, "FAILED", run) == (small, "FAILED")
