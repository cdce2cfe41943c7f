"""permessage-deflate negotiation (RFC 7692 §5, §7.1) and the rules the codec's errors map to.

Parameter names are compared without regard to case, as the extension name is; values arrive
already unquoted (RFC 6455 §9.1 lets a value be a quoted token). A server declines an offer it
cannot read and tries the next one; a client fails the connection on a response it cannot read.
"""

from __future__ import annotations

__all__ = [
    "CONTEXT_TAKEOVER",
    "INVALID_DATA",
    "OfferSelector",
    "OFFER_INVALID",
    "RESPONSE_INVALID",
    "RESPONSE_UNOFFERED",
    "RSV1_CONTINUATION",
    "RSV1_CONTROL",
    "WINDOW_BITS",
    "client_accept",
    "client_offer",
    "negotiated_codec",
    "parse_offer",
    "parse_response",
    "rule_for",
    "server_accept",
]

import re
from collections.abc import Mapping, Sequence
from typing import Any

from conformance.engine.rules import HandshakeError, Level, Rule, rule
from conformance.wire.deflate import DeflateCodec, DeflateDataError, DeflateParams

Params = list[tuple[str, str | None]]
MUST = Level.MUST

# -- rules (RFC 7692) ----------------------------------------------------------------------------

RSV1_CONTINUATION = rule(
    "deflate.rsv1-continuation", "RFC 7692 §6.1", MUST,
    "RSV1 marks a compressed message on its first frame only; a continuation frame carrying RSV1 "
    "is a protocol error.", close_code=1002)
RSV1_CONTROL = rule(
    "deflate.rsv1-control", "RFC 7692 §6.1", MUST,
    "Control frames are never compressed, so RSV1 on a control frame is a protocol error.",
    close_code=1002)
# RFC 7692 §6.2 only says a message that does not inflate fails the connection; it names no code.
# The frames were well formed; what is wrong is the message's data, which RFC 6455 §7.4.1 gives
# 1007 (data not consistent with the type of the message). wsproto answers 1007, websockets 1002,
# so the cases accept both; the engine itself sends 1007.
INVALID_DATA = rule(
    "deflate.invalid-data", "RFC 7692 §6.2", MUST,
    "The payload of a compressed message, with 00 00 ff ff appended, must be DEFLATE data that "
    "ends between two blocks; anything else fails the connection.", close_code=1007, also_accepted=(1002,))
WINDOW_BITS = rule(
    "deflate.window-bits", "RFC 7692 §7.1.2", MUST,
    "A sender must not refer further back than the LZ77 window it agreed to (max_window_bits).",
    close_code=1007, also_accepted=(1002,))
CONTEXT_TAKEOVER = rule(
    "deflate.context-takeover", "RFC 7692 §7.1.1", MUST,
    "A sender that agreed to no_context_takeover compresses every message from an empty history.",
    close_code=1007, also_accepted=(1002,))
OFFER_INVALID = rule(
    "deflate.offer-invalid", "RFC 7692 §5.1", MUST,
    "An offer with an unknown or repeated parameter or an invalid value is declined: the server "
    "answers without it (or with another offer) and does not fail the handshake.")
RESPONSE_INVALID = rule(
    "deflate.response-invalid", "RFC 7692 §5.1", MUST,
    "A response with an unknown or repeated parameter, an invalid value, or a parameter the offer "
    "did not allow (e.g. client_max_window_bits not offered) makes the client fail the connection.")
RESPONSE_UNOFFERED = rule(
    "deflate.response-unoffered", "RFC 7692 §5", MUST,
    "A server may answer permessage-deflate only when the client offered it.")

_BY_HINT = {"window": WINDOW_BITS, "context": CONTEXT_TAKEOVER}


def rule_for(error: DeflateDataError) -> Rule:
    """The rule a payload that does not inflate broke, from the codec's hint."""
    return _BY_HINT.get(error.hint or "", INVALID_DATA)


# -- parameters ----------------------------------------------------------------------------------

_FLAGS = ("server_no_context_takeover", "client_no_context_takeover")
_WINDOWS = ("server_max_window_bits", "client_max_window_bits")
_BITS = re.compile(r"8|9|1[0-5]")  # 1*DIGIT without leading zeros, 8..15 (§7.1.2.1, §7.1.2.2)


def _collect(params: Params, bad: Rule) -> dict[str, str | None]:
    seen: dict[str, str | None] = {}
    for name, value in params:
        key = name.lower()
        if key not in _FLAGS and key not in _WINDOWS:
            raise HandshakeError(bad, f"unknown parameter {name!r}")
        if key in seen:
            raise HandshakeError(bad, f"parameter {name!r} appears twice")
        seen[key] = value
    return seen


def _window(seen: dict[str, str | None], key: str, bad: Rule, *, bare: bool) -> int | bool | None:
    if key not in seen:
        return None
    value = seen[key]
    if value is None:
        if not bare:
            raise HandshakeError(bad, f"{key} needs a value")
        return True
    if not _BITS.fullmatch(value):
        raise HandshakeError(bad, f"{key}={value!r} is not a number 8-15 without leading zeros")
    return int(value)


def _parse(params: Params, bad: Rule, *, offer: bool) -> DeflateParams:
    seen = _collect(params, bad)
    for key in _FLAGS:
        if seen.get(key) is not None:
            raise HandshakeError(bad, f"{key} takes no value, got {seen[key]!r}")
    server_bits = _window(seen, "server_max_window_bits", bad, bare=False)
    client_bits = _window(seen, "client_max_window_bits", bad, bare=offer)  # bare only in an offer
    server = server_bits if type(server_bits) is int else None  # never True: bare=False
    return DeflateParams(_FLAGS[0] in seen, _FLAGS[1] in seen, server, client_bits)


def parse_offer(params: Params) -> DeflateParams:
    """One permessage-deflate offer's parameters; HandshakeError(deflate.offer-invalid) if unreadable."""
    return _parse(params, OFFER_INVALID, offer=True)


def parse_response(params: Params) -> DeflateParams:
    """A server's answer; HandshakeError(deflate.response-invalid) if unreadable."""
    return _parse(params, RESPONSE_INVALID, offer=False)


def client_offer(offers: Sequence[Mapping[str, Any]]) -> str:
    """The Sec-WebSocket-Extensions value for these offers (a case's `deflate.offers`).

    `true` sends a parameter without a value, false or null leaves it out, anything else is sent
    as written (so a case can send malformed values on purpose).
    """
    parts = []
    for offer in offers:
        items = ["permessage-deflate"]
        for name, value in offer.items():
            if value is True:
                items.append(name)
            elif value is not None and value is not False:
                items.append(f"{name}={value}")
        parts.append("; ".join(items))
    return ", ".join(parts)


# -- server side ---------------------------------------------------------------------------------

def _server_bits(offer: DeflateParams, want: Any) -> str | None:
    """§7.1.2.1: the same or a smaller value than offered; a server may name one unasked."""
    offered = offer.server_max_window_bits
    if want is None or want is True:
        return None if offered is None else str(offered)
    return str(min(int(want), offered if offered is not None else 15))


def _client_bits(offer: DeflateParams, want: Any) -> tuple[bool, str | None]:
    """§7.1.2.2: only if offered, then at most the offered value. (fits, value to answer)."""
    offered = offer.client_max_window_bits
    if want is None or want is True:
        return True, (str(offered) if type(offered) is int else None)
    if offered is None:
        return False, None  # the client did not say it can be told a window: this entry does not fit
    limit = offered if type(offered) is int else 15
    return True, str(min(int(want), limit))


def _respond(offer: DeflateParams, policy: Mapping[str, Any]) -> Params | None:
    """The response to `offer` under one acceptable parameter set, or None if it does not fit."""
    fits, client_bits = _client_bits(offer, policy.get("client_max_window_bits"))
    if not fits:
        return None
    out: Params = []
    # §7.1.1.1: accepting an offer with server_no_context_takeover means answering with it.
    if offer.server_no_context_takeover or policy.get("server_no_context_takeover"):
        out.append(("server_no_context_takeover", None))
    if offer.client_no_context_takeover or policy.get("client_no_context_takeover"):
        out.append(("client_no_context_takeover", None))
    server_bits = _server_bits(offer, policy.get("server_max_window_bits"))
    if server_bits is not None:
        out.append(("server_max_window_bits", server_bits))
    if client_bits is not None:
        out.append(("client_max_window_bits", client_bits))
    return out


def server_accept(offers: Sequence[tuple[str, Params]], policy: Sequence[Mapping[str, Any]] | None = None
                  ) -> tuple[DeflateParams, Params] | None:
    """Pick the first permessage-deflate offer that reads and that a policy entry fits.

    Offers that do not read are declined (§5.1), never an error. `policy` lists acceptable
    parameter sets in order (a case's `deflate.accept`); None accepts the first readable offer as
    it stands. Returns the agreed parameters and the response parameters, or None.
    """
    for name, params in offers:
        if name.lower() != "permessage-deflate":
            continue
        try:
            offer = parse_offer(params)
        except HandshakeError:
            continue
        for entry in policy if policy is not None else [{}]:
            response = _respond(offer, entry)
            if response is not None:
                return parse_response(response), response
    return None


class OfferSelector:
    """A `select_extensions` for ServerHandshake: accepts the first permessage-deflate offer that
    `policy` allows (see server_accept) and keeps what was agreed in `agreed` (None: declined)."""

    def __init__(self, policy: Sequence[Mapping[str, Any]] | None = None) -> None:
        self.policy = policy
        self.agreed: DeflateParams | None = None

    def __call__(self, offers: Sequence[tuple[str, Params]]) -> list[tuple[str, Params]]:
        accepted = server_accept(offers, self.policy)
        self.agreed = accepted[0] if accepted is not None else None
        return [("permessage-deflate", accepted[1])] if accepted is not None else []


# -- client side ---------------------------------------------------------------------------------

def _answers(got: DeflateParams, offer: DeflateParams) -> bool:
    """Whether `got` is a permitted answer to `offer` (§7.1.1.1, §7.1.2.1, §7.1.2.2)."""
    if offer.server_no_context_takeover and not got.server_no_context_takeover:
        return False
    asked, server_bits = offer.server_max_window_bits, got.server_max_window_bits
    # no value in the answer is the default window, 15 bits: the answer to an offer of 15 (the
    # server's window "the same or smaller value as the offer", §7.1.2.1, whether said or not)
    if asked is not None and (15 if server_bits is None else server_bits) > asked:
        return False
    told, allowed = got.client_max_window_bits, offer.client_max_window_bits
    if told is not None and allowed is None:
        return False
    return not (type(told) is int and type(allowed) is int and told > allowed)


def client_accept(response: Params, offered: Sequence[DeflateParams]) -> DeflateParams:
    """Check a server's permessage-deflate answer against our offers; the agreed parameters.

    `offered` holds the offers that read (a deliberately malformed one cannot be accepted).
    The first offer the answer fits decides: a client window it limited itself to stays in force.
    """
    if not offered:
        raise HandshakeError(RESPONSE_UNOFFERED, "the server answered permessage-deflate, which was not offered")
    got = parse_response(response)
    for offer in offered:
        if _answers(got, offer):
            client_bits = got.client_max_window_bits
            if client_bits is None and type(offer.client_max_window_bits) is int:
                client_bits = offer.client_max_window_bits
            return DeflateParams(got.server_no_context_takeover,
                                 got.client_no_context_takeover or offer.client_no_context_takeover,
                                 got.server_max_window_bits, client_bits)
    raise HandshakeError(RESPONSE_INVALID, f"the response {response} answers none of the offers")


def negotiated_codec(params: DeflateParams, role: str, max_message: int | None, level: int = 1) -> DeflateCodec:
    """The codec for an agreed permessage-deflate. Level 1 by default: the level has no bearing
    on conformance, and the suite's time is better spent on the peer than on zlib."""
    return DeflateCodec(role=role, params=params, max_message=max_message, level=level)
