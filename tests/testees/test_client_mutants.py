"""Every client case (groups 20-22) catches a mutant client of testees/clients/mutant_clients.py,
and the reference client passes them all."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.catalog.load import load_catalogue
from testees.clients.mutant_clients import CATCHES

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
CLIENT_GROUPS = ("20", "21", "22")


def _client_cases() -> list[str]:
    return [c.id for c in load_catalogue(ROOT / "cases").cases if c.group in CLIENT_GROUPS]


def _run(client: str, agent: str, globs: tuple[str, ...], out: Path) -> dict[str, dict[str, object]]:
    argv = [PY, "-m", "conformance", "run", "--quiet", "--client", client, "--agent", agent,
            "--out", str(out), "--wait", "1"]
    for g in globs:
        argv += ["--cases", g]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    index = json.loads((out / "index.json").read_text())[agent]
    return {cid: json.loads((out / e["reportfile"]).read_text()) for cid, e in index.items()}


def test_every_client_case_has_a_mutant() -> None:
    ids = _client_cases()
    assert len(ids) >= 100
    uncovered = [c for c in ids if not any(fnmatch.fnmatchcase(c, g) for gs in CATCHES.values() for g in gs)]
    assert uncovered == []


@pytest.mark.parametrize("kind", sorted(CATCHES))
def test_the_mutant_is_caught_by_its_cases(kind: str, tmp_path: Path) -> None:
    globs = CATCHES[kind]
    # {authurl}: the suite's URL with user info, so that every mutant has credentials a redirect could leak
    got = _run(f"{PY} -m testees.clients.mutant_clients {kind} {{authurl}} {{agent}}", kind, globs, tmp_path / kind)
    want = [c for c in _client_cases() if any(fnmatch.fnmatchcase(c, g) for g in globs)]
    assert sorted(got) == sorted(want)
    passed = {c: r["result"] for c, r in got.items() if r["behavior"] == "OK" and r["behaviorClose"] == "OK"}
    assert passed == {}


def test_the_reference_client_passes_every_client_case(tmp_path: Path) -> None:
    globs = tuple(f"{g}.*" for g in CLIENT_GROUPS)
    got = _run(f"{PY} -m conformance echo-client --url {{url}} --agent {{agent}}", "reference", globs, tmp_path / "ref")
    assert len(got) == len(_client_cases())
    bad = {c: (r["behavior"], r["behaviorClose"], r["result"]) for c, r in got.items()
           if r["behavior"] not in ("OK", "INFORMATIONAL") or r["behaviorClose"] not in ("OK", "INFORMATIONAL")}
    assert bad == {}


def test_a_normal_answer_to_an_undefined_close_code_is_ok(tmp_path: Path) -> None:
    """1000 in answer to 2999 (reserved by §7.4.2) is NON-STRICT (§10.7); in answer to 5000 or
    65535, which no range of §7.4.2 reaches and no sentence of the RFC covers, it is OK, as 7.13
    judges the same answer of a server (lax-close-payload answers every close with 1000)."""
    client = f"{PY} -m testees.clients.mutant_clients lax-close-payload {{url}} {{agent}}"
    got = _run(client, "answers-1000", ("22.1.9", "22.1.1[01]"), tmp_path / "a")
    assert {c: (r["behavior"], r["behaviorClose"]) for c, r in got.items()} == {
        "22.1.9": ("NON-STRICT", "WRONG CODE"), "22.1.10": ("OK", "OK"), "22.1.11": ("OK", "OK")}
