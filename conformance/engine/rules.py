"""The rule registry: every check the engine makes, with its RFC section and level.

A rule is declared once, next to the code that enforces it, with `rule(...)`. The registry maps
rule ids to `Rule` objects so that reports, the runner and the docs can look them up. When a check
fails, the enforcing code raises `ProtocolError(RULE, detail)`; the error carries the close code
(or HTTP status) that RFC 6455 / RFC 7692 call for.
"""

from __future__ import annotations

__all__ = [
    "RULES",
    "HandshakeError",
    "Level",
    "ProtocolError",
    "Rule",
    "rule",
]

import dataclasses
import enum

from conformance.errors import ConformanceError


class Level(str, enum.Enum):
    """Requirement levels of RFC 2119, plus informational for what the RFCs leave open."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"
    INFORMATIONAL = "informational"


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """One requirement: id, where the RFC states it, how strong it is, and what it says."""

    id: str
    section: str  # e.g. "RFC 6455 §5.2"
    level: Level
    text: str  # the requirement, in our own words
    close_code: int | None = None  # what a conforming endpoint fails the connection with
    http_status: int | None = None  # for opening-handshake rules: the status to answer with
    # close codes a peer may also fail the connection with, in good faith, where the RFC leaves
    # the choice of code open (the oracle, conformance.engine.oracle, accepts them besides close_code)
    also_accepted: tuple[int, ...] = ()

    @property
    def anchor(self) -> str:
        """A URL to the section in the RFC text."""
        rfc, _, sec = self.section.partition(" §")
        num = rfc.replace("RFC", "").strip()
        return f"https://www.rfc-editor.org/rfc/rfc{num}#section-{sec}"


RULES: dict[str, Rule] = {}


def rule(
    id: str,
    section: str,
    level: Level | str,
    text: str,
    *,
    close_code: int | None = None,
    http_status: int | None = None,
    also_accepted: tuple[int, ...] = (),
) -> Rule:
    """Declare a rule and add it to the registry. Ids are unique; `also_accepted` needs a
    `close_code` to be an alternative to."""
    if id in RULES:
        raise ValueError(f"rule {id!r} is declared twice")
    if also_accepted and close_code is None:
        raise ValueError(f"rule {id!r}: accepted alternatives to no close code")
    r = Rule(id, section, Level(level), text, close_code, http_status, tuple(also_accepted))
    RULES[id] = r
    return r


class ProtocolError(ConformanceError):
    """The peer broke a rule; the connection must be failed with `close_code`."""

    def __init__(self, rule: Rule, detail: str = "") -> None:
        self.rule = rule
        self.detail = detail
        self.close_code = rule.close_code
        super().__init__(f"[{rule.id}, {rule.section}] {detail or rule.text}")


class HandshakeError(ProtocolError):
    """The opening handshake broke a rule; a server answers with `http_status`."""

    @property
    def http_status(self) -> int | None:
        return self.rule.http_status
