"""What a run prints on the terminal: a live progress bar, per-case lines, the failure summary.

Verbosity: -q prints only the failures and the last line, the default adds the progress and the
group table, -v a line per case. Colour and the live bar appear on a terminal only (and colour
not when NO_COLOR is set), so logs in CI stay plain text.
"""

from __future__ import annotations

__all__ = ["Console", "failure_lines"]

import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from conformance.report.model import CaseResult

_RED, _YELLOW, _GREEN, _RESET = "\033[31m", "\033[33m", "\033[32m", "\033[0m"


def _verdict(r: CaseResult) -> str:
    """The verdict that makes `r` a failure: the behaviour one unless only the close failed."""
    return r.behavior if r.behavior not in ("OK", "INFORMATIONAL") else f"close {r.behaviorClose}"


def _reason(r: CaseResult) -> str:
    text = r.result if r.behavior not in ("OK", "INFORMATIONAL") else r.resultClose
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first if len(first) <= 160 else first[:157] + "..."


def failure_lines(results: Iterable[CaseResult], strict: bool, known: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """One line per failing case: verdict, case, rule and section, the reason (pytest's short summary)."""
    out = []
    for r in sorted(results, key=lambda r: tuple(int(p) for p in r.id.split(".") if p.isdigit())):
        if not r.is_failure(strict):
            continue
        rule = " ".join(x for x in (r.rule or "", f"({r.section})" if r.section else "") if x)
        mark = " [in the baseline]" if r.id in known else ""
        out.append(f"{_verdict(r)} {r.id}{mark} {rule}: {_reason(r)}")
    return out


class Console:
    """The terminal side of one run (stderr for progress, stdout for the summary)."""

    def __init__(self, verbosity: int = 0, err: TextIO | None = None, out: TextIO | None = None) -> None:
        self.verbosity = verbosity
        self.err = err or sys.stderr
        self.out = out or sys.stdout
        self.tty = self.err.isatty()
        self.colour = self.out.isatty() and not os.environ.get("NO_COLOR")
        self._bar: Any = None

    def live(self) -> bool:
        """Whether this console draws its own progress (a bar on a terminal, or -v lines)."""
        return self.verbosity > 0 or (self.tty and self.verbosity == 0)

    def start(self, total: int, what: str) -> None:
        if self.tty and self.verbosity == 0:
            import shutil

            from tqdm import tqdm  # type: ignore[import-untyped]

            size = shutil.get_terminal_size((100, 24))  # a terminal of unknown size (0 x 0) gets 100 x 24
            self._bar = tqdm(total=total, desc=what, unit="case", file=self.err, ncols=size.columns, nrows=size.lines,
                             bar_format="{desc} {bar} {n_fmt}/{total_fmt} [{elapsed}<{remaining}] {postfix}")

    def case(self, r: CaseResult, strict: bool = False) -> None:
        """One finished case: a tick of the bar, or a line with -v."""
        bad = r.is_failure(strict)
        if self._bar is not None:
            self._bar.set_postfix_str(f"last {r.id} {r.behavior}/{r.behaviorClose}", refresh=False)
            self._bar.update(1)
        elif self.verbosity > 0:
            line = f"{r.id:<10} {r.behavior}/{r.behaviorClose}"
            print(self.paint(line, _RED if bad else None), file=self.err, flush=True)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def paint(self, text: str, colour: str | None) -> str:
        return f"{colour}{text}{_RESET}" if colour and self.colour else text

    def table(self, text: str) -> None:
        if self.verbosity >= 0:
            print(text, file=self.out)

    def failures(self, results: Sequence[CaseResult], strict: bool, known: frozenset[str] | set[str] = frozenset()) -> None:
        lines = failure_lines(results, strict, known)
        if not lines:
            return
        print(self.paint(f"{len(lines)} failing case{'s' if len(lines) != 1 else ''}:", _RED), file=self.out)
        for line in lines:
            print(self.paint(line, _YELLOW if "[in the baseline]" in line else _RED), file=self.out)

    def last(self, text: str, ok: bool) -> None:
        print(self.paint(text, _GREEN if ok else _RED), file=self.out, flush=True)
