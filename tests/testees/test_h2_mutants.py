"""Each HTTP/2 mutant (testees/mutants/h2_mutants.py) is caught by group 40, with a verdict naming
the broken rule at its level, and the reference h2 echo server passes every case of group 40; every
case of group 40 catches at least one mutant."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from conformance.catalog.load import load_catalogue
from conformance.cli import main
from testees.peers.spawn import spawn_server

INCOMPLETE = ["40.2.1", "40.2.2", "40.2.3"]  # no MUST to detect a missing pseudo-header: NON-STRICT
MALFORMED = ["40.2.4", "40.2.5", "40.2.6", "40.2.14", "40.2.15", "40.2.16",
             "40.2.17", "40.2.18", "40.2.19", "40.2.20", "40.2.21", "40.2.22", "40.2.23", "40.2.24"]

# mutant -> {case: (behavior or "close:" + behaviorClose, words its report must hold)}
CAUGHT: dict[str, dict[str, tuple[str, str]]] = {
    "refuse": {"40.3.1": ("FAILED", "501"), "40.2.7": ("INFORMATIONAL", "501")},
    "status101": {"40.3.1": ("FAILED", "101")},
    "no-flow": {"40.3.2": ("FAILED", "h2.flow-control"), "40.3.5": ("FAILED", "h2.flow-control"),
                "40.1.6": ("FAILED", "h2.flow-control")},
    # never opening its window, it stalls the message: the case's budget is the upper bound
    "no-window": {"40.3.5": ("FAILED", "did not finish")},
    "rst-clean": {"40.4.3": ("FAILED", "h2.frames-after-reset")},
    "setting-2": {"40.1.2": ("FAILED", "h2.connect-setting-value")},
    "withdraw": {"40.1.3": ("FAILED", "h2.connect-setting-withdrawn"),
                 "40.1.1": ("FAILED", "h2.connect-setting-withdrawn")},
    "no-setting": {"40.1.4": ("UNIMPLEMENTED", "h2.connect-not-offered")},
    "lax": {**dict.fromkeys(MALFORMED, ("FAILED", "h2.malformed-request")),
            **dict.fromkeys(INCOMPLETE, ("NON-STRICT", "h2.request-incomplete")),
            "40.2.8": ("FAILED", "handshake.version"), "40.2.9": ("FAILED", "handshake.version"),
            "40.2.10": ("INFORMATIONAL", "200"), "40.2.11": ("INFORMATIONAL", "200")},
    "no-version-field": {"40.2.25": ("FAILED", "sec-websocket-version")},
    "pick-protocol": {"40.2.26": ("FAILED", "x-conformance-unoffered"),
                      "40.2.12": ("FAILED", "x-conformance-unoffered")},
    "force-deflate": {"40.2.27": ("FAILED", "permessage-deflate"), "40.2.13": ("FAILED", "")},
    "h1-fields": {"40.3.4": ("FAILED", "h2.malformed-response")},
    "one-stream": {"40.3.3": ("INFORMATIONAL", "refused"), "40.3.6": ("INFORMATIONAL", "refused")},
    "close-all": {"40.3.7": ("INFORMATIONAL", "")},
    "no-end": {"40.4.1": ("close:FAILED BY CLIENT", "close.server-closes-tcp-first")},
    "eos-abort": {"40.4.5": ("close:UNCLEAN", "close.must-reply")},
    "eos-close": {"40.4.2": ("close:INFORMATIONAL", "closed by the peer")},
    "goaway-ends": {"40.4.4": ("INFORMATIONAL", "")},
    "client-setting": {"40.1.5": ("INFORMATIONAL", "")},
    "get-kills": {"40.3.8": ("INFORMATIONAL", "")},
}
LEVELS = {"FAILED": "MUST", "close:UNCLEAN": "MUST", "close:FAILED BY CLIENT": "SHOULD"}


def _run(url: str, cases: list[str], out: Path, *extra: str) -> tuple[int, dict[str, dict[str, object]]]:
    code = main(["run", "--quiet", "--http2", "--server", url, "--out", str(out), *extra, "--cases", *cases])
    index = json.loads((out / "index.json").read_text())["testee"]
    return code, index


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_mutant_is_caught(name: str, tmp_path: Path) -> None:
    caught = CAUGHT[name]
    with spawn_server(["-m", "testees.mutants.h2_mutants", name]) as (url, _):
        # no-window stalls its case until the case's budget: --timeout caps it at 10 s
        _code, index = _run(url, sorted(caught), tmp_path, *(["--timeout", "10"] if name == "no-window" else []))
    for case_id, (verdict, words) in caught.items():
        entry = index[case_id]
        got = f"close:{entry['behaviorClose']}" if verdict.startswith("close:") else entry["behavior"]
        assert got == verdict, (case_id, entry)
        report = json.loads((tmp_path / str(entry["reportfile"])).read_text())
        assert words in json.dumps(report), (case_id, report["result"], report["resultClose"])
        if verdict in LEVELS:
            assert report.get("level") == LEVELS[verdict], (case_id, report.get("level"))


def test_no_flow_is_caught_however_the_reads_are_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite reads the mutant's burst of DATA 1 KiB at a time: window given back after each
    read would let the burst fit (the verdict then hung on how the kernel cut the reads, and
    40.1.6 came out OK now and then); given back only after a PING round trip, the burst is
    counted against the window the mutant knew of."""
    read = asyncio.StreamReader.read

    async def small_reads(self: asyncio.StreamReader, n: int = -1) -> bytes:
        data = await read(self, 1024 if n < 0 else min(n, 1024))
        for _ in range(3):  # the tasks that read the stream run before the next piece is read
            await asyncio.sleep(0)
        return data

    monkeypatch.setattr(asyncio.StreamReader, "read", small_reads)  # this process only: the suite's
    with spawn_server(["-m", "testees.mutants.h2_mutants", "no-flow"]) as (url, _):
        _code, index = _run(url, ["40.1.6", "40.3.2", "40.3.5"], tmp_path)
    assert {case: entry["behavior"] for case, entry in index.items()} == dict.fromkeys(
        ["40.1.6", "40.3.2", "40.3.5"], "FAILED")


def test_every_case_of_group_40_catches_a_mutant() -> None:
    ids = {c.id for c in load_catalogue().cases if c.group == "40"}
    assert len(ids) >= 40
    assert ids - {c for caught in CAUGHT.values() for c in caught} == set()


def test_reference_passes_group_40(tmp_path: Path) -> None:
    with spawn_server(["-m", "conformance", "echo-server", "--http2", "--deflate", "--port", "0"]) as (url, _):
        code, index = _run(url, ["40.*"], tmp_path)
    assert code == 0
    assert len(index) >= 40
    assert {k: (v["behavior"], v["behaviorClose"]) for k, v in index.items()} == dict.fromkeys(index, ("OK", "OK"))
