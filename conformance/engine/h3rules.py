"""The rules of WebSocket over HTTP/3 (RFC 9220, and RFC 9114 / RFC 9000 where they govern the
stream). The setting's rules are those of HTTP/2 (conformance/engine/h2rules.py): RFC 9220 §3 gives
SETTINGS_ENABLE_CONNECT_PROTOCOL the semantics of RFC 8441 §3.

Declared here so that the registry knows them; conformance/runner/h3_handshake.py and h3_steps.py
name them when a server breaks one.
"""

from __future__ import annotations

__all__ = ["FLOW_CONTROL", "MALFORMED_REQUEST", "REQUEST_INCOMPLETE", "STOP_SENDING"]

from conformance.engine.rules import Level, rule

MUST = Level.MUST

MALFORMED_REQUEST = rule(
    "h3.malformed-request", "RFC 9114 §4.1.2", MUST,
    "A request without a required pseudo-header field (an extended CONNECT carries :scheme, :path and "
    "the :authority, RFC 9220 §3 through RFC 8441 §4), or with a connection-specific field, is malformed: "
    "the server treats it as a stream error of type H3_MESSAGE_ERROR (a 4xx first is allowed) and never "
    "serves it.")
REQUEST_INCOMPLETE = rule(
    "h3.request-incomplete", "RFC 9220 §3", Level.SHOULD,
    "An extended CONNECT without :scheme, :path or :authority lacks what RFC 8441 §4 (through RFC 9220 "
    "§3) asks of the client, and the server is expected to refuse it; but RFC 9114 §4.1.2 binds a server "
    "only to the malformed requests it detects, so serving it is NON-STRICT, not FAILED.")
STOP_SENDING = rule(
    "h3.stop-sending", "RFC 9000 §3.5", MUST,
    "A peer that receives STOP_SENDING on a stream it is still sending on answers with RESET_STREAM: "
    "the client's RESET_STREAM and STOP_SENDING with H3_REQUEST_CANCELLED are the counterpart of a TCP "
    "reset (RFC 9220 §3), so the server's side of the stream ends with a reset, not with FIN.")
FLOW_CONTROL = rule(
    "h3.flow-control", "RFC 9000 §4.1", MUST,
    "A sender never sends more stream data than the receiver's stream and connection limits allow; the "
    "receiver closes the connection with FLOW_CONTROL_ERROR when it does.")
