"""The suite must catch every deliberately broken server, and pass the correct one.

Each mutant in testees/mutants/serve.py breaks exactly one rule; the case that targets that rule
must give the verdict named here (FAILED / WRONG CODE / UNCLEAN, or NON-STRICT / FAILED BY CLIENT
for a SHOULD-level break), while the same cases pass against the reference server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main
from testees.mutants.serve import MUTANTS, VARIANTS
from testees.peers.spawn import spawn_server

pytestmark = pytest.mark.slow

# mutant -> (case, expected behaviour, expected close verdict, rule named in the result or None)
EXPECTED = {
    "accepts-unmasked": ("14.1.1", "FAILED", "FAILED", "frame.client-unmasked"),
    "ignores-rsv": ("3.1", "FAILED", "FAILED", "frame.rsv-unnegotiated"),
    "accepts-reserved-opcodes": ("4.1.2", "FAILED", "FAILED", "frame.opcode-reserved"),
    "long-control-frames": ("2.5", "FAILED", None, "frame.control-too-long"),
    "fragmented-control-frames": ("5.1", "FAILED", None, "frame.control-fragmented"),
    "no-utf8-check": ("6.3.1", "FAILED", "FAILED", "utf8.text-invalid"),
    "late-utf8-check": ("6.4.1", "NON-STRICT", "OK", None),
    "wrong-close-code": ("7.5.1", "FAILED", "WRONG CODE", "utf8.close-reason-invalid"),
    "no-close-reply": ("7.1.1", "OK", "UNCLEAN", None),
    "accepts-invalid-close-codes": ("7.9.1", "FAILED", None, "close.code-invalid"),
    # 7.13.x leaves the receiver's answer open but not the code of its own close frame (§5.5.1)
    "echoes-undefined-close-codes": ("7.13.1", "FAILED", None, "close.code-undefined"),
    "no-pong": ("2.2", "FAILED", "OK", "ping.pong-reply"),
    "bad-accept": ("1.1.1", "FAILED", "FAILED", "handshake.accept"),
    "no-version-check": ("0.3.2", "FAILED", "OK", "handshake.version"),  # 14: no server speaks it
    "crash-on-bad-extension": ("0.6.2", "FAILED", "OK", "handshake.server-error"),
    "no-tcp-close": ("1.1.1", "OK", "FAILED BY CLIENT", None),
    "masks-frames": ("1.1.1", "FAILED", None, "frame.server-masked"),
    "keeps-context": ("16.1.2", "FAILED", None, "deflate.context-takeover"),
    "truncates-large": ("9.1.2", "FAILED", "OK", None),
}


def test_every_mutant_has_an_expectation() -> None:
    assert set(EXPECTED) == set(MUTANTS) and len(MUTANTS) >= 15
    assert {level for _, level, _ in MUTANTS.values()} == {"MUST", "SHOULD"}


def run_case(url: str | None, case: str, out: Path, wait: str = "1") -> tuple[int, dict[str, object]]:
    argv = ["run", "--quiet", "--out", str(out), "--cases", case, "--wait", wait]
    if url:
        argv += ["--server", url, "--agent", "mutant"]
    code = main(argv)
    (agent,) = json.loads((out / "index.json").read_text())
    entry = json.loads((out / "index.json").read_text())[agent][case]
    return code, json.loads((out / entry["reportfile"]).read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mutant_is_caught(name: str, tmp_path: Path) -> None:
    case, behavior, close, rule = EXPECTED[name]
    with spawn_server(["-m", "testees.mutants.serve", name]) as (url, _):
        code, result = run_case(url, case, tmp_path / "mutant")
    assert result["behavior"] == behavior, result["result"]
    if close is not None:
        assert result["behaviorClose"] == close, result["resultClose"]
    if rule is not None:
        assert result["rule"] == rule, (result["rule"], result["result"])
    assert code != 0 or (behavior, close) in {("NON-STRICT", "OK"), ("OK", "FAILED BY CLIENT")}
    # the same case against the reference server is OK: the verdict comes from the break alone
    _, good = run_case(None, case, tmp_path / "reference")
    assert (good["behavior"], good["behaviorClose"]) == ("OK", "OK")


# variant -> cases it used to be misjudged on, with the verdict it must get now (same as the
# reference server's where the RFC lets both behave either way); the run must exit 0
VARIANT_EXPECTED = {
    "refuses-invalid-offer": {"0.6.2": ("OK", "OK"), "0.6.12": ("OK", "OK")},
    "speaks-version-8": {"0.3.1": ("OK", "OK"), "0.3.2": ("OK", "OK")},
    "refuses-iana-codes": {f"15.1.{n}": ("INFORMATIONAL", "INFORMATIONAL") for n in (10, 11, 12)},
    "ends-window-at-bfinal": {"16.2.5": ("NON-STRICT", "OK")},
    # §7.1.7: the code of a failing endpoint is a SHOULD
    "fails-with-1002": {"6.3.1": ("OK", "WRONG CODE"), "15.3.4": ("OK", "OK"), "7.13.1": ("OK", "OK")},
    # §10.7: no MUST makes the receiver of an invalid code fail; echoing it would break §7.4.1
    "answers-every-close-with-1000": {"7.9.1": ("NON-STRICT", "WRONG CODE"), "15.2.5": ("NON-STRICT", "WRONG CODE"),
                                      "7.7.10": ("OK", "OK"), "7.13.1": ("OK", "OK"), "7.13.2": ("OK", "OK")},
    # §10.7: a malformed close breaks the sender's MUST; the receiver's answer code is a SHOULD
    "answers-malformed-close-with-1000": {"7.3.2": ("NON-STRICT", "WRONG CODE"), "7.3.6": ("NON-STRICT", "WRONG CODE"),
                                          "15.3.8": ("NON-STRICT", "WRONG CODE"), "7.3.5": ("OK", "OK")},
    # §5.5.1: the endpoint "typically echos" the code; any code it may send is conforming
    "answers-close-with-1001": {"7.7.10": ("OK", "INFORMATIONAL"), "15.1.1": ("OK", "INFORMATIONAL")},
    # §7.1.1: it does close TCP first; within --wait (3 s here) that is not "the suite had to"
    "slow-tcp-close": {"1.1.1": ("OK", "OK")},
}
VARIANT_WAIT = {"slow-tcp-close": "3"}  # seconds of --wait; 1 for the others


def test_unmasked_close_is_failed_like_unmasked_data(tmp_path: Path) -> None:
    # 14.1.7 used to be OK/WRONG CODE for the deviation 14.1.1 calls FAILED
    with spawn_server(["-m", "testees.mutants.serve", "accepts-unmasked"]) as (url, _):
        code, result = run_case(url, "14.1.7", tmp_path / "mutant")
    assert (result["behavior"], result["rule"], code) == ("FAILED", "frame.client-unmasked", 1)


def test_every_variant_has_an_expectation() -> None:
    assert set(VARIANT_EXPECTED) == set(VARIANTS)


@pytest.mark.parametrize("name", sorted(VARIANT_EXPECTED))
def test_variant_is_not_a_failure(name: str, tmp_path: Path) -> None:
    cases = VARIANT_EXPECTED[name]
    with spawn_server(["-m", "testees.mutants.serve", name]) as (url, _):
        for case, (behavior, close) in cases.items():
            code, result = run_case(url, case, tmp_path / f"variant-{case}", VARIANT_WAIT.get(name, "1"))
            assert (result["behavior"], result["behaviorClose"]) == (behavior, close), (
                result["result"], result["resultClose"])
            assert code == 0
    for case, (behavior, close) in cases.items():  # the reference server, for comparison
        _, good = run_case(None, case, tmp_path / f"reference-{case}")
        if behavior == "INFORMATIONAL":  # accepting and refusing give the same verdict
            assert (good["behavior"], good["behaviorClose"]) == (behavior, close)
        else:
            assert (good["behavior"], good["behaviorClose"]) == ("OK", "OK")


def test_failing_with_1000_counts_only_with_strict(tmp_path: Path) -> None:
    # the peer closes first (it failed the connection) but with 1000: a SHOULD (§7.1.7)
    with spawn_server(["-m", "testees.mutants.serve", "wrong-close-code"]) as (url, _):
        base = ["run", "--quiet", "--server", url, "--cases", "2.5", "--out"]
        assert main([*base, str(tmp_path / "a")]) == 0
        assert main([*base, str(tmp_path / "b"), "--strict"]) == 1
    entry = json.loads((tmp_path / "a" / "index.json").read_text())
    (agent,) = entry
    result = json.loads((tmp_path / "a" / entry[agent]["2.5"]["reportfile"]).read_text())
    assert (result["behaviorClose"], result["rule"], result["level"]) == ("WRONG CODE", "close.failure-code", "SHOULD")


def test_should_breaks_count_only_with_strict(tmp_path: Path) -> None:
    with spawn_server(["-m", "testees.mutants.serve", "late-utf8-check"]) as (url, _):
        base = ["run", "--quiet", "--server", url, "--cases", "6.4.1", "--out"]
        assert main([*base, str(tmp_path / "a")]) == 0
        assert main([*base, str(tmp_path / "b"), "--strict"]) == 1


def test_reference_server_passes_all_fast_groups(tmp_path: Path) -> None:
    out = tmp_path / "ref"
    assert main(["run", "--quiet", "--out", str(out), "--exclude", "9.*", "12.*", "13.*"]) == 0
    index = json.loads((out / "index.json").read_text())["reference"]
    assert len(index) > 300
    bad = {k: v for k, v in index.items() if v["behavior"] not in ("OK", "INFORMATIONAL")
           or v["behaviorClose"] not in ("OK", "INFORMATIONAL")}
    assert not bad
