"""Group 41 (RFC 9220) as data: HTTP/3 steps need `transport: h3`, errors name file and line, and
every case names an RFC section and a level."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.catalog.load import load_catalogue, load_file
from conformance.catalog.model import H3_STEP_TYPES, H3Fin, H3Goaway, H3Reset, H3Streams
from conformance.errors import CaseFileError

HEAD = 'group: "41"\ntitle: t\ncases:\n'


def _load(tmp_path: Path, body: str) -> list[object]:
    p = tmp_path / "41_x.yaml"
    p.write_text(HEAD + body)
    return list(load_file(p)[0])


def test_h3_steps_parse(tmp_path: Path) -> None:
    (case,) = _load(tmp_path, '  - {id: "41.9.1", title: t, rfc: ["RFC 9220 §3"], transport: h3,\n'
                               '     steps: [{h3_reset: 0x10c}, {h3_streams: {count: 3, payload: hi}}, {h3_fin: null},\n'
                               '             {h3_goaway: null}, {h3_reset: null}]}\n')
    steps = case.steps  # type: ignore[attr-defined]
    assert steps[0] == H3Reset(0x10C) == steps[4]
    assert steps[1] == H3Streams(3, steps[1].payload) and steps[1].payload.materialize() == b"hi"
    assert (steps[2], steps[3]) == (H3Fin(), H3Goaway())


@pytest.mark.parametrize("step", ["{h3_fin: null}", "{h3_reset: 0x10c}"])
def test_h3_step_needs_transport_h3(tmp_path: Path, step: str) -> None:
    for transport in ("", ", transport: h2"):
        with pytest.raises(CaseFileError, match="transport: h3"):
            _load(tmp_path, f'  - {{id: "41.9.1", title: t, rfc: ["RFC 9220 §3"]{transport}, steps: [{step}]}}\n')


@pytest.mark.parametrize("body, words", [
    ('  - {id: "41.9.1", title: t, rfc: ["RFC 9220 §3"], transport: h3, steps: [{h3_reset: 8}]}\n', "error code"),
    ('  - {id: "41.9.1", title: t, rfc: ["RFC 9220 §3"], transport: h3, steps: [{h3_streams: {count: 2}}]}\n', "payload"),
    ('  - {id: "41.9.1", title: t, rfc: ["RFC 9220 §3"], transport: h3, steps: [{h2_reset: 8}]}\n', "transport: h2"),
])
def test_bad_h3_cases_name_the_field(tmp_path: Path, body: str, words: str) -> None:
    with pytest.raises(CaseFileError, match=words) as info:
        _load(tmp_path, body)
    assert "41_x.yaml:" in str(info.value)


def test_group_41_is_http3_only_with_sections_and_levels() -> None:
    cases = [c for c in load_catalogue().cases if c.group == "41"]
    assert len(cases) >= 20
    assert {c.transport for c in cases} == {"h3"}
    assert all(any(r.startswith(("RFC 9220", "RFC 9114", "RFC 9000")) for r in c.rfc) for c in cases)
    assert all(c.level in ("MUST", "SHOULD", "MAY", "informational") for c in cases)
    used = {type(s) for c in cases for s in c.steps}
    assert set(H3_STEP_TYPES) <= used  # every HTTP/3 step kind is exercised by the catalogue
