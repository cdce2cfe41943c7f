"""The matrix: every implementation's echo server and testee client through the whole catalogue,
with compression on and off, plus the in-process adapters, into one report directory. Node's `ws`
(testees/peers/node/, installed there by `make node-deps`) runs beside the Python libraries.

python -m testees.matrix.run [--out reports/matrix] [--parallel 2] [--only NAME ...] [--max-echo 50 | --full]
                             [--robustness]

The default catalogue leaves the resource group (30) out (its verdicts rest on deadlines).
--robustness runs only the servers, each started and watched by the suite (--server-cmd), through
the whole group 30 (heavy variants too), so that their memory, CPU time and crashes are measured
(`make matrix-robustness`). There each server keeps its library's default size limits
(--library-limits: the findings are about a library as it ships), runs with compression on (30.5
and 30.9 need it), one at a time (--parallel 1 unless given), under an address-space cap of 2 GiB
for the Python ones (prlimit: a careless server meets a 4 GiB bomb with MemoryError instead of
taking the shared machine's memory), and its agent is named AGENT-robustness, so that it sits
beside the same server's ordinary run in the combined report.

Every case runs for every agent. By default the echo steps of the volume cases (groups 9, 12, 13:
up to 1000 messages of up to 128 KiB each) send at most 50 messages, which keeps the matrix within
a CI budget; each capped case says so in its report. --full sends Autobahn's whole volume.

Each run goes into OUT/runs/AGENT (so runs can go on side by side), then they are merged into OUT
with the agents side by side and OUT/index.html is written. Prints one line per agent and a table
at the end. Exit 0 when every run ran (cases failing is what the matrix is for), 3 when a testee
could not be started or a run broke down.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import functools
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
LIBS = ["websockets", "wsproto", "aiohttp", "tornado", "picows", "ws"]
NO_DEFLATE = {"picows"}  # no permessage-deflate support: compression "on" would be the same run
NODE_DIR = "testees/peers/node"  # ws's testees; runs start in ROOT, so the path stays relative


def version(lib: str) -> str:
    if lib == "ws":  # the version npm ci installed from the lock file
        try:
            return str(json.loads((ROOT / NODE_DIR / "node_modules/ws/package.json").read_text())["version"])
        except (OSError, ValueError, KeyError):
            return "missing"
    try:
        return importlib.metadata.version(lib)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def testees(lib: str, flag: list[str]) -> tuple[list[str], str]:
    """The echo server's argv and the client's command template of one library. Clients get the URL
    with user info ({authurl}), so that the redirect cases see whether Basic credentials leak."""
    if lib == "ws":
        return (["node", f"{NODE_DIR}/server.js", "--port", "0", *flag],
                f"node {NODE_DIR}/client.js {{authurl}} {{agent}} {' '.join(flag)}".strip())
    return ([PY, "-m", f"testees.peers.{lib}_server", "--port", "0", *flag],
            f"{{py}} -m testees.clients.{lib}_client {{authurl}} {{agent}} {' '.join(flag)}".strip())


@dataclasses.dataclass
class Job:
    agent: str
    kind: str  # server, client, impl
    argv: list[str]  # the server's whole argv, the client's command template, or the --impl name
    seconds: float = 0.0
    budget: float = 0.0  # seconds for the run (job_budget), set before it starts
    code: int | None = None
    note: str = ""


def jobs(only: list[str]) -> list[Job]:
    out: list[Job] = []
    for lib in ["reference", *LIBS]:
        if only and lib not in only and lib != "reference":
            continue
        tag = lib if lib == "reference" else f"{lib}-{version(lib)}"
        for comp in ([True] if lib in NO_DEFLATE else [True, False]):
            suffix = "" if comp or lib in NO_DEFLATE else "-nodeflate"
            flag = [] if comp else ["--no-compression"]
            if lib == "reference":
                server = [PY, "-m", "conformance", "echo-server", "--port", "0", *(["--deflate"] if comp else [])]
                client = "" if not comp else "{py} -m conformance echo-client --url {url} --agent {agent}"
            else:
                server, client = testees(lib, flag)
            out.append(Job(f"{tag}-server{suffix}", "server", server))
            if client:
                out.append(Job(f"{tag}-client{suffix}", "client", [client]))
        if lib in ("wsproto", "websockets"):
            out.append(Job(f"{tag}-sans-io", "impl", [lib]))
    out += browser_jobs(only)
    return out + h2_jobs(only) + h3_jobs(only)


def h2_jobs(only: list[str]) -> list[Job]:
    """WebSocket over HTTP/2 (RFC 8441, `run --http2`): the reference, and the real servers that are installed."""
    out = [Job("reference-server-h2", "server-h2", [PY, "-m", "conformance", "echo-server", "--http2", "--deflate",
                                                    "--port", "0"])]
    if (not only or "hypercorn" in only) and version("hypercorn") != "missing":
        out.append(Job(f"hypercorn-{version('hypercorn')}-server-h2", "server-h2",
                       [PY, "-m", "testees.peers.hypercorn_server", "--port", "0"]))
    if (not only or "nghttpx" in only) and shutil.which("nghttpx"):
        out.append(Job("nghttpx-reference-server-h2", "server-h2", [PY, "-m", "testees.peers.nghttpx_proxy", "--port", "0"]))
    apache = shutil.which("apache2") or shutil.which("apache2", path="/usr/sbin")
    if (not only or "apache" in only) and apache:
        out.append(Job(f"apache-{_apache_version(apache)}-reference-server-h2", "server-h2",
                       [PY, "-m", "testees.peers.apache_h2", "--port", "0"]))
    return out


def _apache_version(exe: str) -> str:
    """2.4.71 from `apache2 -v` ("Server version: Apache/2.4.71 (Debian)")."""
    try:
        out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    for word in out.split():
        if word.startswith("Apache/"):
            return word.split("/", 1)[1]
    return "unknown"


def h3_jobs(only: list[str]) -> list[Job]:
    """WebSocket over HTTP/3 (RFC 9220, `run --http3`): the reference, and hypercorn through aioquic.
    Both make a self-signed certificate per run (run with --insecure)."""
    out = [Job("reference-server-h3", "server-h3", [PY, "-m", "conformance", "echo-server", "--http3", "--deflate",
                                                    "--port", "0"])]
    if (not only or "hypercorn" in only) and version("hypercorn") != "missing" and version("aioquic") != "missing":
        # watched (--server-cmd), one case at a time: its HTTP/3 service dies after a normal close
        # (docs/findings.md), so the suite restarts it and reports the death on the case that caused it
        out.append(Job(f"hypercorn-{version('hypercorn')}-server-h3", "server-h3-watched",
                       [PY, "-m", "testees.peers.hypercorn_server", "--quic", "--port", "0"]))
    return out


def browser_jobs(only: list[str]) -> list[Job]:
    """Chromium and Firefox ESR, headless, through the client catalogue (when installed: make browser-deps)."""
    from conformance.targets.browser import agent_name, browser_command

    return [Job(agent_name(name).lower().replace(" ", "-"), "browser", [name])
            for name in ("chromium", "firefox") if (not only or name in only) and browser_command(name)]


def _start(argv: list[str], log: Path) -> tuple[subprocess.Popen[str], str]:
    """Start a server and read its `listening on URL` line. Everything else it writes goes to
    `log`: a pipe nobody reads fills up (64 KiB), and a server blocked writing its stderr there
    stops serving; hypercorn's tracebacks did that within the first minute of the matrix."""
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    with log.open("a", encoding="utf-8") as err:  # appending, as the stdout copy does
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"did not start: {line.strip()!r} {log.read_text(encoding='utf-8').strip()[-500:]}")
    threading.Thread(target=_copy, args=(proc.stdout, log), daemon=True).start()
    return proc, line.split()[-1]


def _copy(stream: IO[str], log: Path) -> None:
    """The rest of the server's stdout, appended to its log as it comes."""
    with log.open("a", encoding="utf-8") as out:
        for line in stream:
            out.write(line)
            out.flush()


ROBUST_CAP = 2 << 30  # octets of address space for a Python server of the robustness run


def watched(argv: list[str]) -> list[str]:
    """--server-cmd for a server argv that listens on `--port 0`: the suite picks the port. A testee
    keeps its library's limits and a Python one gets the address-space cap (see the docstring)."""
    import shlex

    at = argv.index("--port") + 1
    argv = [*argv[:at], "PORT", *argv[at + 1:]]
    if "testees.peers." in " ".join(argv):
        argv.append("--library-limits")
    if argv[0] == PY and shutil.which("prlimit"):
        argv = ["prlimit", f"--as={ROBUST_CAP}", "--", *argv]
    return ["--server-cmd", shlex.join(argv).replace("PORT", "{port}"), "--robustness"]


def robustness_jobs(todo: list[Job]) -> list[Job]:
    """The servers with compression on (picows has none), renamed AGENT-robustness."""
    return [dataclasses.replace(j, agent=f"{j.agent}-robustness") for j in todo
            if j.kind == "server" and not j.agent.endswith("-nodeflate")]


START_SECONDS = 120.0  # a run's own start and end: the catalogue loaded, the target reached, reports written
RESTART_SECONDS = 20.0  # a watched server's restart at most (WatchedServer's start_timeout)
_TRANSPORT = {"server-h2": "h2", "server-h3": "h3", "server-h3-watched": "h3"}


def job_cases(job: Job, robustness: bool) -> list[Any]:
    """The cases the job's run will have: the default catalogue of its side (or group 30 with
    --robustness), over its transport, as `conformance run` selects them."""
    from conformance.catalog.select import Selection, apply_selection
    from conformance.runner.h2_handshake import h2_inapplicable

    side = "client" if job.kind in ("client", "browser") else "server"
    cases = apply_selection(_catalogue(), Selection(), side)
    cases = [c for c in cases if (c.group == "30" if robustness else c.resources is None)]
    transport = _TRANSPORT.get(job.kind)
    if transport is None:
        return [c for c in cases if not c.transport]
    return [c for c in cases if not h2_inapplicable(c, transport)]


@functools.cache
def _catalogue() -> list[Any]:
    """The bundled catalogue's cases, loaded once."""
    from conformance.catalog.load import load_catalogue

    return list(load_catalogue(None).cases)


def job_budget(cases: list[Any], jobs_per_run: int, max_echo: int | None, watched_run: bool) -> float:
    """Seconds for a job, from its work: each case's own time limit (the run's 10 s or the case's
    budget, which grows with its volume), divided among the cases that run at once (exclusive cases
    run alone), and a restart for each case of a watched run. An upper bound, so that a slow or busy
    machine never cuts a run short; it only ends a run that hangs."""
    from conformance.runner.trace import RunOptions, case_budget

    opts = RunOptions(agent="budget", timeout=10.0, max_echo=max_echo)

    def seconds(case: Any) -> float:  # a volume case's own limit, in the share of its volume that is sent
        return max(opts.timeout, case_budget(case, opts) * volume_sent(case, max_echo))

    alone = sum(seconds(c) for c in cases if c.exclusive)
    shared = sum(seconds(c) for c in cases if not c.exclusive)
    restarts = len(cases) * RESTART_SECONDS if watched_run else 0.0
    return round(START_SECONDS + alone + shared / max(1, jobs_per_run) + restarts)


def run_jobs(job: Job, jobs_per_run: int) -> int:
    """Cases at once within the job's run: one for a watched HTTP/3 server, whose death must be the
    one case's that caused it."""
    return 1 if job.kind == "server-h3-watched" else jobs_per_run


def plan_budget(job: Job, jobs_per_run: int, max_echo: int | None, robustness: bool) -> float:
    watched_run = job.kind == "server-h3-watched" or (job.kind == "server" and robustness)
    return job_budget(job_cases(job, robustness), run_jobs(job, jobs_per_run), max_echo, watched_run)


def volume_sent(case: Any, max_echo: int | None) -> float:
    """The share of a case's echo volume that a run sends with echo steps capped at `max_echo`
    messages (1.0 for a case without echo steps, or uncapped); a message weighs its octets and one
    more, so that a thousand empty messages weigh too."""
    from conformance.catalog.model import Echo

    full = capped = 0
    for step in case.steps:
        if isinstance(step, Echo):
            weight = step.spec.payload.length + 1
            full += step.spec.count * weight
            capped += min(step.spec.count, max_echo or step.spec.count) * weight
    return capped / full if full else 1.0


def _h3_watched(argv: list[str]) -> list[str]:
    """--server-cmd --http3 for a server argv that listens on `--port 0` (UDP)."""
    import shlex

    at = argv.index("--port") + 1
    return ["--server-cmd", shlex.join([*argv[:at], "PORT", *argv[at + 1:]]).replace("PORT", "{port}"),
            "--http3", "--insecure"]


def run_job(job: Job, out: Path, jobs_per_run: int, max_echo: int | None, robustness: bool = False) -> Job:
    t0 = time.monotonic()
    dest = out / "runs" / job.agent
    jobs_per_run = run_jobs(job, jobs_per_run)
    budget = job.budget or plan_budget(job, jobs_per_run, max_echo, robustness)
    common = ["--agent", job.agent, "--out", str(dest), "--quiet", "--jobs", str(jobs_per_run), "--budget", str(budget),
              *(["--max-echo", str(max_echo)] if max_echo else [])]
    proc = None
    try:
        if job.kind == "server" and robustness:
            cmd = watched(job.argv)
        elif job.kind == "server-h3-watched":
            cmd = _h3_watched(job.argv)
        elif job.kind in ("server", "server-h2", "server-h3"):
            proc, url = _start(job.argv, out / "runs" / f"{job.agent}.server.log")
            cmd = ["--server", url, *({"server-h2": ["--http2"], "server-h3": ["--http3", "--insecure"]}
                                      .get(job.kind, []))]
        elif job.kind == "client":
            cmd = ["--client", job.argv[0].replace("{py}", PY)]
        elif job.kind == "browser":
            cmd = ["--browser", job.argv[0]]
        else:
            cmd = ["--impl", job.argv[0]]
        code, output = run_within([PY, "-m", "conformance", "run", *cmd, *common], budget + GRACE_SECONDS,
                                  out / "runs" / f"{job.agent}.log")
        dest.mkdir(parents=True, exist_ok=True)
        job.code = code
        job.note = run_note(code, output, budget)
        if code == TIMED_OUT:
            mark_not_run(dest, job, job_cases(job, robustness), job.note)
    except (RuntimeError, OSError) as exc:
        job.code, job.note = 3, str(exc)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
    job.seconds = time.monotonic() - t0
    return job


GRACE_SECONDS = 60.0  # past its --budget a run has this long to write its report before it is stopped


def run_within(argv: list[str], seconds: float, log: Path) -> tuple[int, str]:
    """Run `argv` with its output in `log`; past `seconds` it gets SIGTERM, on which `conformance run`
    writes the report of the cases it finished, and SIGKILL only if it does not end after that."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as sink:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, text=True)
        try:
            code = proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            sink.write(f"\nmatrix: the run was stopped after {seconds:g} s\n")
            code = TIMED_OUT
    return code, log.read_text(encoding="utf-8")


TIMED_OUT = 124  # as timeout(1) says it


def mark_not_run(dest: Path, job: Job, cases: list[Any], why: str) -> int:
    """Store the job's cases that its stopped run did not finish as NOT RUN, saying why, beside the
    results it has (a run stopped by a signal writes only the cases it finished). How many."""
    from conformance.report.model import ReportDir
    from conformance.runner.result import not_run_result

    report = ReportDir(dest)
    done = set(report.load_index().get(job.agent, {}))
    missing = [c for c in cases if c.id not in done]
    for case in missing:
        report.write_case(not_run_result(case, job.agent, why, is_server=job.kind not in ("client", "browser")))
    return len(missing)


def run_note(code: int, output: str, budget: float) -> str:
    """What the matrix line says beside a run: why cases are NOT RUN, or how the run broke down."""
    if code == TIMED_OUT:
        return f"stopped past its budget of {budget:g} s; the finished cases are kept"
    notes = [ln.removeprefix("note: ") for ln in output.splitlines() if ln.startswith("note: ") and "not run" in ln]
    if code in (0, 1):
        return "; ".join(notes)
    return output.strip()[-300:]


def summary(out: Path, agent: str) -> Counter[str]:
    try:
        index = json.loads((out / "runs" / agent / "index.json").read_text())[agent]
    except (OSError, KeyError, ValueError):
        return Counter()
    c: Counter[str] = Counter()
    for e in index.values():
        c[e["behavior"]] += 1
        if e["behaviorClose"] not in ("OK", "INFORMATIONAL", "UNIMPLEMENTED", "NOT RUN"):
            c[f"close {e['behaviorClose']}"] += 1
    c["cases"] = len(index)
    return c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="reports/matrix")
    ap.add_argument("--parallel", type=int, default=None,
                    help="runs at once (default 3: client runs mostly wait on their client; 1 with --robustness)")
    ap.add_argument("--jobs", type=int, default=4, help="cases at once within a run (default 4)")
    ap.add_argument("--only", nargs="*", default=[], help="only these libraries (and reference)")
    ap.add_argument("--agents", nargs="*", default=[], help="only the runs of these agents (e.g. to redo one)")
    ap.add_argument("--max-echo", type=int, default=50, help="messages per echo step at most (default 50)")
    ap.add_argument("--full", action="store_true", help="Autobahn's whole volume: no --max-echo")
    ap.add_argument("--robustness", action="store_true",
                    help="servers only, watched (--server-cmd), through the whole resource group 30")
    args = ap.parse_args()
    out = (ROOT / args.out) if not Path(args.out).is_absolute() else Path(args.out)
    t0 = time.monotonic()
    todo = jobs(args.only)
    if args.robustness:
        todo = robustness_jobs(todo)
    todo = [j for j in todo if not args.agents or j.agent in args.agents]
    max_echo = None if args.full else args.max_echo
    for j in todo:
        j.budget = plan_budget(j, args.jobs, max_echo, args.robustness)
    todo.sort(key=lambda j: j.kind != "server-h3-watched")  # the longest (one case at a time) first
    if args.parallel is None:
        args.parallel = 1 if args.robustness else 3
    print(f"matrix: {len(todo)} runs, {args.parallel} at a time, into {out}"
          f"{'' if args.full else f' (echo steps capped at {args.max_echo} messages)'}", flush=True)
    finished: list[Job] = []
    with concurrent.futures.ThreadPoolExecutor(args.parallel) as pool:
        for job in pool.map(lambda j: run_job(j, out, args.jobs, max_echo, args.robustness), todo):
            c = summary(out, job.agent)
            print(f"  {job.agent:34} {job.seconds:6.1f} s  {c['cases']:4} cases  OK {c['OK']:4}  "
                  f"FAILED {c['FAILED']:3}  NOT RUN {c['NOT RUN']:3}  load {os.getloadavg()[0]:.1f}"
                  f"{'  ' + job.note if job.note else ''}", flush=True)
            finished.append(job)
    from conformance.report.commands import merge_reports, run_report

    runs = sorted(p.parent for p in (out / "runs").glob("*/index.json"))  # earlier runs kept when redoing one
    merge_reports(out, [str(r) for r in runs])
    run_report(out)
    print(f"\n{'agent':34} {'cases':>5} {'OK':>5} {'NON-STRICT':>10} {'INFO':>5} {'UNIMPL':>6} {'FAILED':>6} "
          f"{'close!':>6} {'NOT RUN':>7} {'seconds':>7}")
    for j in finished:
        c = summary(out, j.agent)
        bad_close = sum(v for k, v in c.items() if k.startswith("close "))
        print(f"{j.agent:34} {c['cases']:5} {c['OK']:5} {c['NON-STRICT']:10} {c['INFORMATIONAL']:5} "
              f"{c['UNIMPLEMENTED']:6} {c['FAILED']:6} {bad_close:6} {c['NOT RUN']:7} {j.seconds:7.0f}")
    print(f"\nwrote {out / 'index.html'} in {time.monotonic() - t0:.0f} s")
    broken = [j for j in finished if j.code not in (0, 1, TIMED_OUT)]
    for j in broken:
        print(f"run broke down: {j.agent}: {j.note}", file=sys.stderr)
    return 3 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
