"""The matrix driver's robustness run (testees/matrix/run.py --robustness): which servers, how started."""

from __future__ import annotations

import shlex

from testees.matrix import run


def _robust() -> list[run.Job]:
    return run.robustness_jobs(run.jobs([]))


def test_one_watched_run_per_server_with_compression_on() -> None:
    agents = [j.agent for j in _robust()]
    assert "reference-server-robustness" in agents
    assert all(a.endswith("-server-robustness") for a in agents)  # beside, not over, the ordinary runs
    assert not any("nodeflate" in a or "client" in a or "h2" in a for a in agents)


def test_testees_keep_their_library_limits_and_python_ones_are_capped() -> None:
    for job in _robust():
        argv = shlex.split(run.watched(job.argv)[1])
        assert "{port}" in argv and "0" not in argv[argv.index("--port") + 1 :][:1]
        assert ("--library-limits" in argv) == ("testees.peers." in " ".join(job.argv))
        if job.argv[0] == run.PY:
            assert argv[:2] == ["prlimit", f"--as={run.ROBUST_CAP}"]
        else:  # node: its V8 heap reserves more address space than any cap a Buffer would meet
            assert argv[0] == "node"


def test_library_limits_keep_the_library_default() -> None:
    # websockets refuses messages over 1 MiB by default (max_size); the matrix's testee lifts that
    import asyncio

    from conformance.runner.exact_limit import attempt
    from conformance.targets.tcp import ServerTarget
    from testees.peers.spawn import spawn_server

    for flag, want in (["--library-limits"], "refused 1009"), ([], "accepted"):
        with spawn_server(["-m", "testees.peers.websockets_server", *flag]) as (url, _proc):
            assert asyncio.run(attempt(ServerTarget.from_url(url), 2 << 20, 10))[0] == want
