"""Loading case files: format, expansion, selection, and errors that name file, line and field."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conformance.catalog.load import load_catalogue, load_file, select
from conformance.catalog.model import ExpectResponse, SendFrame
from conformance.catalog.payload import corpus, parse_payload
from conformance.cli import main
from conformance.errors import CaseFileError
from conformance.wire.frames import Opcode

GOOD = """\
group: "1"
title: Framing
subgroups: {"1.1": Text}
defaults:
  rfc: ["RFC 6455 §5.6"]
tables:
  sizes: [{n: 1, size: 0}, {n: 2, size: 125}]
cases:
  - id: "1.1.{n}"
    params: sizes
    title: Text of {size} octets
    steps:
      - send: {opcode: text, payload: {repeat: "*", size: "{size}"}, chop: 1}
    expect:
      ok: [{text: {repeat: "*", size: "{size}"}}]
  - id: "1.2.{i}.{j}"
    product: [[{i: 1, op: text}, {i: 2, op: binary}], [{j: 1, fin: true}, {j: 2, fin: false}]]
    title: "{op} with fin {fin} and {{braces}}"
    level: SHOULD
    rule: frame.rsv-unnegotiated
    steps:
      - send: {opcode: "{op}", fin: "{fin}", mask: "00000000", length_form: 64}
      - checkpoint: A
    close: {by: peer, codes: [1002], clean: false}
"""


def write(tmp_path: Path, text: str, name: str = "1_framing.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


class TestFormat:
    def test_expansion_and_substitution(self, tmp_path: Path) -> None:
        cases, titles = load_file(write(tmp_path, GOOD))
        assert [c.id for c in cases] == ["1.1.1", "1.1.2", "1.2.1.1", "1.2.1.2", "1.2.2.1", "1.2.2.2"]
        assert titles == {"1": "Framing", "1.1": "Text"}
        c = cases[1]
        assert c.title == "Text of 125 octets" and c.rfc == ("RFC 6455 §5.6",)
        step = c.steps[0]
        assert isinstance(step, SendFrame)
        frame = step.frame
        assert frame.payload.materialize() == b"*" * 125 and frame.chop == 1
        assert c.expect.ok[0].matches("text", b"*" * 125)
        d = cases[3]
        assert d.title == "text with fin False and {braces}"
        step = d.steps[0]
        assert isinstance(step, SendFrame)
        f = step.frame
        assert (f.opcode, f.fin, f.mask, f.length_form) == (Opcode.TEXT, False, b"\0\0\0\0", 64)
        assert d.close.by == "peer" and d.close.codes == (1002,) and not d.close.clean
        assert d.level == "SHOULD" and d.rule == "frame.rsv-unnegotiated"

    def test_loading_the_catalogue_is_fast_and_sorted(self, tmp_path: Path) -> None:
        write(tmp_path, GOOD)
        t0 = time.perf_counter()
        cat = load_catalogue(tmp_path)
        assert time.perf_counter() - t0 < 1.0
        assert [c.id for c in cat.cases][:2] == ["1.1.1", "1.1.2"]

    def test_bundled_catalogue_loads_under_a_second(self) -> None:
        t0 = time.process_time()  # CPU time: a busy machine must not fail this test
        cat = load_catalogue()
        assert time.process_time() - t0 < 1.0
        ids = [c.id for c in cat.cases]
        assert len(ids) == len(set(ids))


class TestErrors:
    @pytest.mark.parametrize(("mutation", "line", "field"), [
        (("level: SHOULD", "level: PERHAPS"), 19, "level"),
        (("rule: frame.rsv-unnegotiated", "rule: frame.nope"), 20, "rule"),
        (("- checkpoint: A", "- teleport: A"), 23, "steps[1]"),
        (('opcode: "{op}"', 'opcode: "{nope}"'), 16, "nope"),
        (("length_form: 64", "length_form: 32"), 22, "steps[0].send"),
        (("codes: [1002]", "codes: [x]"), 24, "close.codes"),
        (("title: Text of {size} octets", "titl: x"), 11, "titl"),
    ])
    def test_error_names_file_line_and_field(self, tmp_path: Path, mutation: tuple[str, str], line: int,
                                             field: str) -> None:
        p = write(tmp_path, GOOD.replace(*mutation))
        with pytest.raises(CaseFileError) as exc:
            load_file(p)
        assert exc.value.path == str(p)
        assert exc.value.field == field
        assert exc.value.line == line, exc.value

    @pytest.mark.parametrize(("spec", "field", "word"), [
        ("handshake: {heders: {Upgrade: null}}", "handshake", "heders"),
        ("expect_response: {statuss: [400]}", "expect_response", "statuss"),
        ("deflate: {offerz: [{}]}", "deflate", "offerz"),
        ("handshake: {response: {staus: 200}}", "handshake", "staus"),
        ("steps: [{send_message: {payload: x, compres: true}}]", "steps[0].send_message", "compres"),
        ("steps: [{echo: {payload: x, cont: 3}}]", "steps[0].echo", "cont"),
        ("steps: [{send_close: {code: 1000, reasn: x}}]", "steps[0].send_close", "reasn"),
        ("steps: [{send: {opcode: text, fin: maybe}}]", "steps[0].send", "fin"),
    ])
    def test_misspelt_keys_of_every_spec_are_errors(self, tmp_path: Path, spec: str, field: str, word: str) -> None:
        """These once passed `cases check` silently: every spec's keys come from its fields now."""
        text = f"group: '1'\ncases:\n  - id: '1.1.1'\n    title: t\n    rfc: ['RFC 6455 §5']\n    {spec}\n"
        with pytest.raises(CaseFileError) as exc:
            load_file(write(tmp_path, text))
        assert exc.value.field == field and exc.value.line == 6 and word in str(exc.value)

    @pytest.mark.parametrize(("spec", "field", "word"), [
        ("close: {linger: 30}", "close.linger", "0-10"),
        ("close: {linger: yes}", "close.linger", "0-10"),
        ("handshake: {response: {status: 302, redirect: elsewhere}}", "handshake", "path starting with /"),
    ])
    def test_linger_and_redirect_are_checked(self, tmp_path: Path, spec: str, field: str, word: str) -> None:
        text = f"group: '1'\ncases:\n  - id: '1.1.1'\n    title: t\n    rfc: ['RFC 6455 §5']\n    {spec}\n"
        with pytest.raises(CaseFileError) as exc:
            load_file(write(tmp_path, text))
        assert exc.value.field == field and word in str(exc.value)

    def test_yaml_syntax_error_has_a_line(self, tmp_path: Path) -> None:
        with pytest.raises(CaseFileError) as exc:
            load_file(write(tmp_path, "group: '1'\ncases:\n  - id: [\n"))
        assert exc.value.line is not None

    def test_duplicate_ids_across_files(self, tmp_path: Path) -> None:
        write(tmp_path, GOOD)
        write(tmp_path, GOOD, "1_again.yaml")
        with pytest.raises(CaseFileError, match="already defined"):
            load_catalogue(tmp_path)

    def test_duplicate_key(self, tmp_path: Path) -> None:
        with pytest.raises(CaseFileError, match="twice"):
            load_file(write(tmp_path, "group: '1'\ngroup: '2'\ncases: []\n"))

    def test_cli_exit_code_and_one_line(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        write(tmp_path, GOOD.replace("level: SHOULD", "level: PERHAPS"))
        assert main(["cases", "check", "--cases-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "1_framing.yaml:19: level:" in err[0]


class TestSelection:
    def test_globs(self, tmp_path: Path) -> None:
        cases, _ = load_file(write(tmp_path, GOOD))
        ids = lambda inc, exc=(): [c.id for c in select(cases, inc, exc)]  # noqa: E731
        assert ids(["1.1.1"]) == ["1.1.1"]
        assert ids(["1.2.*"]) == ["1.2.1.1", "1.2.1.2", "1.2.2.1", "1.2.2.2"]
        assert ids(["1.2"], ["1.2.2.*"]) == ["1.2.1.1", "1.2.1.2"]
        assert ids(["1.1"]) == ["1.1.1", "1.1.2"]
        assert len(ids([])) == 6


class TestPayloads:
    def test_forms(self) -> None:
        assert parse_payload("κ").materialize() == "κ".encode()
        assert parse_payload({"hex": "ce ba"}).materialize() == b"\xce\xba"
        assert parse_payload({"repeat_hex": "fe", "size": 3}).materialize() == b"\xfe\xfe\xfe"
        assert parse_payload({"repeat": "ab", "size": 5}).materialize() == b"ababa"

    @pytest.mark.parametrize("name", ["json", "html", "text"])
    def test_text_corpora_slices_are_utf8(self, name: str) -> None:
        spec = parse_payload({"corpus": name, "size": 1000, "offset": "rolling"})
        off = 0
        for _ in range(50):
            data = spec.materialize(off)
            data.decode("utf-8")
            assert 996 <= len(data) <= 1000
            off += len(data)
        assert len(corpus(name)) == 1 << 20

    @pytest.mark.parametrize("bad", [{"hex": "zz"}, {"repeat": "a"}, {"corpus": "pdf", "size": 3}, [1], {"size": -1, "repeat": "a"}])
    def test_bad(self, bad: object) -> None:
        with pytest.raises(ValueError):
            parse_payload(bad)


# -- the close expectation cannot contradict the behaviour expectation --------------------------

_CONTRADICTIONS = {
    "non-strict refusal with close.by us": """\
  - id: "1.1.1"
    title: t
    rfc: ["RFC 7692 §7.2.3.4"]
    steps: [{send: {opcode: text, payload: a}}, {send: {opcode: text, payload: a}}]
    expect: {ok: [{text: a}, {text: a}], non_strict: [{text: a}]}
    close: {by: us, codes: [1000], clean: true}
""",
    "non-strict refusal without a failure code": """\
  - id: "1.1.1"
    title: t
    rfc: ["RFC 7692 §7.2.3.4"]
    steps: [{send: {opcode: text, payload: a}}, {send: {opcode: text, payload: a}}]
    expect: {ok: [{text: a}, {text: a}], non_strict: [{text: a}]}
    close: {by: either, codes: [1000], clean: false}
""",
    "peer must fail, close.by us": """\
  - id: "1.1.1"
    title: t
    rfc: ["RFC 6455 §5.5"]
    steps: [{send_ping: {repeat: "*", size: 126}}]
    close: {by: us, codes: [1002], clean: false}
""",
    "the rule's code is called wrong": """\
  - id: "1.1.1"
    title: t
    rfc: ["RFC 6455 §8.1"]
    rule: utf8.text-invalid
    steps: [{send: {opcode: text, payload: {hex: "ff"}}}]
    close: {by: peer, codes: [1002], clean: false}
""",
}


@pytest.mark.parametrize("body", list(_CONTRADICTIONS.values()), ids=list(_CONTRADICTIONS))
def test_contradicting_close_expectation_is_refused(body: str, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text('group: "1"\ntitle: x\ncases:\n' + body)
    with pytest.raises(CaseFileError) as err:
        load_file(path)
    assert err.value.line is not None and err.value.line >= 4 and "close" in str(err.value.field)
    assert str(path) in str(err.value) and "1.1.1" in str(err.value)


def test_contradiction_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text('group: "1"\ntitle: x\ncases:\n' + _CONTRADICTIONS["peer must fail, close.by us"])
    assert main(["cases", "check", "--cases-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "c.yaml:" in err[0] and "close.by" in err[0]


def test_consistent_refusal_is_accepted(tmp_path: Path) -> None:
    body = _CONTRADICTIONS["non-strict refusal with close.by us"].replace(
        "close: {by: us, codes: [1000], clean: true}", "close: {by: either, codes: [1000, 1007], clean: false}")
    (tmp_path / "c.yaml").write_text('group: "1"\ntitle: x\ncases:\n' + body)
    (case,), _ = load_file(tmp_path / "c.yaml")
    assert case.expect.non_strict is not None


def test_status_classes(tmp_path: Path) -> None:
    body = """\
  - id: "1.1.1"
    title: t
    rfc: ["RFC 6455 §4.2.1"]
    handshake: {method: POST}
    expect_response: {status: [STATUS]}
"""
    path = tmp_path / "c.yaml"
    path.write_text('group: "1"\ntitle: x\ncases:\n' + body.replace("STATUS", '"4xx", 501'))
    (case,), _ = load_file(path)
    assert case.expect_response == ExpectResponse(status=("4xx", 501))
    assert case.expect_response.allows(404) and case.expect_response.allows(501)
    assert not case.expect_response.allows(101) and not case.expect_response.allows(500)
    path.write_text('group: "1"\ntitle: x\ncases:\n' + body.replace("STATUS", '"4yy"'))
    with pytest.raises(CaseFileError, match="4xx"):
        load_file(path)
