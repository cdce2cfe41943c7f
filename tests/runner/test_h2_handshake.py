"""The extended CONNECT as the opening handshake (RFC 8441): the request the suite builds, the
cases that cannot apply over HTTP/2, the SETTINGS rules of §3 against hand-made servers, and
`run --http2` over cleartext and over TLS with ALPN h2."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import h2.settings
import pytest

from conformance.catalog.load import load_catalogue
from conformance.catalog.model import Case, HandshakeSpec
from conformance.cli import main
from conformance.runner.h2_handshake import h2_inapplicable, h2_request_headers
from conformance.runner.judge import judge
from conformance.runner.session import RunOptions, execute_case
from conformance.targets.h2 import H2Link, H2Target
from testees.peers.spawn import spawn_server

ENABLE = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL


def _case(**kw: object) -> Case:
    return Case("40.9.1", "t", ("RFC 8441 §5",), transport="h2", **kw)  # type: ignore[arg-type]


class TestRequest:
    """RFC 8441 §4-§5: the fields of the extended CONNECT."""

    def test_the_default_request(self) -> None:
        t = H2Target.from_url("https://127.0.0.1:8443/chat?room=1")
        assert h2_request_headers(_case(), t) == [
            (b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"),
            (b":path", b"/chat?room=1"), (b":authority", b"127.0.0.1:8443"), (b"sec-websocket-version", b"13")]

    def test_edits_keep_pseudo_header_fields_first(self) -> None:
        hs = HandshakeSpec(headers=((":protocol", ("websocket", "websocket")), (":path", ())),
                           extra_headers=(("Origin", "http://127.0.0.1"),), subprotocols=("a", "b"))
        got = h2_request_headers(_case(handshake=hs), H2Target.from_url("http://127.0.0.1:1/"))
        names = [k for k, _ in got]
        assert b":path" not in names
        assert names.count(b":protocol") == 2
        assert names.index(b"sec-websocket-version") > max(i for i, n in enumerate(names) if n.startswith(b":"))
        assert (b"Origin", b"http://127.0.0.1") in got and (b"sec-websocket-protocol", b"a, b") in got

    def test_group_40_sends_names_as_written_and_extra_fields_last(self) -> None:
        hs = HandshakeSpec(headers=((":authority", ()),), extra_headers=((":authority", "h"), ("Sec-X", "1")))
        got = h2_request_headers(_case(handshake=hs), H2Target.from_url("http://127.0.0.1:1/"))
        assert got[-2:] == [(b":authority", b"h"), (b"Sec-X", b"1")]  # a pseudo-header field after a regular one

    def test_the_rfc6455_catalogue_is_lower_cased(self) -> None:
        hs = HandshakeSpec(headers=(("Sec-WebSocket-Protocol", ("chat",)),), extra_headers=(("Origin", "o"),))
        case = Case("1.9.1", "t", ("RFC 6455 §4.1",), handshake=hs)
        got = h2_request_headers(case, H2Target.from_url("http://127.0.0.1:1/"))
        assert (b"sec-websocket-protocol", b"chat") in got and got[-1] == (b"origin", b"o")


def test_http11_handshake_cases_are_named_inapplicable() -> None:
    cat = load_catalogue()
    skipped = {c.id: h2_inapplicable(c) for c in cat.cases if c.role != "client" and h2_inapplicable(c)}
    # group 0 judges the HTTP/1.1 upgrade itself; group 30 probes liveness with HTTP/1.1 handshakes;
    # group 41 is written for HTTP/3
    assert skipped and all(i.startswith(("0.", "30.", "41.")) for i in skipped), sorted(skipped)
    assert {i for i in skipped if i.startswith("30.")} == {c.id for c in cat.cases if c.resources is not None}
    assert all(not h2_inapplicable(c) for c in cat.cases if c.group == "40")


# -- SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3), against servers made by hand ---------------------


async def _settings_server(first: int, later: int | None) -> tuple[asyncio.Server, int]:
    """Advertises `first`; answers each CONNECT with 200 after sending `later` (if given)."""

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        link = H2Link(r, w, client=False, connect_protocol=first if first in (0, 1) else 1, validate=False)
        if first not in (0, 1):
            link.conn.local_settings = h2.settings.Settings(client=False, initial_values={})
            # a value h2 would not send: written raw, first, so that the client reads it with the
            # first SETTINGS frame whatever the scheduling
            link.write_raw_frame(0x4, 0, 0, int(ENABLE).to_bytes(2, "big") + first.to_bytes(4, "big"))
        link.start()
        while (st := await link.incoming.get()) is not None:
            if later is not None:
                link.conn.update_settings({ENABLE: later})
            link.respond(st, [(b":status", b"200")])
        w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _trace(first: int, later: int | None) -> object:
    async def go() -> object:
        server, port = await _settings_server(first, later)
        try:
            target = H2Target.from_url(f"http://127.0.0.1:{port}/")
            return await execute_case(_case(), target, RunOptions(wait=5, timeout=10))
        finally:
            server.close()

    return asyncio.run(go())


class TestSettings:
    def test_one_opens(self) -> None:
        t = _trace(1, None)
        assert t.opened and not t.violations  # type: ignore[attr-defined]

    def test_absent_or_zero_means_no_extended_connect(self) -> None:
        t = _trace(0, None)
        assert not t.opened and "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1" in t.handshake_note  # type: ignore[attr-defined]
        assert t.request == ""  # type: ignore[attr-defined]  # no :protocol was sent (§3)
        v = judge(_case(), t)  # type: ignore[arg-type]
        assert (v.behavior, v.rule.id if v.rule else None) == ("UNIMPLEMENTED", "h2.connect-not-offered")

    def test_a_value_other_than_0_or_1_is_a_violation(self) -> None:
        t = _trace(2, None)
        assert not t.opened  # type: ignore[attr-defined]
        assert "h2.connect-setting-value" in {r.id for r, _ in t.violations}  # type: ignore[attr-defined]

    def test_withdrawing_the_setting_is_a_violation(self) -> None:
        t = _trace(1, 0)
        assert "h2.connect-setting-withdrawn" in {r.id for r, _ in t.violations}  # type: ignore[attr-defined]


# -- the catalogue over HTTP/2, cleartext and TLS ----------------------------------------------------

SELECTION = ["1.1.*", "2.*", "5.1*", "7.1.*", "40.*"]


def _run(url: str, out: Path, *extra: str) -> dict[str, dict[str, object]]:
    assert main(["run", "--quiet", "--http2", "--server", url, "--out", str(out), "--cases", *SELECTION, *extra]) == 0
    index: dict[str, dict[str, object]] = json.loads((out / "index.json").read_text())["testee"]
    return index


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    from tests.targets.test_tls import make_test_pki

    yield make_test_pki(tmp_path_factory.mktemp("pki"))


def test_catalogue_over_h2c_and_over_tls_alpn_h2(pki: tuple[Path, Path, Path], tmp_path: Path) -> None:
    ca, cert, key = pki
    with spawn_server(["-m", "conformance", "echo-server", "--http2", "--deflate", "--port", "0"]) as (url, _):
        assert url.startswith("http://")
        plain = _run(url, tmp_path / "h2c")
    with spawn_server(["-m", "conformance", "echo-server", "--http2", "--deflate", "--port", "0",
                       "--cert", str(cert), "--key", str(key)]) as (url, _):
        assert url.startswith("https://")
        tls = _run(url, tmp_path / "h2", "--ca", str(ca))
    verdicts = {k: (v["behavior"], v["behaviorClose"]) for k, v in plain.items()}
    assert {k: (v["behavior"], v["behaviorClose"]) for k, v in tls.items()} == verdicts
    assert any(k.startswith("40.") for k in verdicts)
    assert set(verdicts.values()) <= {("OK", "OK"), ("INFORMATIONAL", "INFORMATIONAL")}


def test_http1_server_is_unreachable_over_h2(tmp_path: Path) -> None:
    """An HTTP/1.1-only server (the reference without --http2) answers no HTTP/2: exit 3, one line."""
    with spawn_server(["-m", "conformance", "echo-server", "--port", "0"]) as (url, _):
        code = main(["run", "--quiet", "--http2", "--server", url.replace("ws://", "http://"),
                     "--out", str(tmp_path), "--cases", "1.1.1", "40.3.1", "--timeout", "5"])
    assert code == 3


def test_bad_scheme_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["run", "--http2", "--server", "ftp://127.0.0.1:1/", "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize("argv", [
    ["--http2", "--impl", "wsproto"],  # --http2 tests servers
    ["--cases", "40.*", "--server", "ws://127.0.0.1:1/"],  # group 40 needs --http2
    ["--http2", "--cases", "0.1.1", "--server", "http://127.0.0.1:1/"],  # group 0 cannot run over HTTP/2
])
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()
