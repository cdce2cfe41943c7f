"""`conformance run --http3` against the reference HTTP/3 echo server (real QUIC on loopback):
the catalogue runs over extended CONNECT with the same verdicts as over HTTP/1.1, the certificate
is trusted with --ca or --insecure, and bad use is one line with exit 2 or 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.targets.h3 import self_signed_certificate
from testees.peers.spawn import spawn_server

SELECTION = ["1.1.*", "2.1", "5.1*", "6.2.*", "7.1.*", "41.3.1", "41.4.*"]


def _index(out: Path, agent: str = "testee") -> dict[str, tuple[str, str]]:
    index = json.loads((out / "index.json").read_text())[agent]
    return {k: (v["behavior"], v["behaviorClose"]) for k, v in index.items()}


def test_catalogue_over_http3_matches_http1(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(str(tmp_path))
    with spawn_server(["-m", "conformance", "echo-server", "--http3", "--deflate", "--port", "0",
                       "--cert", cert, "--key", key]) as (url, _):
        assert url.startswith("https://")
        assert main(["run", "--quiet", "--http3", "--server", url, "--ca", cert, "--out", str(tmp_path / "h3"),
                     "--cases", *SELECTION]) == 0
    with spawn_server(["-m", "conformance", "echo-server", "--deflate", "--port", "0"]) as (url, _):
        assert main(["run", "--quiet", "--server", url, "--out", str(tmp_path / "ws"), "--cases", *SELECTION]) == 0
    h3, ws = _index(tmp_path / "h3"), _index(tmp_path / "ws")
    assert {k: v for k, v in h3.items() if not k.startswith("41.")} == ws
    assert {k for k in h3 if k.startswith("41.")} >= {"41.3.1", "41.4.1", "41.4.3"}
    report = json.loads((tmp_path / "h3" / "testee_case_41_3_1.json").read_text())
    assert ":protocol: websocket" in report["httpRequest"] and ":status: 200" in report["httpResponse"]


def test_the_embedded_reference_over_http3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--quiet", "--http3", "--out", str(tmp_path), "--cases", "0.1.1", "1.1.1", "41.4.2"]) == 0
    assert _index(tmp_path, "reference") == {"1.1.1": ("OK", "OK"), "41.4.2": ("OK", "OK")}
    assert "over HTTP/3, 1 cases do not apply" in capsys.readouterr().err  # 0.1.1 judges the HTTP/1.1 upgrade


def test_an_untrusted_certificate_reaches_nothing(tmp_path: Path) -> None:
    with spawn_server(["-m", "conformance", "echo-server", "--http3", "--port", "0"]) as (url, _):
        assert main(["run", "--quiet", "--http3", "--server", url, "--out", str(tmp_path), "--cases", "1.1.1",
                     "--timeout", "3"]) == 3  # its own new certificate, trusted by no one


def test_an_http2_only_server_is_unreachable_over_http3(tmp_path: Path) -> None:
    """Nothing answers QUIC on the port of a TCP server: exit 3."""
    with spawn_server(["-m", "conformance", "echo-server", "--http2", "--port", "0"]) as (url, _):
        code = main(["run", "--quiet", "--http3", "--insecure", "--server", url.replace("http://", "https://"),
                     "--out", str(tmp_path), "--cases", "1.1.1", "--timeout", "3"])
    assert code == 3


@pytest.mark.parametrize("argv", [
    ["--http3", "--impl", "wsproto"],  # --http3 tests servers
    ["--http3", "--http2", "--server", "https://127.0.0.1:1/"],
    ["--http3", "--server", "http://127.0.0.1:1/"],  # QUIC is always TLS
    ["--cases", "41.*", "--server", "ws://127.0.0.1:1/"],  # group 41 needs --http3
    ["--http2", "--cases", "41.*", "--server", "http://127.0.0.1:1/"],  # and not --http2
    ["--http3", "--cases", "40.*", "--server", "https://127.0.0.1:1/"],  # group 40 is HTTP/2's
])
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()


def test_echo_server_with_a_bad_certificate_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    assert main(["echo-server", "--http3", "--port", "0", "--cert", str(bad), "--key", str(bad)]) == 2
    assert main(["echo-server", "--http3", "--port", "0", "--cert", str(bad)]) == 2
    assert "Traceback" not in capsys.readouterr().err
