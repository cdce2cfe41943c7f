"""The engine's atheris harness: a short real run, and proof that it catches a chunking bug."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conformance.engine.connection import Connection
from conformance.wire.frames import Frame, Opcode, serialize_frame

pytestmark = pytest.mark.slow


def test_short_fuzz_run_finds_nothing(tmp_path: object) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.fuzz.engine_harness", "-runs=4000", "-seed=1"],
        capture_output=True, text=True, timeout=240, cwd=str(tmp_path), check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Done 4000 runs" in proc.stderr


def test_harness_catches_a_chunk_dependent_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.fuzz import engine_harness

    original = Connection.receive_data

    def lossy(self: Connection, data: bytes) -> None:  # a mutant: loses an octet on split reads
        original(self, data[:-1] if len(data) > 3 else data)

    monkeypatch.setattr(Connection, "receive_data", lossy)
    frame = serialize_frame(Frame(Opcode.TEXT, b"hello"), mask=b"abcd")
    engine_harness.check(b"", [])  # nothing to lose: the mutant and the engine agree
    with pytest.raises(AssertionError, match="chunking changed the result"):
        engine_harness.check(frame, [3])
