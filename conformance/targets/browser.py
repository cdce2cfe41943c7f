"""Browsers as testee clients: a headless Chromium or Firefox runs the client catalogue through
its own WebSocket API.

`conformance run --browser chromium` runs, as its `--client` command,
`python -m conformance.targets.browser chromium {url} {agent}`: this module serves a page on a
loopback port, starts the browser headless on it and waits until the page says it is done (or
the deadline passes), then ends the browser it started. The page's script speaks Autobahn's
client protocol (getCaseCount, runCase?case=N&agent=A, updateReports) and echoes every message
with its type, as Autobahn's browser testee did. What the browser does on the wire is judged by
the suite; the page only drives it. The agent is the browser's name and version. The page sets a
cookie first, so that the browser has a credential a redirected handshake could carry.
"""

from __future__ import annotations

__all__ = [
    "BROWSERS",
    "PAGE",
    "agent_name",
    "browser_command",
    "client_command",
    "main",
    "run",
]

import http.server
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from pathlib import Path

BROWSERS: dict[str, tuple[str, ...]] = {"chromium": ("chromium", "chromium-browser"),
                                        "firefox": ("firefox-esr", "firefox")}
_CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync")

PAGE = """<!doctype html><meta charset="utf-8"><title>conformance: client catalogue</title>
<pre id="log"></pre><script>
"use strict";
const q = new URLSearchParams(location.search), base = q.get("ws"), agent = q.get("agent");
const log = t => { document.getElementById("log").textContent += t + "\\n"; };
// a credential the browser attaches to its handshakes (cookies ignore the port): the redirect
// cases of 20.4 look for it in a followed handshake (RFC 9110 §15.4)
document.cookie = "conformance-redirect=test; path=/; SameSite=Lax";
function open(path, onMessage) {
  return new Promise(done => {
    let ws;
    try { ws = new WebSocket(base + path); } catch (e) { log("refused by the API: " + e); done(); return; }
    ws.binaryType = "arraybuffer";
    ws.onmessage = e => onMessage(ws, e);
    ws.onclose = () => done();
  });
}
async function main() {
  let count = 0;
  await open("/getCaseCount", (ws, e) => { count = parseInt(e.data, 10); });
  log("cases: " + count);
  for (let n = 1; n <= count; n++) {
    await open("/runCase?case=" + n + "&agent=" + encodeURIComponent(agent),
               (ws, e) => { try { ws.send(e.data); } catch (x) { log("send: " + x); } });
  }
  await open("/updateReports?agent=" + encodeURIComponent(agent), () => {});
  await fetch("/done", {method: "POST"});
}
main();
</script>"""


def browser_command(name: str) -> str | None:
    """The browser's executable on PATH, or None."""
    for exe in BROWSERS.get(name, ()):
        found = shutil.which(exe)
        if found:
            return found
    return None


def agent_name(name: str) -> str:
    """"Chromium 120.0.6099.224" and the like, from the browser's --version."""
    exe = browser_command(name)
    if exe is None:
        return name
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return name
    words = [w for w in out.split() if w[:1].isdigit()]
    label = "Chromium" if name == "chromium" else "Firefox ESR" if "esr" in out.lower() else "Firefox"
    return f"{label} {words[0]}" if words else label


def client_command(name: str) -> str:
    """The `--client` command that runs the catalogue in browser `name`."""
    return f"{sys.executable} -m conformance.targets.browser {name} {{url}} {{agent}}"


class _Page(http.server.BaseHTTPRequestHandler):
    done = threading.Event()

    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.send_response(204)
        self.end_headers()
        type(self).done.set()

    def log_message(self, format: str, *args: object) -> None:
        return


def _argv(name: str, exe: str, profile: Path, url: str) -> list[str]:
    if name == "chromium":
        return [exe, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", url]
    # delay-failed-reconnects: Firefox otherwise waits longer and longer before reconnecting to a
    # host whose handshakes failed, and group 20 fails them on purpose
    prefs = {"network.websocket.delay-failed-reconnects": False, "browser.shell.checkDefaultBrowser": False}
    (profile / "user.js").write_text("".join(f'user_pref("{k}", {json.dumps(v)});\n' for k, v in prefs.items()))
    return [exe, "--headless", "--no-remote", "--profile", str(profile), url]


def run(name: str, ws_url: str, agent: str, deadline: float = 3600.0) -> int:
    """Serve the page, run the browser on it until the page is done; the exit status."""
    exe = browser_command(name)
    if exe is None:
        print(f"conformance: {name} is not installed (make browser-deps installs it)", file=sys.stderr)
        return 3
    _Page.done.clear()
    _Stop.armed = _Stop.requested = False
    signal.signal(signal.SIGTERM, _terminated)  # the suite ends us with SIGTERM: end the browser too
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    query = urllib.parse.urlencode({"ws": ws_url.rstrip("/"), "agent": agent})
    page = f"http://127.0.0.1:{httpd.server_address[1]}/?{query}"
    with tempfile.TemporaryDirectory(prefix=f"conformance-{name}-") as tmp:
        proc = subprocess.Popen(_argv(name, exe, Path(tmp), page), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            _Stop.armed = True
            if _Stop.requested:  # SIGTERM came while the browser was being started
                raise SystemExit(1)
            finished = _Page.done.wait(deadline)
        finally:
            _end(proc)
            httpd.shutdown()
    return 0 if finished else 1


def _end(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if the browser is still there after 10 s; always reaped."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Stop:
    """SIGTERM handling: before the browser runs it is only noted (an exception inside Popen would
    leave the forked browser without an owner); once `armed`, it unwinds run()."""

    armed = False
    requested = False


def _terminated(signum: int, frame: object) -> None:
    _Stop.requested = True
    if _Stop.armed:
        _Stop.armed = False  # once: the cleanup itself is not interrupted
        raise SystemExit(1)


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[1] not in BROWSERS:
        print(f"usage: python -m conformance.targets.browser {{{'|'.join(BROWSERS)}}} URL AGENT", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run(sys.argv[1], sys.argv[2], sys.argv[3]))


if __name__ == "__main__":
    main()
