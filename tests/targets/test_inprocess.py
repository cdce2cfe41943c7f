"""In-process sans-IO libraries behind the adapter interface, run with `conformance run --impl`."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest

from conformance.catalog.load import load_file
from conformance.catalog.model import Case
from conformance.cli import main
from conformance.errors import UsageError
from conformance.runner.judge import judge
from conformance.runner.session import RunOptions, execute_case
from conformance.targets.inprocess import _serve_one, load_adapter
from conformance.targets.tcp import ServerTarget
from conformance.wire.frames import Opcode, parse_header

CASES = ["--cases", "1.1.*", "2.*", "5.*", "6.3.*", "7.7.*"]


@pytest.mark.parametrize("impl", ["wsproto", "websockets"])
def test_libraries_run_the_catalogue_in_process(impl: str, tmp_path: Path) -> None:
    out = tmp_path / impl
    main(["run", "--quiet", "--impl", impl, "--out", str(out), *CASES])
    index = json.loads((out / "index.json").read_text())[impl]
    assert len(index) == 8 + 11 + 20 + 2 + 13
    assert index["1.1.8"]["behavior"] == "OK" and index["2.10"]["behavior"] == "OK"
    assert index["6.3.1"]["behaviorClose"] == "OK" and index["6.3.1"]["remoteCloseCode"] == 1007


def test_user_adapter_from_module_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A noio_ws-style library (recv / next_event / send returning bytes), wrapped in a few lines."""
    (tmp_path / "my_adapter.py").write_text(textwrap.dedent('''
        from conformance.engine.connection import Connection, Role
        from conformance.engine.handshake import ServerHandshake
        from conformance.engine import events as ev
        from conformance.wire.http import parse_request

        class Adapter:
            def __init__(self):
                self.buf, self.out, self.conn, self.done = b"", [], None, False
            def receive(self, data):
                if self.conn is None:
                    self.buf += data
                    parsed = parse_request(self.buf)
                    if parsed:
                        response, _ = ServerHandshake().accept(parsed[0])
                        self.out.append(response.serialize())
                        self.conn = Connection(Role.SERVER)
                        rest = self.buf[parsed[1]:]
                        if rest:
                            self.conn.receive_data(rest)
                else:
                    self.conn.receive_data(data)
            def messages(self):
                got = []
                for e in (self.conn.events() if self.conn else []):
                    if isinstance(e, ev.Message):
                        got.append((e.text is not None, e.data))
                return got
            def send_message(self, data, text):
                self.conn.send_message(data, text=text)
            def data_to_send(self):
                out = b"".join(self.out) + (self.conn.data_to_send() if self.conn else b"")
                self.out.clear()
                return out
            def should_close(self):
                return self.conn is not None and self.conn.should_close_transport

        def make_adapter():
            return Adapter()
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    assert main(["run", "--quiet", "--impl", "my_adapter:make_adapter", "--out", str(out), "--cases", "1.1.*", "2.*"]) == 0


def test_bad_impl_names() -> None:
    with pytest.raises(UsageError, match="use one of"):
        load_adapter("nope")
    with pytest.raises(UsageError, match="cannot load"):
        load_adapter("no_such_module:factory")


class _Feeder:
    """websockets in process, fed after the handshake either each frame apart (as separate reads
    deliver it) or every frame up to a ping in one feed (as one read delivers a frame and the
    checkpoint ping after it)."""

    def __init__(self, together: bool) -> None:
        from conformance.targets.inprocess import WebsocketsAdapter

        self.inner, self.together = WebsocketsAdapter(), together
        self.buf, self.open, self.pending = b"", False, list[tuple[bool, bytes]]()

    def receive(self, data: bytes) -> None:
        if not data or not self.open:  # the opening handshake (or EOF) goes in as it came
            self.inner.receive(data)
            self.open = True
            return
        self.buf += data
        frames = self._complete_frames()
        if self.together and frames and not any(op in (Opcode.PING, Opcode.CLOSE) for op, _ in frames):
            return  # held until the ping after it
        feeds = [b"".join(f for _, f in frames)] if self.together else [f for _, f in frames]
        self.buf = self.buf[sum(len(f) for _, f in frames):]
        for chunk in filter(None, feeds):
            self.inner.receive(chunk)
            self.pending += self.inner.messages()  # what the server loop does after each read

    def _complete_frames(self) -> list[tuple[Opcode, bytes]]:
        out, rest = [], self.buf
        while (h := parse_header(rest)) is not None and len(rest) >= h.header_len + h.length:
            out.append((h.opcode, rest[: h.header_len + h.length]))
            rest = rest[h.header_len + h.length :]
        return out

    def messages(self) -> list[tuple[bool, bytes]]:
        out, self.pending = self.pending + self.inner.messages(), []
        return out

    def send_message(self, data: bytes, text: bool) -> None:
        self.inner.send_message(data, text)

    def data_to_send(self) -> bytes:
        return self.inner.data_to_send()

    def should_close(self) -> bool:
        return self.inner.should_close()


async def _run_fed(case: Case, together: bool) -> str:
    server = await asyncio.start_server(lambda r, w: _serve_one(lambda: _Feeder(together), r, w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        trace = await execute_case(case, ServerTarget.from_url(f"ws://127.0.0.1:{port}/"),
                                   RunOptions(timeout=30, wait=2, settle=10, close_grace=0.5))
    finally:
        server.close()
    return judge(case, trace).behavior


@pytest.mark.parametrize("case_id", ["6.4.1", "6.4.2"])
def test_fail_fast_verdict_does_not_depend_on_how_reads_were_cut(case_id: str) -> None:
    """websockets fails 6.4.1/6.4.2 on the second frame; fed that frame together with the
    checkpoint's ping it answers the ping first (its protocol layer), then fails. The second ping
    of the checkpoint makes both feedings OK (before, the one feed gave NON-STRICT)."""
    cases, _ = load_file(Path(__file__).parents[2] / "cases" / "6_utf8.yaml")
    case = next(c for c in cases if c.id == case_id)
    assert asyncio.run(_run_fed(case, together=False)) == "OK"
    assert asyncio.run(_run_fed(case, together=True)) == "OK"
