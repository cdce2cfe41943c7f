"""Verdicts of the resource group: what the watch and the resource steps measured, against `Limits`.

In order, the first that applies decides (docs/resources.md):
1. the server process died during the case (watched): in a resource case FAILED (MUST, RFC 6455
   §10.4: an implementation "MUST protect" itself against exceeding its limits); elsewhere the wire's
   verdict with the death added, or INFORMATIONAL when the wire showed nothing wrong (no RFC
   sentence forbids a crash as such);
2. it no longer answered a new handshake within `alive_within`, or another client was not served
   while a slow request was under way (a hang): FAILED, likewise;
3. a shortfall at the case's level (SHOULD: NON-STRICT; informational: INFORMATIONAL): no refusal
   where the case asks for one, no reaction within the step's deadline, a refusal that is no 4xx,
   memory growth or CPU time over the bound.
Otherwise the ordinary verdict stands, with the figures in the result sentence.
"""

from __future__ import annotations

__all__ = ["judge_limits"]

import dataclasses
from typing import TYPE_CHECKING, Any

from conformance.catalog.model import Case
from conformance.catalog.resources import Limits

if TYPE_CHECKING:
    from conformance.runner.judge import Verdict
    from conformance.runner.trace import Trace

_MIB = 1 << 20


def judge_limits(case: Case, trace: Trace, verdict: Verdict) -> Verdict:
    m = trace.measurements
    server: dict[str, Any] = m.get("server", {})
    if "exit" in server:
        died = f"The server process {server['exit']} during this case (it was restarted for the next case)"
        if case.resources is not None:  # the case attacks a limit: §10.4's MUST is the sentence broken
            return _fail(verdict, case, f"{died}; RFC 6455 §10.4: an implementation MUST protect itself "
                         "against exceeding its limits.", "MUST")
        if verdict.behavior not in ("OK", "INFORMATIONAL"):  # what the wire showed is the claim
            return dataclasses.replace(verdict, result=f"{verdict.result} {died}.")
        # A crash on traffic that attacks no limit is a bug, but no RFC sentence forbids it (§10.4
        # speaks of size limits): reported, never counted as a broken MUST
        return _fail(verdict, case, f"{died}, after an exchange that was otherwise as the case expects. No RFC "
                     "sentence covers a crash outside a limit (RFC 6455 §10.4 is about frame and message "
                     "sizes), so this is informational: read the server's log.", "informational")
    if case.resources is None:
        return verdict
    dead, slow = _hang(m)
    if dead:
        return _fail(verdict, case, f"{dead}; RFC 6455 §10.4: an implementation MUST protect itself "
                     "against exceeding its limits.", "MUST")
    if slow:  # a deadline passed: a hang and a busy machine look alike, so no MUST is claimed
        return _fail(verdict, case, f"{slow} (an upper bound: a server slowed down, by the attack or by a busy "
                     "machine, looks the same); RFC 6455 §10.4: it SHOULD impose limits.", "SHOULD")
    unjudged = _unjudged(m)
    if unjudged:
        return _fail(verdict, case, f"Not judged: {unjudged}.{_figures(m)}", "informational")
    figures = _figures(m)
    short = _shortfalls(case.resources, m) + _refusal(case.resources, trace)
    if short and verdict.behavior != "FAILED":
        return _fail(verdict, case, f"{short[0][0].upper()}{'; '.join(short)[1:]}.{figures}", case.level)
    if verdict.behavior == "OK" and case.expect.any:
        return dataclasses.replace(verdict, result=f"The server stayed within the case's limits.{figures}")
    return dataclasses.replace(verdict, result=f"{verdict.result}{figures}")


def _fail(verdict: Verdict, case: Case, text: str, level: str) -> Verdict:
    behavior = {"MUST": "FAILED", "SHOULD": "NON-STRICT"}.get(level, "INFORMATIONAL")
    return dataclasses.replace(verdict, behavior=behavior, result=text, rule=None,
                               section=case.rfc[0] if case.rfc else None, level=level)


def _hang(m: dict[str, Any]) -> tuple[str, str]:
    """(why the server is dead, why it looks slow): a new connection refused or dropped is a fact; no
    answer within a deadline is only a bound."""
    alive = m.get("alive")
    if alive is not None and not alive.get("ok"):
        detail = str(alive.get("detail"))
        text = f"After the case the server was not alive: {detail}"
        return ("", text) if detail.startswith("no answer") else (text, "")
    for a in m.get("attack", []):
        probe = a.get("probe_during")
        if probe is not None and probe.get("ok") is False:
            detail = str(probe.get("detail"))
            what = ("one client sent its request slowly" if a.get("step") == "request"
                    else "one client's connection was stuck (it read nothing)")
            text = f"While {what}, the server did not serve another: {detail}"
            return ("", text) if detail.startswith("no answer") else (text, "")
    return "", ""


def _shortfalls(limits: Limits, m: dict[str, Any]) -> list[str]:
    out = [s for a in m.get("attack", []) for s in _answer(limits.answer, a)]
    server = m.get("server", {})
    if server:
        growth, bound = server.get("rss_growth", 0), limits.rss_bound(server.get("octets_sent", 0))
        if growth > bound:
            out.append(f"the server's memory grew by {growth / _MIB:.1f} MiB for {server.get('octets_sent', 0)} "
                       f"octets sent, over the bound of {bound / _MIB:.1f} MiB ({limits.rss_slack / _MIB:g} MiB + "
                       f"{limits.rss_per_octet:g} x octets sent); RFC 6455 §10.4: it SHOULD impose a limit")
        if server.get("cpu_seconds", 0.0) > limits.cpu_seconds:
            out.append(f"the server used {server['cpu_seconds']:.2f} s of CPU time, over the bound of "
                       f"{limits.cpu_seconds:g} s")
    return out


def _unjudged(m: dict[str, Any]) -> str:
    """Why an exact-limit case has nothing to compare ("" when it has): no limit found, or the side
    connection could not carry the compressed message."""
    for a in m.get("attack", []):
        if a.get("step") != "exact_limit" or a.get("answer") == "unreachable":
            continue
        if a.get("limit") is None:
            if str(a.get("probe_detail", "")).startswith("no verdict"):
                continue  # no answer to one of the probe's messages: a shortfall (`_exact`)
            return f"the server's limit is unknown: {a.get('probe_detail')}"
        if a.get("size") is None:
            return str(a.get("probe_detail"))
        if a.get("answer") not in ("accepted", "refused", "none"):
            return f"the compressed message could not be judged: {a.get('answer')}"
    return ""


def _exact(a: dict[str, Any]) -> list[str]:
    if a.get("answer") == "unreachable":
        return [f"the server could not be reached: {a.get('detail')}"]
    if a.get("limit") is None:  # the probe got no answer to one of its messages
        return [f"the probe for the server's limit got no answer: {a.get('probe_detail')}"]
    got, want, size, limit = a.get("answer"), a.get("expected"), a.get("size"), a.get("limit")
    if got == "none":
        return [f"the server neither echoed nor refused a compressed message of {size} octets within "
                f"{a.get('within'):g} s"]
    if got == want:
        return []
    rel = {0: "exactly", 1: "one octet over", 2: "two octets over"}.get(int(a.get("offset", 0)),
                                                                       f"{a.get('offset')} octets from")
    how = ("checked on the compressed size or off by one" if got == "accepted"
           else "off by one in the inflating path, or stricter for compressed messages")
    return [f"a compressed message that inflates to {size} octets, {rel} the largest uncompressed message the "
            f"server accepts ({limit}), was {got}{_reaction_note(a)}, where an uncompressed one is {want}: "
            f"its limit is {how} (no RFC sentence asks the two limits to agree; RFC 6455 §10.4 asks for a limit "
            "on the message after reassembly, and with permessage-deflate that is what the payload inflates to)"]


def _reaction_note(a: dict[str, Any]) -> str:
    return f" ({a['reaction']})" if a.get("reaction") not in (None, a.get("answer")) else ""


def _answer(answer: str, a: dict[str, Any]) -> list[str]:
    if a.get("step") == "request":
        return _request_answer(answer, a)
    if a.get("step") == "exact_limit":
        return _exact(a)
    if a.get("reaction") == "timeout":
        return [f"after the {a['step']} the server neither answered a ping nor closed within {a.get('within'):g} s"]
    return []


def _refusal(limits: Limits, t: Trace) -> list[str]:
    """`answer: refuse` on the case's own connection (requests are judged on theirs): the peer must
    have ended the connection itself, before the suite's closing handshake."""
    if limits.answer != "refuse" or any(a.get("step") == "request" for a in t.measurements.get("attack", [])):
        return []
    if t.close_sent_first is False or (t.close_sent_first is None and (t.eof_first or t.reset)):
        return []
    return ["the server did not refuse what it could never hold (it kept the connection open until the suite "
            "closed it); RFC 6455 §10.4: it SHOULD impose a limit on frame and message sizes"]


def _request_answer(answer: str, a: dict[str, Any]) -> list[str]:
    got, within = a.get("answer"), a.get("within")
    if got == "none":
        return [f"the server gave no answer to the request within {within:g} s"]
    if got == "unreachable":
        return [f"the request could not be sent: {a.get('detail')}"]
    refused = got in ("closed", "reset") or (isinstance(got, int) and 400 <= got < 500)
    if answer == "accept":
        return [] if got == 101 else [f"the server answered the request with {got}, not 101"]
    if answer == "refuse":
        return [] if refused else [f"the server answered the request with {got} instead of refusing it "
                                   "(a 4xx, or closing)"]
    if got == 101 or refused:
        return []
    return [f"the server answered the request with {got}; RFC 9110 §5.4 asks for a 4xx"]


def _exact_figures(a: dict[str, Any]) -> str:
    how = "stated" if a.get("stated") else f"probed with {a.get('probe_attempts', 0)} connections in {a.get('probe_seconds', 0):g} s"
    text = f"limit {a.get('limit')} ({how})"
    if a.get("size") is not None:
        text += f"; compressed message of {a.get('size')} octets ({a.get('compressed')} on the wire): {a.get('reaction')}"
    return text


def _figures(m: dict[str, Any]) -> str:
    parts = []
    server = m.get("server")
    if server:
        parts.append(f"memory +{server.get('rss_growth', 0) / _MIB:.1f} MiB (peak {server.get('rss_peak', 0) / _MIB:.1f} MiB), "
                     f"CPU {server.get('cpu_seconds', 0.0):.2f} s")
    for a in m.get("attack", []):
        if a.get("step") == "request":
            parts.append(f"request of {a.get('octets', 0)} octets answered {a.get('answer')} after {a.get('answer_s', 0):g} s")
        elif a.get("step") == "exact_limit":
            parts.append(_exact_figures(a))
        elif a.get("read") is False:
            parts.append(f"flood of {a.get('octets', 0)} octets never read: {a.get('reaction')} after "
                         f"{a.get('seconds', 0):g} s")
        else:
            parts.append(f"{a['step']} of {a.get('octets', 0)} octets: {a.get('reaction')} after {a.get('reaction_s', 0):g} s")
    alive = m.get("alive")
    if alive:
        parts.append(f"alive after: {'yes' if alive.get('ok') else 'no'} ({alive.get('seconds', 0):g} s)")
    return f" Figures: {'; '.join(parts)}." if parts else ""
