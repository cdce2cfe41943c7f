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
