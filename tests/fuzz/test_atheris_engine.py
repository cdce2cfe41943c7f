"""`conformance fuzz --impl NAME --engine atheris`: the differential oracle, the frame-aware mutator,
minimisation and export, and end to end against the reference and against broken adapters."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.catalog.load import load_file
from conformance.catalog.model import CloseExpect, Observation
from conformance.catalog.payload import PayloadSpec
from conformance.cli import main
from conformance.fuzz.atheris_engine import case_from_input, minimise, mutate, seed_inputs
from conformance.fuzz.differential import compare, split_frames
from conformance.targets.inprocess import ADAPTERS
from conformance.wire.frames import Frame, Opcode, serialize_frame
from testees.mutants import adapters as mutant_adapters

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("impl", sorted(ADAPTERS))
def test_seed_inputs_agree_with_every_shipped_adapter(impl: str) -> None:
    for data in seed_inputs():
        finding, _, _ = compare(ADAPTERS[impl], data)
        assert finding is None, (data.hex(), str(finding))


def test_random_mutations_of_the_reference_never_disagree() -> None:
    """The engine as a library must agree with the engine as oracle on anything the mutator makes."""
    rng = random.Random(7)
    corpus = seed_inputs()
    for i in range(1500):
        data = mutate(rng.choice(corpus), 4096, rng.randrange(1 << 30))
        finding, _, _ = compare(ADAPTERS["reference"], data)
        assert finding is None, (i, data.hex(), str(finding))
        corpus.append(data)


@pytest.mark.parametrize(("mutant", "data", "kind"), [
    ("no_pong", "00" "898037fa213d", "pongs"),
    ("ignores_rsv", "00" "c18137fa213d76", "messages"),
    ("crashes", "00" "898037fa213d", "crash"),
    ("utf8_as_1002", "00" "818137fa213dc8", "ending"),
])
def test_the_oracle_catches_each_mutant(mutant: str, data: str, kind: str) -> None:
    finding, _, _ = compare(getattr(mutant_adapters, mutant), bytes.fromhex(data))
    assert finding is not None and finding.kind == kind
    assert compare(ADAPTERS["reference"], bytes.fromhex(data))[0] is None


def test_rfc_latitude_is_not_a_finding() -> None:
    """A length in a longer form than needed, and a message cut short inside a deflate block: the
    RFCs let a receiver accept or reject both, so neither choice is reported."""
    key = b"\x37\xfa\x21\x3d"
    nonminimal = b"\x00" + serialize_frame(Frame(Opcode.TEXT, b"Hello"), mask=key, length_form=16)
    assert compare(ADAPTERS["reference"], nonminimal)[0] is None  # accepts it
    assert compare(lambda: ADAPTERS["reference"](reject_non_minimal=True), nonminimal)[0] is None  # type: ignore[call-arg]
    empty_compressed = b"\x01" + serialize_frame(Frame(Opcode.TEXT, b"", rsv1=True), mask=key)
    assert compare(ADAPTERS["reference"], empty_compressed)[0] is None  # rejects it (1007)
    assert compare(ADAPTERS["wsproto"], empty_compressed)[0] is None  # delivers an empty text


def test_mutations_stay_within_size_and_frames() -> None:
    rng = random.Random(1)
    for _ in range(500):
        src = rng.choice(seed_inputs())
        out = mutate(src, 200, rng.randrange(1 << 30))
        assert 0 < len(out) <= 200
        assert b"".join(split_frames(out[1:])) == out[1:] or len(out) == 200  # whole frames unless cut by max_size


def test_minimise_keeps_the_signature_and_drops_noise() -> None:
    noisy = bytes.fromhex("00" "818537fa213d7f9f4d5158" "898037fa213d" "828237fa213d0102")
    factory = mutant_adapters.no_pong
    finding, _, _ = compare(factory, noisy)
    assert finding is not None
    small = minimise(factory, noisy, finding.signature)
    assert split_frames(small[1:]) == [bytes.fromhex("898037fa213d")]
    assert compare(factory, small)[0].signature == finding.signature  # type: ignore[union-attr]


def test_exported_case_is_a_valid_case_file(tmp_path: Path) -> None:
    from conformance.fuzz.hypo import write_found

    key = b"\x37\xfa\x21\x3d"
    data = b"\x00" + b"".join(serialize_frame(f, mask=key) for f in (
        Frame(Opcode.TEXT, b"\xce", fin=False), Frame(Opcode.PING), Frame(Opcode.CONT, b"\xff")))
    write_found(tmp_path / "90_x.yaml", [case_from_input(data, 1, "test")])
    (case,), _ = load_file(tmp_path / "90_x.yaml")
    assert [o.kind for o in case.expect.ok] == ["pong"]  # the ping comes before the bad octet
    assert case.close.by == "peer" and list(case.close.codes) == [1007] and case.rule == "utf8.text-invalid"


def test_reference_end_to_end_has_no_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["fuzz", "--impl", "reference", "--engine", "atheris", "--seconds", "6", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "exec/s" in out and not list(tmp_path.glob("*.yaml"))
    assert any((tmp_path / "corpus" / "reference").iterdir())  # the corpus persists for the next run


@pytest.mark.parametrize("mutant", ["no_pong", "ignores_rsv", "crashes"])
def test_mutant_found_exported_and_replayed(mutant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"testees.mutants.adapters:{mutant}"
    found = tmp_path / "found"
    assert main(["fuzz", "--impl", spec, "--engine", "atheris", "--seconds", "8", "--out", str(found)]) == 1
    assert "disagreement" in capsys.readouterr().out
    files = sorted(found.glob("90_atheris_*.yaml"))
    assert files and all(f.with_suffix(".input").is_file() for f in files)
    # the export fails against the mutant and passes against the reference
    assert main(["run", "--quiet", "--impl", spec, "--cases-dir", str(found), "--out", str(tmp_path / "bad")]) == 1
    assert main(["run", "--quiet", "--impl", "reference", "--cases-dir", str(found), "--out", str(tmp_path / "ok")]) == 0
    index = json.loads((tmp_path / "ok" / "index.json").read_text())["reference"]
    assert index and all(v["behavior"] == "OK" for v in index.values())


def test_atheris_needs_an_in_process_target(capsys: pytest.CaptureFixture[str]) -> None:
    code = subprocess.run([sys.executable, "-m", "conformance", "fuzz", "--server", "ws://127.0.0.1:9/",
                           "--engine", "atheris"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert code.returncode == 2 and "--impl" in code.stderr and "Traceback" not in code.stderr


@pytest.mark.parametrize(("impl", "inside", "outside"), [
    ("reference", "conformance.engine.connection", "conformance.fuzz.differential"),
    ("wsproto", "wsproto.frame_protocol", "wsproto.handshake"),
])
def test_the_fuzzing_process_instruments_the_target_not_the_handshake(impl: str, inside: str, outside: str,
                                                                      tmp_path: Path) -> None:
    """Coverage only guides the fuzzer through code imported under instrumentation: the engine as
    `--impl reference` was once imported before it, and libFuzzer saw 21 edges in all."""
    (tmp_path / "f").mkdir()
    (tmp_path / "c").mkdir()
    done = subprocess.run([sys.executable, "-m", "conformance.fuzz.atheris_child", impl, str(tmp_path / "f"),
                           str(tmp_path / "c"), "-runs=300", "-seed=1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert f"Instrumenting {inside}\n" in said and f"Instrumenting {outside}\n" not in said, said
    edges = [int(line.split("cov: ")[1].split()[0]) for line in said.splitlines() if "DONE" in line and "cov: " in line]
    assert edges and edges[0] > 200, said


def test_echoing_the_clients_close_is_one_signature_whatever_the_code() -> None:
    """websockets handles a close in the same read before its UTF-8 check: it echoes the close code
    the fuzzer chose instead of failing with 1007. One bug, so one signature for every code."""
    from conformance.fuzz.differential import client_frame

    signatures = set()
    for code in (1000, 1003, 1011, 4000):
        data = bytes([0]) + client_frame(1, b"\xba") + client_frame(8, code.to_bytes(2, "big"))
        finding, _, _ = compare(ADAPTERS["websockets"], data)
        assert finding is not None and finding.kind == "ending", (code, finding)
        signatures.add(finding.signature)
    assert signatures == {("ending", "utf8.text-invalid", "answers the client's close")}


def test_an_exported_case_allows_a_server_that_rejects_a_non_minimal_length() -> None:
    """RFC 6455 §5.2 binds the sender: a server may accept a 16-bit length for 2 octets or fail
    the connection over it, so the exported case may not call the second FAILED."""
    from conformance.fuzz.differential import client_frame

    case = case_from_input(bytes([0]) + client_frame(1, b"hi", form=16), 1, "test")
    assert case.expect.ok == (Observation("text", PayloadSpec("literal", b"hi")),) and case.expect.informational == ()
    assert case.close == CloseExpect("either", (1000, 1002), False)
