"""wss://: the reference echo server over TLS closes as it does over TCP (RFC 6455 §7.1.1), the
suite judges it alike, and the TLS client context is built once per run.

A throwaway CA and a server certificate for 127.0.0.1 are made with the `openssl` command.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.engine import events as ev
from conformance.engine.connection import Connection, Role
from conformance.engine.handshake import ClientHandshake
from conformance.targets.tcp import ServerTarget
from conformance.wire.http import parse_response
from conformance.wire.uri import parse_uri
from testees.peers.spawn import spawn_server

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

SELECTION = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "15.*", "12.1.1", "12.1.2", "12.1.3"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_test_pki(d: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for 127.0.0.1 and localhost: (ca, cert, key)."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=conformance test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                               "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d / "ca.pem", d / "server.pem", d / "server.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def wss_url(pki: tuple[Path, Path, Path]) -> Iterator[str]:
    _ca, cert, key = pki
    with spawn_server(["-m", "conformance", "echo-server", "--port", "0", "--deflate",
                       "--cert", str(cert), "--key", str(key)]) as (url, _):
        yield url


def _run(url: str, out: Path, *extra: str) -> tuple[dict[str, dict[str, object]], float]:
    t0 = time.monotonic()
    code = main(["run", "--quiet", "--server", url, "--out", str(out), "--cases", *SELECTION, *extra])
    took = time.monotonic() - t0
    assert code == 0
    index: dict[str, dict[str, object]] = json.loads((out / "index.json").read_text())["testee"]
    return index, took


def test_catalogue_over_wss_as_over_ws(pki: tuple[Path, Path, Path], wss_url: str, tmp_path: Path) -> None:
    ca = str(pki[0])
    with spawn_server(["-m", "conformance", "echo-server", "--port", "0", "--deflate"]) as (ws_url, _):
        plain, plain_s = _run(ws_url, tmp_path / "ws")
    tls, tls_s = _run(wss_url, tmp_path / "wss", "--ca", ca)
    verdicts = {k: (v["behavior"], v["behaviorClose"]) for k, v in plain.items()}
    assert {k: (v["behavior"], v["behaviorClose"]) for k, v in tls.items()} == verdicts
    assert len(verdicts) == 282 + 3
    # every case OK, but those informational by design: group 7's "anything goes" cases and the
    # IANA-only close codes 1012-1014 (15.1.10-12), which the RFC leaves to the peer
    by_design = {k for k in verdicts if k.startswith("7.") or k in ("15.1.10", "15.1.11", "15.1.12")}
    assert {v for k, v in verdicts.items() if k not in by_design} == {("OK", "OK")}
    assert set(verdicts.values()) <= {("OK", "OK"), ("INFORMATIONAL", "INFORMATIONAL")}
    print(f"ws:// {plain_s:.1f} s, wss:// {tls_s:.1f} s")
    assert tls_s <= 3 * plain_s + 5, f"wss:// took {tls_s:.1f} s, ws:// {plain_s:.1f} s"


# -- the server's close, seen by a TLS client written by hand ----------------------------------


class _TLSClient:
    """TLS over a plain socket through memory BIOs, so the test sees both layers: TLS records
    (close_notify) and the TCP stream under them (FIN, reset)."""

    def __init__(self, port: int, ca: Path) -> None:
        ctx = ssl.create_default_context(cafile=str(ca))
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="127.0.0.1")
        self.tcp_eof = False
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._pump()
        self._flush()

    def _flush(self) -> None:
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def _pump(self) -> None:
        self._flush()
        data = self.sock.recv(1 << 16)
        if data:
            self.inc.write(data)
        else:
            self.tcp_eof = True
            self.inc.write_eof()

    def send(self, data: bytes) -> None:
        self.tls.write(data)
        self._flush()

    def read_until_close_notify(self) -> bytes:
        """Application data up to the peer's close_notify (without answering it)."""
        got = bytearray()
        while True:
            try:
                chunk = self.tls.read(1 << 16)
            except ssl.SSLWantReadError:
                assert not self.tcp_eof, "TCP closed without a close_notify"
                self._pump()
                continue
            if not chunk:  # what SSLObject.read returns on close_notify
                return bytes(got)
            got += chunk

    def wait_tcp_eof(self) -> None:
        """Read raw TCP until FIN; a reset raises ConnectionResetError."""
        while not self.tcp_eof and self.sock.recv(1 << 16):
            pass


def _opened(port: int, ca: Path) -> tuple[_TLSClient, Connection]:
    c = _TLSClient(port, ca)
    shake = ClientHandshake(parse_uri(f"wss://127.0.0.1:{port}/"))
    c.send(shake.request().serialize())
    buf = b""
    while (parsed := parse_response(buf)) is None:
        try:
            buf += c.tls.read(1 << 16)
        except ssl.SSLWantReadError:
            c._pump()
    shake.check_response(parsed[0])
    conn = Connection(Role.CLIENT)
    conn.receive_data(buf[parsed[1]:])
    return c, conn


def _port(url: str) -> int:
    return parse_uri(url).port


def test_server_sends_close_notify_first_then_closes_tcp_alone(pki: tuple[Path, Path, Path], wss_url: str) -> None:
    """§7.1.1 over TLS: after the closing handshake the server ends the TLS stream (close_notify)
    without waiting for the client, and closes TCP even though this client never answers."""
    c, conn = _opened(_port(wss_url), pki[0])
    conn.close(1000)
    c.send(conn.data_to_send())
    data = c.read_until_close_notify()  # the client has closed nothing yet
    conn.receive_data(data)
    assert [e.code for e in conn.events() if isinstance(e, ev.CloseReceived)] == [1000]
    c.wait_tcp_eof()  # the linger time is an upper bound; the socket timeout (10 s) fails the test
    c.sock.close()


def test_octets_after_the_close_meet_no_reset(pki: tuple[Path, Path, Path], wss_url: str) -> None:
    """A client still sending after the closing handshake gets close_notify and FIN, not a reset."""
    c, conn = _opened(_port(wss_url), pki[0])
    conn.close(1000)
    c.send(conn.data_to_send() + os.urandom(200_000))
    c.read_until_close_notify()
    c.wait_tcp_eof()
    c.sock.close()


# -- the client context -------------------------------------------------------------------------


def test_one_client_context_per_run(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    shutil.copy(pki[0], ca)
    target = ServerTarget.from_url("wss://127.0.0.1:9/", ca_file=str(ca))
    first = target.ssl_context()
    assert first is not None and target.ssl_context() is first
    assert ServerTarget.from_url("wss://127.0.0.1:10/", ca_file=str(ca)).ssl_context() is first
    insecure = ServerTarget.from_url("wss://127.0.0.1:9/", insecure=True).ssl_context()
    assert insecure is not first and insecure is not None and insecure.verify_mode is ssl.CERT_NONE
    assert ServerTarget.from_url("ws://127.0.0.1:9/").ssl_context() is None
    ca.write_text(ca.read_text() + "\n")  # a rewritten CA file is loaded again
    assert target.ssl_context() is not first


# -- client testing over wss:// -----------------------------------------------------------------

CLIENT_SELECTION = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*", "15.*", "20.*"]


def _client_run(out: Path, *tls: str, ca: Path | None = None) -> dict[str, tuple[object, object]]:
    """`conformance serve` (with TLS when `tls` gives --cert and --key) and the reference echo
    client against it; the verdicts of the report."""
    argv = ["-m", "conformance", "serve", "--port", "0", "--out", str(out), "--cases", *CLIENT_SELECTION, *tls]
    with spawn_server(argv) as (url, _):
        assert url.startswith("wss://" if tls else "ws://")
        trust = ["--ca", str(ca)] if ca else []
        done = subprocess.run([sys.executable, "-m", "conformance", "echo-client", "--url", url,
                               "--agent", "reference", *trust], check=False, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    index: dict[str, dict[str, object]] = json.loads((out / "index.json").read_text())["reference"]
    return {k: (v["behavior"], v["behaviorClose"]) for k, v in index.items()}


def test_client_catalogue_over_wss_as_over_ws(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """`serve --cert --key` tests a client over TLS, and the reference client (`echo-client --ca`)
    gets the same verdicts as over ws://: the suite's close (close_notify, then FIN) works on TLS."""
    ca, cert, key = pki
    plain = _client_run(tmp_path / "ws")
    tls = _client_run(tmp_path / "wss", "--cert", str(cert), "--key", str(key), ca=ca)
    assert tls == plain
    assert len(plain) > 100
    failed = {k: v for k, v in plain.items() if v[0] in ("FAILED", "UNIMPLEMENTED") or v[1] in
              ("FAILED", "UNCLEAN", "WRONG CODE", "FAILED BY CLIENT")}
    assert not failed


def test_echo_client_refuses_an_untrusted_certificate(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """Without --ca (or --insecure) the test CA is not trusted: one line, exit 3, no traceback."""
    _ca, cert, key = pki
    argv = ["-m", "conformance", "serve", "--port", "0", "--out", str(tmp_path), "--cases", "1.1.1",
            "--cert", str(cert), "--key", str(key)]
    with spawn_server(argv) as (url, _):
        done = subprocess.run([sys.executable, "-m", "conformance", "echo-client", "--url", url,
                               "--agent", "x"], check=False, capture_output=True, text=True, timeout=60)
        insecure = subprocess.run([sys.executable, "-m", "conformance", "echo-client", "--url", url,
                                   "--agent", "x", "--insecure"], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "certificate" in done.stderr.lower()
    assert insecure.returncode == 0, insecure.stderr


def test_serve_with_a_missing_certificate_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "conformance", "serve", "--port", "0", "--cert",
                           str(tmp_path / "none.pem"), "--key", str(tmp_path / "none.key")],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
