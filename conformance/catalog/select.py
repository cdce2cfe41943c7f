"""Choosing cases: by ID glob, by RFC section prefix, by rule and by level.

Every command that runs or lists the catalogue takes the same selection (`--cases`, `--exclude`,
`--rfc`, `--rule`, `--level`). A criterion that picks nothing is a usage error that names it, so a
mistyped glob never shrinks a CI run silently.
"""

from __future__ import annotations

__all__ = ["RFC_SECTION", "Selection", "apply_selection", "parse_rfc_query", "section_matches"]

import dataclasses
import fnmatch
import re
from collections.abc import Sequence

from conformance.catalog.model import Case
from conformance.errors import UsageError

# How a case file names a section: "RFC 6455 §5.5.1" (checked by the loader).
RFC_SECTION = re.compile(r"^RFC (\d+) §(\d+(?:\.\d+)*)$")
_QUERY = re.compile(r"^\s*(?:RFC\s*)?(\d+)\s*(?:§?\s*(\d+(?:\.\d+)*))?\s*$", re.IGNORECASE)
_LEVELS = {"must": "MUST", "should": "SHOULD", "may": "MAY", "informational": "informational"}


def parse_rfc_query(text: str) -> tuple[str, str | None]:
    """'6455 §5.5' -> ('6455', '5.5'); 'RFC 7692' -> ('7692', None); anything else a UsageError."""
    m = _QUERY.match(text)
    if not m:
        raise UsageError(f"--rfc {text!r}: expected an RFC number and an optional section, "
                         "e.g. '6455 §5.5.1' or 'RFC 7692'")
    return m.group(1), m.group(2)


def section_matches(section: str, rfc: str, prefix: str | None) -> bool:
    """Whether a case's section ("RFC 6455 §5.5.1") lies under `rfc` and section `prefix`."""
    m = RFC_SECTION.match(section)
    if not m or m.group(1) != rfc:
        return False
    return prefix is None or m.group(2) == prefix or m.group(2).startswith(prefix + ".")


def _level(text: str) -> str:
    level = _LEVELS.get(text.strip().lower())
    if level is None:
        raise UsageError(f"--level {text!r}: one of MUST, SHOULD, MAY, informational")
    return level


def _id_hit(cid: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(cid, pattern) or cid.startswith(pattern + ".")


@dataclasses.dataclass(frozen=True)
class Selection:
    """What to run; empty criteria select everything."""

    cases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    rfc: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()

    def with_exclude(self, more: Sequence[str]) -> Selection:
        return dataclasses.replace(self, exclude=(*self.exclude, *more))

    def _by_id(self, cases: Sequence[Case]) -> list[Case]:
        for pattern in self.cases:
            if not any(_id_hit(c.id, pattern) for c in cases):
                raise UsageError(f"--cases {pattern!r} matches no case (IDs look like 6.4.1; "
                                 "see `conformance cases list`)")
        picked = [c for c in cases if not self.cases or any(_id_hit(c.id, p) for p in self.cases)]
        kept = [c for c in picked if not any(_id_hit(c.id, p) for p in self.exclude)]
        if picked and not kept:
            raise UsageError(f"--exclude {' '.join(self.exclude)} removes all {len(picked)} cases that "
                             "the rest of the selection picks")
        return kept

    def _by_rfc(self, cases: list[Case]) -> list[Case]:
        if not self.rfc:
            return cases
        queries = [parse_rfc_query(q) for q in self.rfc]
        for text, (rfc, prefix) in zip(self.rfc, queries, strict=True):
            if not any(section_matches(s, rfc, prefix) for c in cases for s in c.rfc):
                raise UsageError(f"--rfc {text!r} matches no case (sections look like '6455 §5.5.1')")
        return [c for c in cases if any(section_matches(s, r, p) for s in c.rfc for r, p in queries)]

    def _by_rule(self, cases: list[Case]) -> list[Case]:
        if not self.rules:
            return cases
        for pattern in self.rules:
            if not any(c.rule and fnmatch.fnmatchcase(c.rule, pattern) for c in cases):
                raise UsageError(f"--rule {pattern!r} matches no case's rule (see `conformance rules`)")
        return [c for c in cases if c.rule and any(fnmatch.fnmatchcase(c.rule, p) for p in self.rules)]

    def _by_level(self, cases: list[Case]) -> list[Case]:
        if not self.levels:
            return cases
        wanted = {_level(v) for v in self.levels}
        return [c for c in cases if c.level in wanted]

    def apply(self, cases: Sequence[Case]) -> list[Case]:
        """The chosen cases, in catalogue order; a criterion that picks nothing is a UsageError."""
        picked = self._by_level(self._by_rule(self._by_rfc(self._by_id(cases))))
        if not picked:
            raise UsageError(f"no case matches {self.describe()}")
        return picked

    def describe(self) -> str:
        parts = [f"{flag} {' '.join(vals)}" for flag, vals in (
            ("--cases", self.cases), ("--exclude", self.exclude), ("--rfc", self.rfc),
            ("--rule", self.rules), ("--level", self.levels)) if vals]
        return "; ".join(parts) or "the selection"


def apply_selection(cases: Sequence[Case], selection: Selection, side: str | None = None) -> list[Case]:
    """`selection` over `cases`, then only those of `side` ("server" or "client", None for both)."""
    picked = selection.apply(cases)
    if side is None:
        return picked
    mine = [c for c in picked if c.role in (side, "both")]
    if not mine:
        other = "--server/--impl" if side == "client" else "--client or `conformance serve`"
        raise UsageError(f"the {len(picked)} cases of {selection.describe()} test the other side only "
                         f"(run them with {other})")
    return mine
