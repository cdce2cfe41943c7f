"""What people read about a result: one outcome per case, fields in words, sent frames decoded."""

from __future__ import annotations

from typing import Any

from conformance.report.model import CaseResult
from conformance.report.present import (
    comparable,
    expected_close_text,
    expected_text,
    measurement_rows,
    observed_text,
    outcome,
    tx_frames,
    words,
)
from conformance.wire.frames import Frame, Opcode, serialize_frame


def _result(behavior: str, close: str, level: str = "MUST") -> CaseResult:
    return CaseResult(agent="a", id="1.1.1", behavior=behavior, behaviorClose=close, level=level)


class TestOutcome:
    def test_a_failing_close_fails_the_case_even_when_the_behaviour_is_ok(self) -> None:
        assert outcome(_result("OK", "UNCLEAN")).key == "fails"
        assert outcome(_result("OK", "WRONG CODE", "SHOULD")).key == "strict"

    def test_not_run_is_no_failure(self) -> None:
        r = _result("NOT RUN", "NOT RUN")
        assert not r.is_failure(strict=True)
        assert outcome(r).label == "not run"

    def test_neutral_verdicts(self) -> None:
        assert outcome(_result("OK", "OK")).key == "ok"
        assert outcome(_result("INFORMATIONAL", "INFORMATIONAL", "informational")).key == "info"
        assert outcome(_result("UNIMPLEMENTED", "UNIMPLEMENTED")).key == "unimpl"
        assert outcome(_result("NON-STRICT", "OK", "SHOULD")).key == "strict"


def test_words_never_give_python_reprs() -> None:
    assert [words(v) for v in (True, False, None, [False, True], 1000, "")] == [
        "yes", "no", "none", "no, yes", "1000", "none"]


def test_the_observed_kind_is_said_once() -> None:
    assert observed_text(["text", "text 'Hello, world!'"]) == "text 'Hello, world!'"
    assert observed_text(["timeout", "still open at checkpoint end"]) == "timeout still open at checkpoint end"


def test_expected_payloads_in_the_form_of_observed_ones() -> None:
    hello = ["text", b"Hello, world!".hex()]
    assert expected_text([hello]) == "text 'Hello, world!'"
    assert comparable(hello) == observed_text(["text", "text 'Hello, world!'"])
    assert comparable(["text", "b'*' repeated to 0 octets"]) == "text ''"
    assert comparable(["binary", "b'\\xfe' repeated to 65536 octets"]) == "binary of 65536 octets"
    assert expected_text([["binary", "b'\\xfe' repeated to 65536 octets"]]) == "binary 0xfe repeated to 65536 octets"
    assert expected_text([]) == "nothing"


def test_expected_close_in_words() -> None:
    ec = {"closedByMe": True, "closeCode": [1000, 1001], "requireClean": True}
    assert expected_close_text(ec) == ("the suite starts the closing handshake with code 1000 or 1001; "
                                       "a clean close is required")
    assert expected_close_text(ec, handshake_case=True).startswith("only if the handshake succeeds")
    # a client that must refuse the answer opens no connection: no closing handshake is expected
    assert expected_close_text(ec, refusal=True).startswith("none: the client must refuse the answer")


def test_measurements_have_names_and_units() -> None:
    rows = dict(measurement_rows({"mb_per_s": 58.8, "seconds": 0.25, "messages": 1}))
    assert rows == {"throughput": "58.8 MB/s", "time": "0.25 s", "messages": "1"}


def _entry(direction: str, data: bytes, text: str = "") -> dict[str, Any]:
    return {"t": 0.0, "dir": direction, "kind": "octets", "len": len(data), "hex": data.hex(), "text": text}


def test_sent_frames_are_decoded_across_writes_and_unmasked() -> None:
    ping = serialize_frame(Frame(Opcode.PING, b"Hello"), mask=True)
    close = serialize_frame(Frame(Opcode.CLOSE, (1000).to_bytes(2, "big") + b"bye"), mask=b"abcd")
    text = serialize_frame(Frame(Opcode.TEXT, b"part", fin=False, rsv1=True), mask=True)
    log = [_entry("tx", b"GET / HTTP/1.1\r\n\r\n", "opening handshake request"), _entry("rx", b"HTTP/1.1 101"),
           _entry("tx", ping + text[:3]), _entry("tx", text[3:] + close)]
    frames = tx_frames(log)
    assert [f.text for f in frames[2]] == ["PING 'Hello'"]
    assert [f.text for f in frames[3]] == ["TEXT 'part'", "CLOSE 1000 'bye'"]
    assert frames[3][0].rsv == "100" and not frames[3][0].fin and frames[3][0].masked


def test_decoding_stops_where_the_log_kept_only_part_of_the_octets() -> None:
    big = serialize_frame(Frame(Opcode.BINARY, b"x" * 100), mask=True)
    cut = {**_entry("tx", big), "hex": big[:20].hex()}
    after = _entry("tx", serialize_frame(Frame(Opcode.PING, b""), mask=True))
    assert tx_frames([_entry("tx", b"GET / HTTP/1.1\r\n\r\n"), cut, after]) == {}
