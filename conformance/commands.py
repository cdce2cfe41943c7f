"""The option glue the subcommands share (cli.py adds the subcommands themselves).

The option glue every command shares: `add_selection_args` / `selected_cases` give every command that runs
or lists the catalogue the same selection flags (--cases, --exclude, --rfc, --rule, --level,
--cases-dir), and `EXIT_CODES` is the text every `--help` ends with.
"""

from __future__ import annotations

__all__ = ["EXIT_CODES", "add_selection_args", "catalogue_from_args", "selected_cases", "selection_from_args"]

import argparse
import sys
from collections.abc import Sequence
from typing import Any

EXIT_CODES = """exit codes:
  0  nothing unexpected failed
  1  a case failed (or, with --baseline, differs from the baseline)
  2  bad usage, or a bad case, baseline, spec or report file
  3  the target could not be reached or refused every handshake"""


def add_selection_args(p: argparse.ArgumentParser, positional_globs: bool = False) -> None:
    """The selection flags; with `positional_globs`, ID globs may also be given without --cases."""
    if positional_globs:
        p.add_argument("glob", nargs="*", help="case IDs, shell patterns over the whole ID, e.g. '6.4.*'")
    p.add_argument("--cases", action="append", nargs="+", default=[], metavar="GLOB",
                   help="case IDs to run, shell patterns over the whole ID: '2.1' one case, '6.4.*' a "
                        "subgroup, '9.*' a group (repeatable)")
    p.add_argument("--exclude", action="append", nargs="+", default=[], metavar="GLOB",
                   help="case IDs to leave out (repeatable)")
    p.add_argument("--rfc", action="append", default=[], metavar="SECTION",
                   help="only cases citing this RFC section or one below it, e.g. '6455 §5.5' (repeatable)")
    p.add_argument("--rule", action="append", default=[], metavar="GLOB",
                   help="only cases checking a rule matching this pattern, e.g. 'close.*' (see "
                        "`conformance rules`; repeatable)")
    p.add_argument("--level", action="append", default=[], metavar="LEVEL",
                   help="only cases of this level: MUST, SHOULD, MAY or informational (repeatable)")
    p.add_argument("--cases-dir", action="append", default=[], metavar="DIR",
                   help="more case files, added to the bundled catalogue (a case with a bundled ID replaces "
                        "it); without other selection, only these cases run (repeatable)")


def _flat(groups: Sequence[Any]) -> tuple[str, ...]:
    return tuple(g for group in groups for g in (group if isinstance(group, list) else [group]))


def selection_from_args(args: argparse.Namespace) -> Any:
    from conformance.catalog.select import Selection

    levels = tuple(v.strip() for lv in args.level for v in lv.split(",") if v.strip())
    return Selection(cases=_flat(args.cases) + tuple(getattr(args, "glob", None) or ()),
                     exclude=_flat(args.exclude), rfc=tuple(args.rfc), rules=tuple(args.rule), levels=levels)


def catalogue_from_args(args: argparse.Namespace, *, parse: bool = False) -> Any:
    from conformance.catalog.load import load_catalogue

    return load_catalogue(None, extra=list(getattr(args, "cases_dir", None) or ()), parse=parse)


def selected_cases(args: argparse.Namespace, side: str | None, extra_exclude: Sequence[str] = ()) -> tuple[Any, list[Any]]:
    """The catalogue and the cases of `side` that the selection flags pick (UsageError when none)."""
    from conformance.catalog.select import Selection, apply_selection

    cat = catalogue_from_args(args)
    selection = selection_from_args(args)
    if cat.replaced:
        shown = ", ".join(cat.replaced[:5]) + (", ..." if len(cat.replaced) > 5 else "")
        print(f"note: --cases-dir replaces {len(cat.replaced)} bundled cases with its own: {shown}", file=sys.stderr)
    if cat.added and selection == Selection():  # `run --cases-dir found`: replay just those
        selection = Selection(cases=tuple(cat.added))
    return cat, apply_selection(cat.cases, selection.with_exclude(extra_exclude), side)
