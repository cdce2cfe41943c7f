"""The fuzzing process that `conformance fuzz --engine atheris` starts (libFuzzer's loop):

    python -m conformance.fuzz.atheris_child SPEC FINDINGS_DIR CORPUS_DIR [libFuzzer flags]

Coverage instrumentation applies to modules imported after it is switched on, so this module
imports nothing of the suite before that: with `--impl reference` the engine is the target and
must be imported instrumented (it is also the oracle, the same code); with a library only the
library is instrumented and the oracle runs at full speed.
"""

from __future__ import annotations

__all__: list[str] = ["instrumented", "main"]  # run as a program (atheris / a child process), not imported

import hashlib
import sys
from pathlib import Path

# What gets coverage instrumentation, per adapter: (packages, modules of them left out). Atheris
# selects whole top-level packages; the modules left out hold the opening handshake (the same fixed
# request every input), event and exception classes: instrumenting them costs time and finds nothing.
_INSTRUMENTED: dict[str, tuple[list[str], list[str]]] = {
    "wsproto": (["wsproto"], ["wsproto.handshake", "wsproto.events", "wsproto.utilities", "wsproto.typing"]),
    "websockets": (["websockets"], ["websockets.server", "websockets.http11", "websockets.headers",
                                    "websockets.datastructures", "websockets.exceptions", "websockets.imports",
                                    "websockets.typing", "websockets.utils", "websockets.uri", "websockets.version"]),
    "reference": (["conformance"], ["conformance.fuzz.atheris_engine", "conformance.fuzz.differential",
                                    "conformance.targets.inprocess", "conformance.engine.handshake",
                                    "conformance.wire.http", "conformance.errors"]),
}


def instrumented(spec: str) -> tuple[list[str], list[str]]:
    """(packages to instrument, modules of them to leave out) for an adapter spec; a user's own
    adapter (`module:factory`) gets its whole top-level package instrumented."""
    return _INSTRUMENTED.get(spec, ([spec.partition(":")[0].split(".")[0]], []))


def main(argv: list[str]) -> None:
    import atheris

    spec, findings = argv[1], Path(argv[2])
    include, exclude = instrumented(spec)
    with atheris.instrument_imports(include=include, exclude=exclude):
        from conformance.fuzz.atheris_engine import mutate, seed_inputs
        from conformance.fuzz.differential import compare
        from conformance.targets.inprocess import load_adapter

        factory = load_adapter(spec)
        for seed in seed_inputs():  # lazy imports inside the library happen here, instrumented
            compare(factory, seed)
    seen: set[tuple[str, ...]] = set()

    def test_one_input(data: bytes) -> None:
        finding, _, _ = compare(factory, data)
        if finding is not None and finding.signature not in seen:
            seen.add(finding.signature)
            name = hashlib.sha1(data).hexdigest()[:16]
            (findings / f"{name}.bin").write_bytes(data)
            (findings / f"{name}.txt").write_text(str(finding), encoding="utf-8")

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        return mutate(data, max_size, seed, atheris.Mutate)

    atheris.Setup([argv[0], *argv[3:]], test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
