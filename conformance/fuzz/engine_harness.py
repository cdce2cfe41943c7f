"""Atheris harness for the engine. Invariant: any input is parsed or fails the connection with a
documented rule (never an exception), and chunking it differently gives the same events and the
same reply octets.

Run with `make fuzz-engine` (SECONDS_BUDGET=60 by default) or
`python -m conformance.fuzz.engine_harness -runs=N`.
"""

from __future__ import annotations

__all__: list[str] = ["check", "main", "test_one_input"]  # run as a program (atheris / a child process), not imported

import sys

import atheris

with atheris.instrument_imports(include=["conformance"]):
    from conformance.engine import events as ev
    from conformance.engine.connection import Connection, Role


def _summary(events: list[ev.Event]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for e in events:
        if isinstance(e, (ev.Failure, ev.Violation)):
            out.append((type(e).__name__, e.rule.id))
        elif isinstance(e, ev.CloseReceived):
            out.append(("close", e.code, e.reason))
        elif isinstance(e, ev.Message):
            out.append(("message", int(e.opcode), e.data, e.text))
        else:
            out.append((type(e).__name__, getattr(e, "data", None)))
    return out


def _run(data: bytes, cuts: list[int], **kw: object) -> tuple[list[tuple[object, ...]], bytes]:
    conn = Connection(Role.SERVER, **kw)  # type: ignore[arg-type]
    events: list[ev.Event] = []
    prev = 0
    for c in [*cuts, len(data)]:
        if c > prev:
            conn.receive_data(data[prev:c])
            events.extend(conn.events())
        prev = c
    return _summary(events), conn.data_to_send()


def test_one_input(raw: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(raw)
    small_limit = fdp.ConsumeBool()
    ncuts = fdp.ConsumeIntInRange(0, 8)
    cut_seeds = [fdp.ConsumeIntInRange(0, 1 << 16) for _ in range(ncuts)]
    data = fdp.ConsumeBytes(fdp.remaining_bytes())
    check(data, sorted({s % (len(data) + 1) for s in cut_seeds}), small_limit)


def check(data: bytes, cuts: list[int], small_limit: bool = False) -> None:
    """The invariant, for one input and one way of cutting it."""
    kw = {"max_message": 300 if small_limit else 1 << 20}
    whole = _run(data, [], **kw)
    split = _run(data, cuts, **kw)
    bytewise = _run(data, list(range(1, len(data))), **kw) if len(data) < 512 else split
    if not whole == split == bytewise:
        raise AssertionError(f"chunking changed the result for {data.hex()} cut at {cuts}:\n"
                             f"{whole}\n{split}\n{bytewise}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
