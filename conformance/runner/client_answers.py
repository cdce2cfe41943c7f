"""The handshake answers of client-side cases: how the suite bends its response on purpose.

A client case's `handshake.response` (catalog.model.ResponseSpec) says what differs from the
correct answer: status, reason, HTTP version, header edits and additions, a Sec-WebSocket-Accept
derived wrongly from the client's key, octets ahead of the response (an interim 1xx answer), frames
glued to its end, and writes in small pieces. Everything here is computed from the request, so
the same case works with any client key.
"""

from __future__ import annotations

__all__ = ["PROBE", "answer_octets", "describe_answer", "is_probe_pong", "wrong_accept"]

import base64
import hashlib

from conformance.catalog.model import ResponseSpec
from conformance.engine.handshake import accept_key
from conformance.wire.http import Response, edit_headers

_OTHER_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's sample key: almost never the client's own
# Glued to a 101 answer the client must refuse: a client that took the answer as valid answers this
# ping with a pong (RFC 6455 §5.5.2), so the report can say so instead of only "it stayed open".
PROBE = bytes.fromhex("890570726f6265")  # ping "probe", unmasked as a server sends it


def wrong_accept(form: str, key: str) -> list[str]:
    """The Sec-WebSocket-Accept value(s) of `form` (one of ResponseSpec.ACCEPT_FORMS) for `key`."""
    right = accept_key(key)
    if key == _OTHER_KEY and form == "other-key":
        return [accept_key("AQIDBAUGBwgJCgsMDQ4PEA==")]
    forms: dict[str, list[str]] = {
        "other-key": [accept_key(_OTHER_KEY)],
        "key": [key],  # the client's key echoed back
        "no-guid": [base64.b64encode(hashlib.sha1(key.encode("ascii")).digest()).decode("ascii")],
        "truncated": [right[:-2]],
        "extended": [right + "A"],
        "lowercase": [right.lower() if right.lower() != right else right.upper()],
        "hex": [hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode("ascii")).hexdigest()],
        "unpadded": [right.rstrip("=")],
        "duplicate": [right, right],  # two header lines
        "joined": [f"{right}, {right}"],  # one line, two values
        "empty": [""],
    }
    return forms[form]


def answer_octets(response: Response, override: ResponseSpec | None, key: str,
                  reject: bool = False) -> tuple[bytes, bytes]:
    """(the answer as it is written, the octets glued to its end) for the client's `key`. An
    answer the client must `reject` that still says 101 gets the PROBE ping glued to it."""
    if override is None:
        return response.serialize(), PROBE if reject else b""
    if override.raw is not None:
        return override.raw.materialize(), b""
    if override.status is not None:
        response.status = override.status
        response.reason = override.reason or ("Switching Protocols" if response.status == 101 else "OK")
    elif override.reason is not None:
        response.reason = override.reason
    if override.http_version is not None:
        response.http_version = override.http_version
    edit_headers(response.headers, override.headers)
    if override.accept is not None:
        del response.headers["Sec-WebSocket-Accept"]
        for value in wrong_accept(override.accept, key):
            response.headers["Sec-WebSocket-Accept"] = value
    for name, value in override.extra_headers:
        response.headers[name] = value
    before = override.before.materialize() if override.before is not None else b""
    trailer = override.trailer.materialize() if override.trailer is not None else b""
    if reject and response.status == 101 and override.trailer is None:
        trailer = PROBE
    return before + response.serialize(), trailer


def describe_answer(override: ResponseSpec | None) -> str:
    """What the bent answer differs in, for the report's sentence (empty: a correct answer)."""
    if override is None:
        return ""
    parts: list[str] = []
    if override.raw is not None:
        parts.append("raw octets instead of a response")
    if override.before is not None:
        parts.append("an interim response first")
    if override.status is not None:
        parts.append(f"status {override.status}")
    if override.http_version is not None:
        parts.append(f"version {override.http_version}")
    for name, values in override.headers:
        parts.append(f"{name}: {', '.join(values)}" if values else f"no {name}")
    if override.accept is not None:
        parts.append(f"Sec-WebSocket-Accept ({override.accept})")
    parts += [f"an added {name}: {value}" for name, value in override.extra_headers]
    if override.trailer is not None:
        parts.append("frames glued to its end")
    if override.chop:
        parts.append(f"written in pieces of {override.chop} octets")
    return "; ".join(parts)


def is_probe_pong(data: bytes) -> bool:
    """Whether the client's first octets are a (masked) pong to PROBE: it took the answer as valid."""
    if len(data) < 11 or data[0] != 0x8A or data[1] != 0x80 | (len(PROBE) - 2):
        return False
    key = data[2:6]
    return bytes(b ^ key[i % 4] for i, b in enumerate(data[6:11])) == PROBE[2:]
