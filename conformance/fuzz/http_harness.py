"""Atheris harness for the HTTP parsers. Invariant: any octets give None (incomplete), a parsed
message, or HTTPParseError — nothing else — and feeding more octets never changes an earlier
complete parse."""

from __future__ import annotations

__all__: list[str] = ["check", "main", "test_one_input"]  # run as a program (atheris / a child process), not imported

import sys

import atheris

with atheris.instrument_imports(include=["conformance"]):
    from conformance.wire.http import HTTPParseError, parse_request, parse_response


def check(data: bytes) -> None:
    for parse in (parse_request, parse_response):
        try:
            got = parse(data)
        except HTTPParseError:
            continue
        if got is not None:
            again = parse(data + b"trailing octets")
            assert again is not None and again[1] == got[1], "extra octets changed a complete parse"


def test_one_input(raw: bytes) -> None:
    check(raw)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
