"""wss:// mistakes get one line that says what is wrong (issue 15 item 6)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import one_line_error, reference, run_main


@pytest.fixture(scope="module")
def plain_url() -> Iterator[str]:
    with reference() as url:
        yield url


def test_a_tls_url_at_a_plain_server_says_tls_was_the_problem(plain_url: str, tmp_path: Path) -> None:
    r = run_main("run", "--server", plain_url.replace("ws://", "wss://"), "--insecure", "--cases", "1.1.1",
                 "--out", str(tmp_path / "r"))
    assert r.code == 3
    last = r.err.strip().splitlines()[-1]
    assert "TLS" in last and "cannot connect: \n" not in r.err and not last.endswith("cannot connect:")


def test_ca_naming_a_missing_file_is_a_usage_error_naming_it(plain_url: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    r = run_main("run", "--server", plain_url.replace("ws://", "wss://"), "--ca", str(missing), "--cases", "1.1.1")
    assert r.code == 2 and str(missing) in one_line_error(r)


def test_ca_naming_a_file_that_is_no_certificate(plain_url: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n", encoding="utf-8")
    r = run_main("run", "--server", plain_url.replace("ws://", "wss://"), "--ca", str(junk), "--cases", "1.1.1")
    line = one_line_error(r)
    assert r.code == 2 and str(junk) in line and "certificate" in line


def test_ca_with_a_plain_url_is_not_ignored(plain_url: str, tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("x", encoding="utf-8")
    r = run_main("run", "--server", plain_url, "--ca", str(junk), "--cases", "1.1.1")
    assert r.code == 2 and "wss://" in one_line_error(r)
