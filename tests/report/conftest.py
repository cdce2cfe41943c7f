"""Real runs for the report tests: a correct server and a hostile one, into one directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.cli import main
from testees.peers.spawn import spawn_server

HOSTILE_AGENT = "<script>document.title='PWNED'</script>agent"


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    cases = ["--cases", "1.1.1", "1.1.2", "2.2", "2.5", "6.3.1", "6.4.1", "7.3.4", "7.9.1"]
    assert main(["run", "--quiet", "--out", str(out), "--agent", "reference", *cases]) == 0
    with spawn_server(["-m", "testees.peers.hostile_strings_server"]) as (url, _):
        code = main(["run", "--quiet", "--server", url, "--out", str(out), "--agent", HOSTILE_AGENT, *cases])
    assert code == 1  # the hostile server fails cases: a real failing run
    return out


MIXED_CASES = ["0.3.2", "1.1.1", "2.2", "9.1.1"]


@pytest.fixture(scope="session")
def mixed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One report with every kind of outcome: the reference (all OK); a server that never answers a
    close frame (behaviour OK, close UNCLEAN: a MUST broken by the close alone); a server that
    accepts any Sec-WebSocket-Version (a FAILED handshake case); and a run whose budget ran out
    while its first case waited on a server that stopped reading (the rest not run)."""
    out = tmp_path_factory.mktemp("mixed")
    base = ["run", "--quiet", "--out", str(out), "--cases", *MIXED_CASES]
    assert main([*base, "--agent", "reference"]) == 0
    with spawn_server(["-m", "testees.mutants.serve", "no-close-reply", "--port", "0"]) as (url, _):
        assert main([*base, "--server", url, "--agent", "noclose"]) == 1
    with spawn_server(["-m", "testees.mutants.serve", "no-version-check", "--port", "0"]) as (url, _):
        assert main([*base, "--server", url, "--agent", "anyversion"]) == 1
    with spawn_server(["-m", "testees.hostile.serve", "stop-reading", "--port", "0"]) as (url, _):
        # the first case waits out its 1 s timeout (the server never reads), so a 0.2 s budget is
        # spent before any other case starts, however fast or slow the machine is
        main([*base[:-len(MIXED_CASES)], "1.1.1", "1.2.1", "2.2", "--server", url, "--agent", "budget",
              "--jobs", "1", "--timeout", "1", "--budget", "0.2"])
    return out
