"""permessage-deflate negotiation (RFC 7692 §5, §7.1) and its rules."""

from __future__ import annotations

__all__ = [
    "client_accept",
    "client_offer",
    "negotiated_codec",
    "parse_offer",
    "server_accept",
]

import re
from collections.abc import Sequence
from typing import Any

from conformance.engine.rules import HandshakeError, Level, rule
from conformance.wire.deflate import DeflateCodec, DeflateParams

Params = list[tuple[str, str | None]]
MUST = Level.MUST

RSV1_CONTINUATION = rule(
    "deflate.rsv1-continuation", "RFC 7692 §6.1", MUST,
    "Only the first frame of a compressed message has RSV1 set; a continuation frame with RSV1 is "
    "a protocol error.", close_code=1002)
RSV1_CONTROL = rule(
    "deflate.rsv1-control", "RFC 7692 §6.1", MUST,
    "Control frames are never compressed; RSV1 on a control frame is a protocol error.", close_code=1002)
# RFC 7692 does not name a code for data that does not inflate; the octets are not a valid
# message of their type, which RFC 6455 §7.4.1 gives 1007 for (cases accept 1002 too).
INVALID_DATA = rule(
    "deflate.invalid-data", "RFC 7692 §6.2", MUST,
    "A compressed message must inflate to the original data; one that does not fails the connection.",
    close_code=1007)
WINDOW_BITS = rule(
    "deflate.window-bits", "RFC 7692 §7.1.2", MUST,
    "A sender must not use a larger LZ77 window than the negotiated max_window_bits.", close_code=1007)
CONTEXT_TAKEOVER = rule(
    "deflate.context-takeover", "RFC 7692 §7.1.1", MUST,
    "A sender that agreed to no_context_takeover starts every message with an empty history.",
    close_code=1007)
OFFER_INVALID = rule(
    "deflate.offer-invalid", "RFC 7692 §5.1", MUST,
    "An offer with an unknown or duplicated parameter or an invalid value is declined (answered "
    "without it), never an error of the handshake.")
RESPONSE_INVALID = rule(
    "deflate.response-invalid", "RFC 7692 §5.1", MUST,
    "A response with an unknown or duplicated parameter, an invalid value, or a parameter the offer "
    "did not allow makes the client fail the connection.")
RESPONSE_UNOFFERED = rule(
    "deflate.response-unoffered", "RFC 7692 §5", MUST,
    "A server answers permessage-deflate only if the client offered it.")

_NAMES = ("server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits",
          "client_max_window_bits")
_BITS = re.compile(r"^(8|9|1[0-5])$")  # 1*DIGIT, no leading zero, 8..15 (RFC 7692 §7.1.2)


def _parse(params: Params, role_of_message: str) -> DeflateParams:
    """Validate parameters of an offer ('offer') or a response ('response')."""
    bad = OFFER_INVALID if role_of_message == "offer" else RESPONSE_INVALID
    seen: dict[str, str | None] = {}
    for name, value in params:
        key = name.lower()
        if key not in _NAMES:
            raise HandshakeError(bad, f"unknown parameter {name!r}")
        if key in seen:
            raise HandshakeError(bad, f"parameter {name!r} appears twice")
        seen[key] = value
    for key in ("server_no_context_takeover", "client_no_context_takeover"):
        if key in seen and seen[key] is not None:
            raise HandshakeError(bad, f"{key} takes no value, got {seen[key]!r}")
    bits: dict[str, int | bool | None] = {}
    for key in ("server_max_window_bits", "client_max_window_bits"):
        if key not in seen:
            bits[key] = None
            continue
        value = seen[key]
        if value is None:
            if key == "server_max_window_bits" or role_of_message == "response":
                raise HandshakeError(bad, f"{key} needs a value")
            bits[key] = True
        elif not _BITS.match(value):
            raise HandshakeError(bad, f"{key}={value!r} is not a number 8-15 without leading zeros")
        else:
            bits[key] = int(value)
    smwb = bits["server_max_window_bits"]
    return DeflateParams("server_no_context_takeover" in seen, "client_no_context_takeover" in seen,
                         smwb if isinstance(smwb, int) and not isinstance(smwb, bool) else None,
                         bits["client_max_window_bits"])


def parse_offer(params: Params) -> DeflateParams:
    return _parse(params, "offer")


def client_offer(offers: Sequence[dict[str, Any]]) -> str:
    """The Sec-WebSocket-Extensions value for these offers (case files' `deflate.offers`)."""
    parts = []
    for offer in offers:
        items = ["permessage-deflate"]
        for k, v in offer.items():
            if v is True:
                items.append(k)
            elif v is not None and v is not False:
                items.append(f"{k}={v}")
        parts.append("; ".join(items))
    return ", ".join(parts)


def _respond(offer: DeflateParams, policy: dict[str, Any]) -> Params | None:
    """The response to `offer` under one acceptance policy, or None if they do not fit."""
    out: Params = []
    if offer.server_no_context_takeover or policy.get("server_no_context_takeover"):
        out.append(("server_no_context_takeover", None))
    if offer.client_no_context_takeover or policy.get("client_no_context_takeover"):
        out.append(("client_no_context_takeover", None))
    want_s = policy.get("server_max_window_bits")
    if offer.server_max_window_bits is not None:
        value = min(offer.server_max_window_bits, want_s or 15)
        out.append(("server_max_window_bits", str(value)))
    elif want_s is not None:
        return None  # §7.1.2.1: not in the offer, so not in the response
    want_c = policy.get("client_max_window_bits")
    if want_c is not None and want_c is not True:
        if offer.client_max_window_bits is None:
            return None  # §7.1.2.2: the client did not say it supports it
        limit = 15 if offer.client_max_window_bits is True else int(offer.client_max_window_bits)
        out.append(("client_max_window_bits", str(min(int(want_c), limit))))
    return out


def server_accept(offers: Sequence[tuple[str, Params]], policy: Sequence[dict[str, Any]] | None = None
                  ) -> tuple[DeflateParams, Params] | None:
    """Accept the first valid permessage-deflate offer that a policy entry fits; invalid ones are declined."""
    for name, params in offers:
        if name.lower() != "permessage-deflate":
            continue
        try:
            offer = parse_offer(params)
        except HandshakeError:
            continue  # §5.1: decline it, try the next offer
        for entry in policy if policy is not None else [{}]:
            response = _respond(offer, dict(entry))
            if response is not None:
                return _parse(response, "response"), response
    return None


def client_accept(response: Params, offered: Sequence[DeflateParams]) -> DeflateParams:
    """Check the server's answer against what we offered; the negotiated parameters."""
    if not offered:
        raise HandshakeError(RESPONSE_UNOFFERED, "permessage-deflate was not offered")
    got = _parse(response, "response")
    for offer in offered:
        if got.server_max_window_bits is not None and offer.server_max_window_bits is not None \
                and got.server_max_window_bits > offer.server_max_window_bits:
            continue
        if got.server_max_window_bits is None and offer.server_max_window_bits is not None:
            continue
        if got.client_max_window_bits is not None and offer.client_max_window_bits is None:
            continue
        if isinstance(offer.client_max_window_bits, int) and not isinstance(offer.client_max_window_bits, bool) \
                and isinstance(got.client_max_window_bits, int) and got.client_max_window_bits > offer.client_max_window_bits:
            continue
        if offer.server_no_context_takeover and not got.server_no_context_takeover:
            continue
        cmwb = got.client_max_window_bits
        if cmwb is None and isinstance(offer.client_max_window_bits, int) and offer.client_max_window_bits is not True:
            cmwb = offer.client_max_window_bits
        return DeflateParams(got.server_no_context_takeover,
                             got.client_no_context_takeover or offer.client_no_context_takeover,
                             got.server_max_window_bits, cmwb)
    raise HandshakeError(RESPONSE_INVALID, f"the response {response} fits none of the offers")


def negotiated_codec(params: DeflateParams, role: str, max_message: int | None, level: int = 1) -> DeflateCodec:
    """The codec for a negotiated connection; level 1 by default: the compression level has no
    bearing on conformance, and the suite should spend its time on the peer, not on zlib."""
    return DeflateCodec(role=role, params=params, max_message=max_message, level=level)
