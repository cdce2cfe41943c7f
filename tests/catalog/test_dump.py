"""The dumper is the loader's inverse: load(dump(case)) == case, for the whole catalogue and for
generated cases of every step kind."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.catalog.dump import dump_cases, write_cases
from conformance.catalog.load import check_consistent, load_catalogue, load_file
from conformance.catalog.model import (
    Case,
    Checkpoint,
    CloseExpect,
    CloseNow,
    DeflateSpec,
    Echo,
    EchoSpec,
    Expect,
    ExpectResponse,
    FrameSpec,
    H2EndStream,
    H2Goaway,
    H2Reset,
    H2Streams,
    H3Fin,
    H3Goaway,
    H3Reset,
    H3Streams,
    HandshakeSpec,
    Observation,
    ResponseSpec,
    SendClose,
    SendFrame,
    SendMessage,
    SendRaw,
    Step,
    Wait,
    WaitMessages,
)
from conformance.catalog.payload import PayloadSpec
from conformance.errors import CaseFileError
from conformance.wire.frames import Opcode


def _round_trip(tmp_path: Path, cases: list[Case], group: str) -> list[Case]:
    path = tmp_path / f"{group}_dumped.yaml"
    write_cases(path, cases, group, "dumped")
    return load_file(path)[0]


def test_every_bundled_case_round_trips(tmp_path: Path) -> None:
    cat = load_catalogue()
    for group, cases in itertools.groupby(cat.cases, key=lambda c: c.group):
        want = list(cases)
        assert _round_trip(tmp_path, want, group) == want, group


payloads = st.one_of(
    st.binary(max_size=40).map(lambda b: PayloadSpec("literal", b)),
    st.text(max_size=20).map(lambda t: PayloadSpec("literal", t.encode())),
    st.tuples(st.binary(min_size=1, max_size=4), st.integers(0, 300)).map(lambda u: PayloadSpec("repeat", u[0], u[1])),
    st.tuples(st.sampled_from(["json", "text", "binary"]), st.integers(0, 5000), st.booleans()).map(
        lambda c: PayloadSpec("corpus", size=c[1], corpus=c[0], rolling=c[2])),
)
opcodes = st.sampled_from(list(Opcode))
frames = st.builds(FrameSpec, opcodes, payloads, st.booleans(), st.none() | st.booleans(), st.booleans(), st.booleans(),
                   st.none() | st.booleans() | st.binary(min_size=4, max_size=4), st.sampled_from([None, 7, 16, 64]),
                   st.none() | st.integers(0, 1 << 20), st.booleans(), st.integers(0, 9), st.sampled_from([0.0, 0.01]))
codes = st.none() | st.integers(0, 0xFFFF)
steps = st.one_of(
    st.builds(SendFrame, frames),
    st.builds(SendMessage, payloads, st.sampled_from([Opcode.TEXT, Opcode.BINARY]), st.integers(0, 9),
              st.none() | st.booleans()),
    st.builds(SendRaw, payloads, st.just(0), st.integers(0, 9), st.sampled_from([0.0, 0.01])),
    st.builds(SendClose, codes, st.none() | payloads),
    st.builds(SendClose, payload=payloads),
    st.builds(CloseNow, codes, st.none() | payloads),
    st.builds(Wait, st.sampled_from([0.0, 0.5, 2.0])),
    st.builds(Checkpoint, st.sampled_from(["A", "B", "after the frame"])),
    st.builds(WaitMessages, st.integers(1, 5)),
    st.builds(Echo, st.builds(EchoSpec, payloads, st.integers(1, 9), st.sampled_from([Opcode.TEXT, Opcode.BINARY]),
                              st.integers(0, 9), st.integers(0, 9), st.booleans(), st.integers(1, 4))),
)
names = st.sampled_from(["Upgrade", "Connection", "Sec-WebSocket-Key", "X-Extra", "Origin"])
values = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)
edits = st.lists(st.tuples(names, st.lists(values, max_size=2).map(tuple)), max_size=3, unique_by=lambda e: e[0]).map(tuple)
handshakes = st.builds(HandshakeSpec, st.none(), st.none() | st.sampled_from(["GET", "POST"]), st.none() | st.just("/x?a=1"),
                       st.none() | st.just("HTTP/1.0"), edits, st.lists(st.tuples(names, values), max_size=2).map(tuple),
                       st.lists(values, max_size=2).map(tuple),
                       st.none() | st.builds(ResponseSpec, st.none(), st.none() | st.sampled_from([101, 200, 302]),
                                             st.none() | st.just("Found"), edits, st.none() | st.just("HTTP/1.0"),
                                             st.lists(st.tuples(names, values), max_size=2).map(tuple),
                                             st.none() | st.sampled_from(ResponseSpec.ACCEPT_FORMS),
                                             st.none() | payloads, st.none() | payloads, st.integers(0, 9),
                                             st.sampled_from([0.0, 0.01])))
offers = st.lists(st.lists(st.tuples(st.sampled_from(["server_max_window_bits", "client_no_context_takeover"]),
                                     st.just(True) | st.integers(8, 15) | st.just("abc")),
                           max_size=2, unique_by=lambda p: p[0]).map(tuple), max_size=2).map(tuple)
observations = st.one_of(st.builds(Observation, st.sampled_from(["text", "binary", "pong"]), payloads),
                         st.builds(Observation, st.just("timeout"), st.none(), st.sampled_from(["A", "B"])))
obs_seqs = st.lists(observations, max_size=3).map(tuple)
cases = st.builds(
    Case, st.just("90.1.1"), st.just("Generated"), st.lists(st.sampled_from(["RFC 6455 §5.2", "RFC 7692 §7"]),
                                                             min_size=1, max_size=2).map(tuple),
    description=st.sampled_from(["", "what is sent"]), expectation=st.sampled_from(["", "what must happen"]),
    level=st.sampled_from(["MUST", "SHOULD", "MAY", "informational"]),
    rule=st.none() | st.just("frame.rsv-unnegotiated"), role=st.sampled_from(["server", "client", "both"]),
    timeout=st.none() | st.just(30.0), exclusive=st.booleans(), handshake=st.none() | handshakes,
    expect_response=st.none() | st.builds(ExpectResponse, st.lists(st.sampled_from([101, 400, 426, "4xx"]), min_size=1,
                                                                  max_size=2).map(tuple),
                                          st.lists(st.tuples(names, st.none() | values), max_size=2,
                                                   unique_by=lambda h: h[0]).map(tuple),
                                          st.lists(st.tuples(names, st.none() | values), max_size=2,
                                                   unique_by=lambda h: h[0]).map(tuple),
                                          st.none() | st.lists(st.none() | values, min_size=1, max_size=2).map(tuple)),
    deflate=st.none() | st.builds(DeflateSpec, offers, st.none() | offers, st.booleans()),
    expect_client=st.none() | st.just("reject"), steps=st.lists(steps, max_size=6).map(tuple),
    expect=st.builds(Expect, obs_seqs, st.none() | obs_seqs, st.none() | obs_seqs,
                     st.none() | st.sampled_from(["informational", "ok"])),
    close=st.builds(CloseExpect, st.sampled_from(["us", "peer", "either"]),
                    st.lists(st.sampled_from([1000, 1000, 1002, 1007, 4000]), min_size=1, max_size=3).map(tuple),
                    st.booleans(), st.booleans(), st.booleans(), st.booleans()),
)


def _consistent(case: Case) -> bool:
    try:
        check_consistent(case)
    except CaseFileError:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(cases.filter(_consistent))
def test_generated_cases_round_trip(case: Case) -> None:
    """(Cases the loader would refuse as self-contradictory are not drawn.)"""
    with tempfile.TemporaryDirectory() as d:
        assert _round_trip(Path(d), [case], "90") == [case], dump_cases([case], "90", "dumped")


# -- the HTTP/2 steps (RFC 8441; `transport: h2`) ----------------------------------------------------

h2_steps = st.one_of(
    st.builds(H2EndStream),
    st.builds(H2Reset, st.integers(0, 13)),
    st.builds(H2Goaway, st.integers(0, 13)),
    st.builds(H2Streams, st.integers(1, 100), payloads),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(steps, h2_steps), max_size=6))
def test_http2_cases_round_trip(drawn: list[Step]) -> None:
    case = Case("90.1", "over HTTP/2", ("RFC 8441 §5",), transport="h2", steps=tuple(drawn))
    if not _consistent(case):
        return
    with tempfile.TemporaryDirectory() as d:
        assert _round_trip(Path(d), [case], "90") == [case], dump_cases([case], "90", "dumped")


# -- the HTTP/3 steps (RFC 9220; `transport: h3`) ----------------------------------------------------

h3_steps = st.one_of(
    st.builds(H3Fin),
    st.builds(H3Reset, st.integers(0x100, 0x110)),
    st.builds(H3Goaway),
    st.builds(H3Streams, st.integers(1, 100), payloads),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(steps, h3_steps), max_size=6))
def test_http3_cases_round_trip(drawn: list[Step]) -> None:
    case = Case("90.1", "over HTTP/3", ("RFC 9220 §3",), transport="h3", steps=tuple(drawn))
    if not _consistent(case):
        return
    with tempfile.TemporaryDirectory() as d:
        assert _round_trip(Path(d), [case], "90") == [case], dump_cases([case], "90", "dumped")
