"""The CPU-load helper really loads the CPU and leaves no process behind, even when the block fails."""

from __future__ import annotations

import os
import time

import pytest

from testees.load import cpu_load


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_busy_processes_spin_and_are_gone_after() -> None:
    with cpu_load(2) as pids:
        assert len(set(pids)) == 2 and all(_alive(p) for p in pids)
        start = [_cpu_seconds(p) for p in pids]
        while not all(_cpu_seconds(p) > s for p, s in zip(pids, start, strict=True)):
            time.sleep(0.05)  # each one uses CPU time; the test's own timeout bounds this
    assert not any(_alive(p) for p in pids)


def test_busy_processes_are_stopped_when_the_block_raises() -> None:
    seen: list[int] = []
    with pytest.raises(RuntimeError, match="boom"), cpu_load(1) as pids:
        seen.extend(pids)
        raise RuntimeError("boom")
    assert seen and not any(_alive(p) for p in seen)


def test_zero_is_no_load_and_negative_is_refused() -> None:
    with cpu_load(0) as pids:
        assert pids == []
    with pytest.raises(ValueError, match="0 or more"), cpu_load(-1):
        pass
