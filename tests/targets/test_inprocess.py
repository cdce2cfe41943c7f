"""In-process sans-IO libraries behind the adapter interface, run with `conformance run --impl`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.errors import UsageError
from conformance.targets.inprocess import load_adapter

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
