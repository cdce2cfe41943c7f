"""Every command and code block in README.md, run exactly as written.

Each shell line runs with `sh` in a sandbox that looks like a checkout after `make install`
(`.venv/bin/conformance`, `.venv/bin/python`, `.venv/bin/pytest` run this checkout's code; `cases/`,
`testees/`, the Makefile), inside its own network namespace (`unshare -n`), so the fixed ports the
README names (9001, 9443) are free and private to it: a reference echo server listens there when
the line needs one. The README's Python block is the noio_ws adapter: it is saved as
`mypackage/adapter.py` beside a stand-in noio_ws with the library's API (testees/noio_ws.py; noio_ws
is not on the package index) and run by the README's `--impl mypackage.adapter:make_adapter`.

COMMANDS says, for every line, what it needs and which exit code it must give; a README line
missing from it (or a stale entry) fails test_every_readme_line_has_a_test. Lines that run the whole
catalogue, fuzz for a minute or more or build the matrix are marked slow and run only with
README_FULL=1 (they would make `make test` take an hour); `make test` is the suite itself and is
only checked to be a make target (`make -n test`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
UNSHARE = shutil.which("unshare")
FULL = os.environ.get("README_FULL") == "1"  # also run the long lines (whole catalogue, fuzzing, matrix)


@dataclasses.dataclass(frozen=True)
class Spec:
    exit: int = 0
    servers: tuple[str, ...] = ()  # "ws" on 9001, "wss" on 9443 (test-ca.pem in the cwd)
    setup: tuple[str, ...] = ()  # shell lines run first, in the same sandbox and namespace
    slow: bool = False
    background: bool = False  # a server: started, used by `client`, then stopped with SIGINT
    client: str = ""
    files: tuple[str, ...] = ()  # must exist afterwards
    dry_run: bool = False  # run `make -n` instead (the line is the test suite itself)
    known_broken: str = ""  # an open issue: the line fails today (strict xfail: it flips when fixed)


PY = ".venv/bin/python -m conformance"
# a reference run last night, and tonight a server that echoes invalid UTF-8 (6.4.* flip to FAILED)
TRIAGE_RUNS = (f"{PY} run --quiet --agent myserver --cases '6.4.*' --out reports/last-night",
               f"{PY} run --quiet --agent myserver --cases '6.4.*' --out reports/tonight --server-cmd "
               "'.venv/bin/python -m testees.mutants.serve no-utf8-check --port {port}' || true")
COMMANDS: dict[str, Spec] = {
    "make demo": Spec(slow=True, files=("reports/demo/index.html",)),
    "make test": Spec(dry_run=True),
    ".venv/bin/conformance run --server ws://127.0.0.1:9001/ --agent myserver --out reports/myserver":
        Spec(servers=("ws",), slow=True, files=("reports/myserver/index.json",)),
    ".venv/bin/conformance run --server ws://127.0.0.1:9001/ --cases '6.*' --exclude '6.4.*' --jobs 8":
        Spec(servers=("ws",), slow=True),
    ".venv/bin/conformance run --server wss://127.0.0.1:9443/ --ca test-ca.pem": Spec(servers=("wss",), slow=True),
    '.venv/bin/conformance run --client "python my_client.py {url} {agent}" --agent myclient':
        Spec(setup=("cp testees/clients/websockets_client.py my_client.py",), slow=True),
    ".venv/bin/conformance serve --port 9001 --out reports/clients":
        Spec(background=True, client=f"{PY} echo-client --url ws://127.0.0.1:9001 --agent echo",
             files=("reports/clients/index.json",), slow=True),
    '.venv/bin/conformance run --server-cmd ".venv/bin/python -m conformance echo-server --deflate --port {port}" '
    "--robustness --out reports/robust": Spec(slow=True, files=("reports/robust/index.json",)),
    ".venv/bin/conformance run --impl wsproto": Spec(slow=True),
    ".venv/bin/conformance run --impl websockets": Spec(slow=True),
    # noio_ws checks nothing (UTF-8 across fragments, reserved bits, close codes: its user's job), so
    # the example, complete as an adapter, fails cases of groups 2-16: exit 1 with every case run
    ".venv/bin/conformance run --impl mypackage.adapter:make_adapter": Spec(slow=True, exit=1),
    ".venv/bin/conformance fuzz --server ws://127.0.0.1:9001/ --seconds 60": Spec(servers=("ws",), slow=True),
    ".venv/bin/conformance fuzz --impl wsproto --seconds 60": Spec(slow=True),
    ".venv/bin/conformance fuzz --impl websockets --engine atheris --seconds 600": Spec(slow=True),
    ".venv/bin/conformance run --server ws://127.0.0.1:9001/ --cases-dir reports/found":
        Spec(servers=("ws",), setup=("mkdir -p reports/found && cp cases/2_ping_pong.yaml reports/found/",),
             slow=True),
    "pytest --ws-server ws://127.0.0.1:9001/ -n auto": Spec(servers=("ws",), slow=True),
    "pytest --ws-impl wsproto --ws-cases '1.*,5.*' --ws-exclude '5.19'": Spec(),
    "pytest --ws-server ws://127.0.0.1:9001/ -n 4 --tx 4*popen": Spec(servers=("ws",), slow=True),
    "make matrix": Spec(slow=True),
    "make browser-deps": Spec(dry_run=True),
    ".venv/bin/conformance echo-server --http2 --port 9002":
        Spec(background=True, client=f"{PY} run --http2 --server http://127.0.0.1:9002/ --cases '1.1.*'", slow=True),
    ".venv/bin/conformance run --http2 --server http://127.0.0.1:9002/": Spec(slow=True, setup=(
        f"({PY} echo-server --http2 --port 9002 &)",
        ".venv/bin/python -c 'import socket, time\nfor _ in range(200):\n    try: socket.create_connection((\"127.0.0.1\", 9002)).close(); break\n    except OSError: time.sleep(0.05)'",)),
    ".venv/bin/conformance run --http2 --server https://127.0.0.1:9443/ --ca test-ca.pem": Spec(slow=True),
    ".venv/bin/conformance run --http2 --cases '40.*'": Spec(),
    ".venv/bin/conformance echo-server --http3 --port 9004":
        Spec(background=True, client=f"{PY} run --http3 --insecure --server https://127.0.0.1:9004/ --cases '1.1.*'",
             slow=True),
    ".venv/bin/conformance run --http3 --insecure --server https://127.0.0.1:9004/": Spec(slow=True, setup=(
        f"({PY} echo-server --http3 --port 9004 &)",
        # the server is up once UDP port 9004 is taken
        ".venv/bin/python -c 'import socket, time\nfor _ in range(400):\n    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "    try: s.bind((\"127.0.0.1\", 9004)); s.close(); time.sleep(0.05)\n    except OSError: break'",)),
    ".venv/bin/conformance run --http3 --cases '41.*'": Spec(),
    ".venv/bin/conformance run --browser chromium --out reports/chromium": Spec(slow=True),
    ".venv/bin/conformance run --browser firefox --cases '20.*' '21.*' '22.*'": Spec(slow=True),
    "make matrix MATRIX_ARGS=--full": Spec(slow=True),
    "conformance run --server $URL --out reports/nightly --junit junit.xml":
        Spec(servers=("ws",), slow=True, files=("junit.xml", "reports/nightly/index.html")),
    "conformance baseline reports/nightly > conformance-baseline.yaml":
        Spec(setup=(f"{PY} run --quiet --cases '1.1.*' --out reports/nightly",), files=("conformance-baseline.yaml",)),
    "conformance run --server $URL --baseline conformance-baseline.yaml":
        Spec(servers=("ws",), slow=True, setup=(f"{PY} run --quiet --cases '1.1.*' --out reports/nightly",
                                               f"{PY} baseline reports/nightly > conformance-baseline.yaml")),
    "conformance run --spec fuzzingclient.json":
        Spec(servers=("ws",), setup=("""printf '{"servers": [{"agent": "mine", "url": "ws://127.0.0.1:9001/"}], \
"cases": ["1.1.*"], "outdir": "reports/autobahn"}' > fuzzingclient.json""",),
             files=("reports/autobahn/index.json",)),
    "conformance diff reports/last-night reports/tonight --format markdown":
        Spec(setup=(f"{PY} run --quiet --cases '1.1.*' --out reports/last-night",
                    f"{PY} run --quiet --cases '1.1.*' --out reports/tonight")),
    ".venv/bin/conformance diff reports/last-night reports/tonight --format html --out reports/triage.html":
        Spec(exit=1, setup=TRIAGE_RUNS, files=("reports/triage.html",)),
    ".venv/bin/conformance replay reports/tonight/myserver_case_6_4_1.json --server ws://127.0.0.1:9001/":
        Spec(servers=("ws",), setup=TRIAGE_RUNS[1:]),
    ".venv/bin/conformance replay reports/tonight/myserver_case_6_4_1.json --server ws://127.0.0.1:9001/ "
    "--export reports/found/6_4_1.yaml": Spec(servers=("ws",), setup=TRIAGE_RUNS[1:], files=("reports/found/6_4_1.yaml",)),
    # tonight's 6.4.* failures replayed against the reference: the verdicts flip, so not all are reproduced
    ".venv/bin/conformance replay reports/tonight --server ws://127.0.0.1:9001/":
        Spec(exit=1, servers=("ws",), setup=TRIAGE_RUNS[1:]),
    "make test-replay": Spec(slow=True, files=("reports/replay-run/catalogue/index.json",)),
    "conformance report reports/nightly": Spec(setup=(f"{PY} run --quiet --cases '2.*' --out reports/nightly",),
                                               files=("reports/nightly/index.html",)),
    '.venv/bin/conformance bisect --git mylib --build "sh build.sh" --good v1.0 --bad HEAD --case 3.1 '
    '--cache .bisect-cache --server-cmd "{python} server.py {port}"':
        Spec(setup=(".venv/bin/python -c 'from pathlib import Path; from tests.bisection.test_command import make_repo; "
                    "make_repo(Path(\"mylib\"))'", "git -C mylib tag v1.0 HEAD~4"),
             files=("reports/bisect/index.html",)),
}


def readme_blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block in the README."""
    return re.findall(r"^```(\w*)\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def readme_lines() -> list[str]:
    """Every shell line of the README, without its trailing comment."""
    lines = []
    for lang, text in readme_blocks():
        if lang == "sh":
            lines += [re.sub(r"\s+#.*$", "", ln).strip() for ln in text.splitlines() if ln.strip()]
    return lines


def test_every_readme_line_has_a_test() -> None:
    lines = readme_lines()
    assert sorted(set(lines)) == sorted(COMMANDS), (set(lines) ^ set(COMMANDS))
    assert [lang for lang, _ in readme_blocks() if lang not in ("sh", "python", "text")] == []  # text: a picture


def _wrapper(path: Path, target: list[str]) -> None:
    args = " ".join(f"'{a}'" for a in target)
    path.write_text(f'#!/bin/sh\nexec {args} "$@"\n', encoding="utf-8")
    path.chmod(0o755)


def sandbox(tmp: Path) -> Path:
    """A directory that looks like this checkout after `make install`."""
    box = tmp / "checkout"
    box.mkdir()
    for name in ("cases", "conformance", "testees", "docs", "Makefile", "pyproject.toml", "README.md"):
        (box / name).symlink_to(ROOT / name)
    (box / "reports").mkdir()
    bin_dir = box / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "python3"):
        _wrapper(bin_dir / name, [sys.executable])
    _wrapper(bin_dir / "conformance", [sys.executable, "-m", "conformance"])
    _wrapper(bin_dir / "pytest", [sys.executable, "-m", "pytest"])
    (box / ".venv" / ".installed").touch()  # newer than pyproject.toml: make installs nothing
    blocks = [text for lang, text in readme_blocks() if lang == "python"]
    (box / "mypackage").mkdir()
    (box / "mypackage" / "__init__.py").write_text("")
    (box / "mypackage" / "adapter.py").write_text(blocks[0], encoding="utf-8")
    shutil.copy(ROOT / "testees" / "noio_ws.py", box / "noio_ws.py")
    return box


def _env(box: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{box / '.venv' / 'bin'}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{box}:{ROOT}"
    env["URL"] = "ws://127.0.0.1:9001/"
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    return env


def test_readme_python_block_is_the_adapter_and_compiles() -> None:
    blocks = [text for lang, text in readme_blocks() if lang == "python"]
    assert len(blocks) == 1
    compile(blocks[0], "README.md", "exec")
    assert "def make_adapter" in blocks[0]


def test_the_readme_adapter_opens_refuses_echoes_and_closes(tmp_path: Path) -> None:
    """The README's adapter as written, with the noio_ws stand-in: the handshake cases (opened or
    refused as the RFC says) and group 1 (echo and close) all OK, and nothing raised (issue 15
    item 13: the first version of the example never answered the opening handshake)."""
    box = sandbox(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "-q", "--impl", "mypackage.adapter:make_adapter",
                           "--cases", "0.*", "--cases", "1.*", "--out", str(box / "reports" / "noio")],
                          cwd=box, env=_env(box), capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "--impl" not in proc.stderr, proc.stderr  # no "the adapter raised" / "never answered" line
    index = json.loads((box / "reports" / "noio" / "index.json").read_text())
    verdicts = {v["behavior"] for cases in index.values() for v in cases.values()}
    assert verdicts == {"OK"} and sum(len(c) for c in index.values()) > 20


def test_the_noio_ws_stand_in_has_the_documented_api() -> None:
    sys.path.insert(0, str(ROOT / "testees"))
    try:
        import noio_ws as ws
    finally:
        sys.path.pop(0)
    client, server = ws.Connection("CLIENT"), ws.Connection("SERVER")
    octets = client.send(ws.Data("Hello", "text", fin=False, rsv_1=1)) + client.send(ws.Frame(b"!", "continue"))
    assert octets[1] & 0x80  # a client masks
    server.recv(octets[:3])
    assert server.next_event() is ws.Information.NEED_DATA
    server.recv(octets[3:])
    first, second = server.next_event(), server.next_event()
    assert (first.message, first.type, first.reserved) == ("Hello", "text", [1, 0, 0])
    assert (second.message, second.type) == (b"!", "continue")
    assert server.next_event() is ws.Information.NEED_DATA
    assert server.send(ws.Data(b"", "close", status_code=1000)) == bytes([0x88, 2, 0x03, 0xE8])


def _params() -> list[object]:
    out = []
    for line, spec in COMMANDS.items():
        marks = [pytest.mark.slow, pytest.mark.skipif(not FULL, reason=(
            "runs the whole catalogue, fuzzes for a minute or more, or builds the matrix: "
            "README_FULL=1 runs it"))] if spec.slow else []
        if spec.known_broken:
            marks.append(pytest.mark.xfail(strict=True, reason=spec.known_broken))
        out.append(pytest.param(line, spec, id=line[:70], marks=marks))
    return out


@pytest.mark.parametrize(("line", "spec"), _params())
def test_readme_command(line: str, spec: Spec, tmp_path: Path) -> None:
    if UNSHARE is None or subprocess.run([UNSHARE, "-n", "true"], capture_output=True, check=False).returncode:
        pytest.skip("needs `unshare -n` (root or user namespaces): each command gets its own loopback")
    box = sandbox(tmp_path)
    if "wss" in spec.servers:
        from tests.targets.test_tls import make_test_pki

        ca, _, _ = make_test_pki(box)
        shutil.copy(ca, box / "test-ca.pem")
    job = {"line": line, "spec": dataclasses.asdict(spec)}
    proc = subprocess.run([UNSHARE, "-n", sys.executable, __file__, json.dumps(job)], cwd=box, env=_env(box),
                          capture_output=True, text=True, timeout=3600 if spec.slow else 600, check=False)
    assert proc.returncode == 0, f"{line}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    for f in spec.files:
        assert (box / f).exists(), f


# ---- inside the namespace -------------------------------------------------------------------------

def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if "listening" not in first:
        raise SystemExit(f"{argv} did not start: {first}")
    return proc


def _drive(job: dict[str, object]) -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    spec = Spec(**{k: tuple(v) if isinstance(v, list) else v for k, v in job["spec"].items()})  # type: ignore[union-attr]
    line = str(job["line"])
    env = dict(os.environ)
    servers = []
    conf = [sys.executable, "-m", "conformance", "echo-server", "--host", "127.0.0.1"]
    if "ws" in spec.servers:
        servers.append(_start([*conf, "--port", "9001"], env))
    if "wss" in spec.servers:
        servers.append(_start([*conf, "--port", "9443", "--cert", "server.pem", "--key", "server.key"], env))
    try:
        for step in spec.setup:
            subprocess.run(["sh", "-c", step], check=True)
        if spec.dry_run:
            return _report(line, subprocess.run(["make", "-n", *line.split()[1:]], check=False).returncode, 0)
        if spec.background:
            return _background(line, spec)
        return _report(line, subprocess.run(["sh", "-c", line], check=False).returncode, spec.exit)
    finally:
        for s in servers:
            s.terminate()
            s.wait(10)


def _background(line: str, spec: Spec) -> int:
    server = subprocess.Popen(["sh", "-c", f"exec {line}"], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    first = server.stdout.readline()
    print(first.strip())
    if "listening" not in first:
        return 1
    client = subprocess.run(["sh", "-c", spec.client], check=False).returncode
    deadline = time.monotonic() + 30  # the server writes its report when the client asks for it
    while not Path("reports/clients/index.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    server.send_signal(signal.SIGINT)
    return _report(line, server.wait(20), spec.exit) or client


def _report(line: str, code: int, want: int) -> int:
    print(f"{line}: exit {code} (want {want})")
    return 0 if code == want else 1


if __name__ == "__main__":
    raise SystemExit(_drive(json.loads(sys.argv[1])))
