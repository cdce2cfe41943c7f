"""Running the real `conformance` command in tests: a subprocess, or `main(argv)` with captured output,
and the testee servers of testees/."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from conformance.cli import main

ROOT = Path(__file__).resolve().parents[2]
MUTANT_SERVER = "testees.mutants.serve"


@dataclasses.dataclass
class Ran:
    code: int
    out: str
    err: str


def run_main(*argv: str) -> Ran:
    """`main(argv)` in this process, stdout and stderr captured (no terminal: no colour, no bar)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's --help, --version and usage errors
            code = int(exc.code or 0)
    return Ran(code, out.getvalue(), err.getvalue())


def run_cli(*argv: str, cwd: Path | None = None, timeout: float = 300) -> Ran:
    """`python -m conformance argv...` as a user runs it."""
    p = subprocess.run([sys.executable, "-m", "conformance", *argv], cwd=cwd or ROOT, capture_output=True,
                       text=True, timeout=timeout, check=False)
    return Ran(p.returncode, p.stdout, p.stderr)


@contextlib.contextmanager
def server(argv: Sequence[str]) -> Iterator[str]:
    """A server process that prints `listening on URL`; yields the URL."""
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, f"{argv} did not start: {line!r}"
        yield line.split()[-1]
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def mutant(name: str) -> contextlib.AbstractContextManager[str]:
    return server(["-m", MUTANT_SERVER, name])


def reference(*extra: str) -> contextlib.AbstractContextManager[str]:
    return server(["-m", "conformance", "echo-server", "--port", "0", *extra])


def one_line_error(r: Ran) -> str:
    """The single stderr line of a failed command (asserting there is exactly one, no traceback)."""
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert "Traceback" not in r.err, r.err
    assert len(lines) == 1, r.err
    return lines[0]
