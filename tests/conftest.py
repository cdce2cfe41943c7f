"""Suite-wide test settings: the hypothesis profile, Ctrl-C for the processes tests start, and the
order in which xdist hands out files."""

from __future__ import annotations

import collections
import signal
from collections.abc import Sequence
from typing import Protocol, TypeVar

import pytest
from hypothesis import settings

__all__ = ["HEAVY_FIRST", "heavy_first"]

# No hypothesis deadline anywhere: how long one example takes depends on how busy the machine is
# (CI shares its cores), never on whether the code is right. Tests that must bound time say so.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

# A non-interactive shell starts a background job (`make test &`, `nohup .ci/run &`) with SIGINT
# ignored, and every process the tests start inherits that: a server a test stops with Ctrl-C
# (SIGINT) would then never stop. Give the tests' processes the Ctrl-C a terminal gives them.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# The files that take longest in `make test` (the sum of their tests' times in a junit report of
# `make test`, slowest first). `--dist loadfile` hands out whole files in collection order, so these
# start first and the short files fill in at the end, instead of one long file running alone on one
# worker while the other idles. A stale entry only changes the order, never what runs.
HEAVY_FIRST = (
    "tests/testees/test_client_mutants.py",
    "tests/testees/test_mutants.py",
    "tests/test_readme.py",
    "tests/runner/test_pytest_plugin.py",
    "tests/fuzz/test_hypothesis_fuzz.py",
    "tests/testees/test_hostile.py",
    "tests/testees/test_resource_mutants.py",
    "tests/fuzz/test_stateful.py",
    "tests/targets/test_tls.py",
    "tests/cli/test_pytest_plugin.py",
    "tests/runner/test_client_close_stable.py",
    "tests/cli/test_no_traceback.py",
    "tests/testees/test_h2_mutants.py",
    "tests/testees/test_stability.py",
    "tests/testees/test_peers.py",
    "tests/fuzz/test_atheris_engine.py",
    "tests/report/test_browser.py",
    "tests/testees/test_clients.py",
)


class _Item(Protocol):
    @property
    def nodeid(self) -> str: ...


T = TypeVar("T", bound=_Item)


def heavy_first(items: Sequence[T], heavy: Sequence[str] = HEAVY_FIRST) -> list[T]:
    """Files of `heavy` first, in its order; then the other files, those with more tests first (as
    xdist orders them by itself); the tests of a file stay together and in their order."""
    files: dict[str, list[T]] = collections.defaultdict(list)
    for item in items:
        files[item.nodeid.split("::", 1)[0]].append(item)
    rank = {path: n for n, path in enumerate(heavy)}
    order = sorted(files, key=lambda f: (rank.get(f, len(rank)), -len(files[f]) if f not in rank else 0))
    return [item for f in order for item in files[f]]


def pytest_configure(config: pytest.Config) -> None:
    # Keep the order below: xdist's own (more tests first) put the one-test files that run longest
    # last, where one worker ran them alone.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items[:] = heavy_first(items)
