"""The one root exception and the error families every layer raises.

Each error carries its consequence: a protocol error carries the rule it broke and the close
code a conforming endpoint answers with; a handshake error the HTTP status; a file error the file,
line and field; CLI errors map to the documented exit codes.
"""

from __future__ import annotations

__all__ = [
    "CaseFileError",
    "ConformanceError",
    "ExitCode",
    "TargetError",
    "UsageError",
    "WireError",
]

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of the `conformance` command (a contract, see DESIGN.md)."""

    OK = 0
    CASE_FAILED = 1
    BAD_INPUT = 2
    UNREACHABLE = 3


class ConformanceError(Exception):
    """Root of every error this package raises on purpose."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class WireError(ConformanceError):
    """Input that cannot be decoded at all (malformed HTTP, a bad URI, a broken header grammar)."""


class UsageError(ConformanceError):
    """A wrong flag or value on the command line."""


class CaseFileError(ConformanceError):
    """A case, baseline or other data file that does not load; names file, line and field."""

    def __init__(self, path: str, line: int | None, field: str | None, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = path if line is None else f"{path}:{line}"
        what = f"{field}: {message}" if field else message
        super().__init__(f"{where}: {what}")


class TargetError(ConformanceError):
    """The target could not be reached, or refused every handshake."""

    exit_code = ExitCode.UNREACHABLE
