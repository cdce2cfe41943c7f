"""Atheris harness for the case loader. Invariant: any file content loads or raises CaseFileError
with the file's path — never another exception."""

from __future__ import annotations

__all__: list[str] = ["check", "main", "test_one_input"]  # run as a program (atheris / a child process), not imported

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["conformance"]):
    from conformance.catalog.load import load_file
    from conformance.errors import CaseFileError

_DIR = Path(tempfile.mkdtemp(prefix="loader-fuzz-"))
_SEED = b"group: '1'\ncases:\n  - id: '1.1'\n    title: t\n    rfc: [x]\n    steps: [{send: {opcode: text}}]\n"


def check(data: bytes) -> None:
    path = _DIR / "1_fuzz.yaml"
    path.write_bytes(data)
    try:
        load_file(path)
    except CaseFileError as exc:
        assert exc.path == str(path), exc


def test_one_input(raw: bytes) -> None:
    check(raw)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
