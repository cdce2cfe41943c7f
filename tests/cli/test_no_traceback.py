"""No input a user can give prints a traceback (issue 15, "done when"): over generated argument lists
and generated contents of case files, index.json, baselines and Autobahn specs, `conformance` exits
0-3, and bad input (exit 2) is one line on stderr.

Each example runs in its own temporary directory as the working directory, so a run without --out
writes its default report directory (reports/run) there, never into the checkout that other tests
(and xdist workers) share. No argument list reaches a live target: `--server ''` once meant "no
target" and ran a real case against the embedded reference server into the shared reports/run,
and `run --spec FILE` with a generated spec that names no servers ran its selection (the whole
catalogue when it selects nothing) against the embedded reference: minutes on a quiet machine,
many more under load. No example may reach a live target; a report of agent `reference` proves one did.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.helpers import run_main

VALID_CASE = """group: "99"
title: Mine
cases:
  - id: "99.1"
    title: one text message
    rfc: ["RFC 6455 §5.6"]
    steps:
      - send_message: {opcode: text, payload: hello}
    expect:
      ok: [{text: hello}]
    close: {by: us, codes: [1000]}
"""
VALID_INDEX = json.dumps({"testee": {"1.1.1": {"behavior": "OK", "behaviorClose": "OK", "duration": 1,
                                               "remoteCloseCode": 1000, "reportfile": "testee_case_1_1_1.json"}}})
VALID_BASELINE = "testee:\n  1.1.1: {behavior: FAILED, behaviorClose: OK, reason: x}\n"
VALID_SPEC = json.dumps({"servers": [{"agent": "a", "url": "ws://127.0.0.1:1/"}], "cases": ["1.1.1"]})
VALID_REPORT = json.dumps({"agent": "testee", "id": "1.1.1", "isServer": True, "wirelog": [
    {"t": 0, "dir": "tx", "kind": "octets", "len": 6, "hex": "474554202f20", "text": "opening handshake request"}]})
UNREACHABLE = "ws://127.0.0.1:1/"  # nothing listens on port 1: a valid run ends at once with exit 3

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                           max_leaves=8)


@st.composite
def contents(draw: st.DrawFn, valid: str) -> bytes:
    """A valid file, the same file cut or spliced with junk, JSON values, or arbitrary bytes."""
    kind = draw(st.sampled_from(["valid", "cut", "splice", "json", "bytes"]))
    if kind == "valid":
        return valid.encode()
    if kind == "cut":
        return valid.encode()[: draw(st.integers(0, len(valid)))]
    if kind == "splice":
        at = draw(st.integers(0, len(valid)))
        return (valid[:at] + draw(st.text(max_size=12)) + valid[at + draw(st.integers(0, 10)):]).encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    return draw(st.binary(max_size=40))


TOKENS = ["--cases", "--exclude", "--rfc", "--rule", "--level", "--agent", "--jobs", "--timeout", "--budget",
          "--retries", "--strict", "--json", "-q", "-v", "--format", "1.1.1", "1.*", "99.*", "6455 §5.5", "close.*",
          "MUST", "0", "-1", "x", "", "--", "--version", "--max-echo", "--wait", "markdown"]
free_args = st.lists(st.sampled_from(TOKENS) | st.text(max_size=6), max_size=4)


@st.composite
def command_lines(draw: st.DrawFn, d: Path) -> list[str]:
    """A command with file arguments pointing at the generated files in `d`, and extra tokens."""
    files = {"cases": str(d / "cases"), "index": str(d / "rep"), "baseline": str(d / "base.yaml"),
             "spec": str(d / "spec.json"), "report": str(d / "testee_case_1_1_1.json"), "junit": str(d / "rep" / "j.xml"), "missing": str(d / "nope")}
    form = draw(st.sampled_from([
        ["cases", "list"], ["cases", "check", "--cases-dir", files["cases"]], ["report", files["index"]],
        ["baseline", files["index"]], ["diff", files["index"], files["index"]], ["diff", files["index"], files["missing"]],
        ["run", "--server", UNREACHABLE, "--cases-dir", files["cases"], "--cases", "99.1"],
        ["run", "--server", UNREACHABLE, "--cases", "1.1.1", "--out", files["index"], "--baseline", files["baseline"]],
        ["run", "--server", UNREACHABLE, "--cases", "1.1.1", "--junit", files["junit"], "--out", files["index"]],
        # --spec with --server: a spec without servers (most generated ones) would otherwise run
        # its selection, the whole catalogue at worst, against the embedded reference server
        ["run", "--resume", files["index"], "--server", UNREACHABLE], ["run", "--spec", files["spec"], "--server", UNREACHABLE],
        ["replay", files["report"], "--server", UNREACHABLE], ["replay", files["missing"], "--server", UNREACHABLE],
        ["replay", files["report"], "--server", draw(st.text(max_size=20))],
        ["run", "--server", draw(st.text(max_size=20)), "--cases", "1.1.1"], ["echo-client", "--url", UNREACHABLE,
                                                                             "--agent", "a"],
        ["bisect", "--git", files["missing"], "--good", "a", "--bad", "b", "--case", "1.1.1", "--server-cmd",
         draw(st.sampled_from(["x {port}", "x", "'", ""])), "--cache", files["missing"]],
    ]))
    return form + draw(free_args)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_traceback_and_one_line_for_bad_input(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "cases").mkdir()
        (d / "rep").mkdir()
        (d / "cases" / "99_mine.yaml").write_bytes(data.draw(contents(VALID_CASE), "case file"))
        (d / "rep" / "index.json").write_bytes(data.draw(contents(VALID_INDEX), "index.json"))
        (d / "base.yaml").write_bytes(data.draw(contents(VALID_BASELINE), "baseline"))
        (d / "spec.json").write_bytes(data.draw(contents(VALID_SPEC), "spec"))
        (d / "testee_case_1_1_1.json").write_bytes(data.draw(contents(VALID_REPORT), "case report"))
        argv = data.draw(command_lines(d), "argv")
        with contextlib.chdir(d):
            r = run_main(*argv)
        # the embedded reference server is the only live target a run can reach; its agent's reports
        live = sorted(p.name for p in d.glob("**/reference_case_*.json"))
    _check(argv, r.code, r.err)
    assert not live, (argv, "reached a live target:", live[:3])


def _check(argv: list[str], code: int, err: str) -> None:
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 1, 2, 3), (argv, code, err)
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("conformance: "), (argv, err)


@pytest.mark.parametrize("option", ["--server", "--client", "--impl", "--server-cmd"])
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_target_is_bad_usage_not_the_reference(option: str, value: str, tmp_path: Path) -> None:
    with contextlib.chdir(tmp_path):
        r = run_main("run", option, value, "--cases", "1.1.1")
    _check([option, value], r.code, r.err)
    assert r.code == 2 and "running" not in r.err, r.err
    assert not (tmp_path / "reports" / "run" / "index.json").exists()  # no case ran


BISECT = ["bisect", "--case", "1.1.1", "--server-cmd", "python -m server --port {port}"]


@pytest.mark.parametrize(("argv", "says"), [
    (["--pip", "no-such-package-conformance-4711", "--good", "1.0", "--bad", "2.0"], "lists no versions"),
    (["--pip", "wsproto", "--good", "1.3.2", "--bad", "1.0.0"], "must be older than --bad 1.0.0"),
    (["--pip", "wsproto", "--good", "1.0.0", "--bad", "7.7.7"], "--bad 7.7.7: not a version of wsproto"),
    (["--pip", "wsproto", "--good", "1.0.0", "--bad", "1.3.2", "--server-cmd", "python -m server"], "needs {port}"),
    (["--pip", "wsproto", "--good", "1.0.0", "--bad", "1.3.2", "--case", "77.77"], "77.77"),
    (["--pip", "wsproto", "--good", "1.0.0", "--bad", "1.3.2", "--build", "make"], "--build applies to --git only"),
    (["--git", "/nonexistent/repo", "--good", "a", "--bad", "b"], "--git /nonexistent/repo: no such directory"),
    (["--pip", "wsproto", "--good", "1.0.0", "--bad", "1.3.2", "--server-cmd", "'{port}"], "cannot be split"),
    (["--pip", "wsproto", "--good", "1.0.0", "--bad", "1.3.2", "--out", "/dev/null"], "--out /dev/null: is a file"),
])
def test_bisect_bad_input_is_one_line_and_exit_2(argv: list[str], says: str, tmp_path: Path) -> None:
    r = run_main(*BISECT, "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"), *argv)
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert r.code == 2 and len(lines) == 1 and lines[0].startswith("conformance: ") and says in lines[0], r.err
    assert not (tmp_path / "cache").exists()  # nothing installed before the input was found bad


def test_bisect_unreachable_registry_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for var in [v for v in os.environ if v.startswith("PIP_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # pip's own settings say where the index is
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    r = run_main(*BISECT, "--pip", "wsproto", "--good", "1.0.0", "--bad", "1.3.2", "--cache", str(tmp_path))
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert r.code == 2 and len(lines) == 1 and "cannot be reached" in lines[0], r.err
