"""Group 40 (RFC 8441) as data: HTTP/2 steps need `transport: h2`, errors name file and line, and
every case names an RFC section and a level."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.catalog.load import load_catalogue, load_file
from conformance.catalog.model import H2_STEP_TYPES, H2Reset, H2Streams
from conformance.errors import CaseFileError

HEAD = 'group: "40"\ntitle: t\ncases:\n'


def _load(tmp_path: Path, body: str) -> list[object]:
    p = tmp_path / "40_x.yaml"
    p.write_text(HEAD + body)
    return list(load_file(p)[0])


def test_h2_steps_parse(tmp_path: Path) -> None:
    (case,) = _load(tmp_path, '  - {id: "40.9.1", title: t, rfc: ["RFC 8441 §5"], transport: h2,\n'
                               '     steps: [{h2_reset: 8}, {h2_streams: {count: 3, payload: hi}}, {h2_end_stream: null}]}\n')
    assert case.steps[0] == H2Reset(8)  # type: ignore[attr-defined]
    assert case.steps[1] == H2Streams(3, case.steps[1].payload)  # type: ignore[attr-defined]
    assert case.steps[1].payload.materialize() == b"hi"  # type: ignore[attr-defined]


def test_h2_step_without_transport_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaseFileError, match="transport: h2"):
        _load(tmp_path, '  - {id: "40.9.1", title: t, rfc: ["RFC 8441 §5"], steps: [{h2_end_stream: null}]}\n')


@pytest.mark.parametrize("body, words", [
    ('  - {id: "40.9.1", title: t, rfc: ["RFC 8441 §5"], transport: h9}\n', "transport"),
    ('  - {id: "40.9.1", title: t, rfc: ["RFC 8441 §5"], transport: h2, steps: [{h2_reset: 99}]}\n', "error code"),
    ('  - {id: "40.9.1", title: t, rfc: ["RFC 8441 §5"], transport: h2, steps: [{h2_streams: {count: 2}}]}\n', "payload"),
])
def test_bad_h2_cases_name_the_field(tmp_path: Path, body: str, words: str) -> None:
    with pytest.raises(CaseFileError, match=words) as info:
        _load(tmp_path, body)
    assert "40_x.yaml:" in str(info.value)


def test_group_40_is_http2_only_with_sections_and_levels() -> None:
    cases = [c for c in load_catalogue().cases if c.group == "40"]
    assert len(cases) >= 20
    assert {c.transport for c in cases} == {"h2"}
    assert all(any(r.startswith(("RFC 8441", "RFC 9113")) for r in c.rfc) for c in cases)
    used = {type(s) for c in cases for s in c.steps}
    assert set(H2_STEP_TYPES) <= used  # every HTTP/2 step kind is exercised by the catalogue
