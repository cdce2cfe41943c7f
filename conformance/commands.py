"""Subcommands contributed by the layers above the engine; cli.py adds each of them."""

from __future__ import annotations

__all__ = ["adders"]

from collections.abc import Callable
from typing import Any


def adders() -> list[Callable[[Any], None]]:
    from conformance.fuzz.command import add_fuzz_commands
    from conformance.runner.command import add_run_commands

    out: list[Callable[[Any], None]] = [add_run_commands, add_fuzz_commands]
    try:
        from conformance.report.commands import add_report_commands
    except ImportError:  # pragma: no cover - the report layer is being built
        pass
    else:
        out.append(add_report_commands)
    return out
