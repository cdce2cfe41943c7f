"""`--spec FILE` reads Autobahn's fuzzingclient.json / fuzzingserver.json."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import mutant, one_line_error, reference, run_main


def write(tmp_path: Path, spec: dict[str, object]) -> Path:
    f = tmp_path / "fuzzingclient.json"
    f.write_text(json.dumps(spec), encoding="utf-8")
    return f


def test_fuzzingclient_servers_cases_excludes_and_outdir(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "servers"
    with reference() as good, mutant("accepts-reserved-opcodes") as bad:
        spec = write(tmp_path, {
            "options": {"failByDrop": False}, "outdir": str(out),
            "servers": [{"agent": "good", "url": good}, {"agent": "bad", "url": bad, "options": {"version": 18}}],
            "cases": ["1.1.*", "4.1.*"], "exclude-cases": ["1.1.8"],
            "exclude-agent-cases": {"ba*": ["4.1.*"], "nobody": ["1.1.1"]},
        })
        r = run_main("run", "--spec", str(spec))
    assert r.code == 0, r.out + r.err  # the bad server's failing cases are excluded for it
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert set(index) == {"good", "bad"}
    assert set(index["good"]) == {f"1.1.{i}" for i in range(1, 8)} | {f"4.1.{i}" for i in range(1, 6)}
    assert set(index["bad"]) == {f"1.1.{i}" for i in range(1, 8)}
    assert "ignoring Autobahn settings that change nothing here: options" in r.err


def test_without_the_agent_exclusion_the_bad_server_fails(tmp_path: Path) -> None:
    with mutant("accepts-reserved-opcodes") as bad:
        spec = write(tmp_path, {"outdir": str(tmp_path / "o"), "servers": [{"agent": "bad", "url": bad}],
                                "cases": ["4.1.1"]})
        assert run_main("run", "--spec", str(spec)).code == 1


def test_a_bad_spec_is_one_line_naming_the_file(tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text('{"servers": [{"agent": "x"}]}', encoding="utf-8")
    r = run_main("run", "--spec", str(f))
    assert r.code == 2 and "s.json" in one_line_error(r) and "servers[0]" in r.err
    f.write_text('{"cases": "1.*"', encoding="utf-8")
    r = run_main("run", "--spec", str(f))
    assert r.code == 2 and "s.json:1" in one_line_error(r)
    r = run_main("run", "--spec", str(tmp_path / "missing.json"))
    assert r.code == 2 and "missing.json" in one_line_error(r)


def test_fuzzingserver_json_sets_where_serve_listens_and_its_cases(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.cli.helpers import ROOT, run_cli

    spec = tmp_path / "fuzzingserver.json"
    spec.write_text(json.dumps({"url": "ws://127.0.0.1:0", "outdir": str(tmp_path / "clients"),
                                "cases": ["1.1.1", "2.*"], "exclude-cases": ["2.2*", "2.3", "2.4", "2.5", "2.6",
                                                                             "2.7", "2.8", "2.9", "2.1?"],
                                "exclude-agent-cases": {}}), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "conformance", "serve", "--spec", str(spec)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "serving 2 client cases; listening on ws://127.0.0.1:" in line, line
        url = line.split()[-1]
        assert not url.endswith(":0") and not url.endswith(":80")
        assert run_cli("echo-client", "--url", url, "--agent", "ref", timeout=120).code == 0
    finally:
        proc.send_signal(2)
        proc.communicate(timeout=30)
    index = json.loads((tmp_path / "clients" / "index.json").read_text(encoding="utf-8"))
    assert set(index["ref"]) == {"1.1.1", "2.1"}
