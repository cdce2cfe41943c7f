"""The rules of WebSocket over HTTP/2 (RFC 8441, and RFC 9113 where it governs the stream).

Declared here so that the registry knows them; the runner's HTTP/2 handshake and steps name them
when a server breaks one (conformance/runner/h2_handshake.py, h2_steps.py).
"""

from __future__ import annotations

__all__ = ["CONNECT_NOT_OFFERED", "CONNECT_SETTING_VALUE", "CONNECT_SETTING_WITHDRAWN", "FLOW_CONTROL", "FRAMES_AFTER_RESET",
           "MALFORMED_REQUEST", "MALFORMED_RESPONSE", "REQUEST_INCOMPLETE"]

from conformance.engine.rules import Level, rule

MUST = Level.MUST

CONNECT_NOT_OFFERED = rule(
    "h2.connect-not-offered", "RFC 8441 §3", Level.INFORMATIONAL,
    "A server that does not send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 offers no WebSocket over HTTP/2; "
    "RFC 8441 obliges no server to offer it, and the client may not send an extended CONNECT.")

CONNECT_SETTING_VALUE = rule(
    "h2.connect-setting-value", "RFC 8441 §3", MUST,
    "SETTINGS_ENABLE_CONNECT_PROTOCOL is 0 or 1; any other value is a connection error.")
CONNECT_SETTING_WITHDRAWN = rule(
    "h2.connect-setting-withdrawn", "RFC 8441 §3", MUST,
    "Once a server has sent SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 it does not send 0 later.")
MALFORMED_REQUEST = rule(
    "h2.malformed-request", "RFC 9113 §8.1.1", MUST,
    "A request with a missing, repeated or misplaced pseudo-header field, or with a connection-specific "
    "header field (Connection, Upgrade, ...), is malformed: the server treats it as a stream error of type "
    "PROTOCOL_ERROR (it may answer with a 4xx first) and never serves it.")
REQUEST_INCOMPLETE = rule(
    "h2.request-incomplete", "RFC 8441 §4", Level.SHOULD,
    "An extended CONNECT without :scheme, :path or :authority lacks what RFC 8441 §4 asks of the client, "
    "and the server is expected to refuse it; but RFC 9113 §8.1.1 binds a server only to the malformed "
    "requests it detects, and names no MUST to detect this one, so serving it is NON-STRICT, not FAILED.")
FRAMES_AFTER_RESET = rule(
    "h2.frames-after-reset", "RFC 9113 §6.4", MUST,
    "After receiving RST_STREAM on a stream, an endpoint sends no more frames on it (PRIORITY aside): "
    "RFC 8441 §5 makes RST_STREAM the counterpart of a TCP reset, not of an orderly close.")
FLOW_CONTROL = rule(
    "h2.flow-control", "RFC 9113 §6.9.1", MUST,
    "A sender never sends more DATA than the receiver's stream and connection windows allow; the "
    "receiver treats an overrun as a FLOW_CONTROL_ERROR.")
MALFORMED_RESPONSE = rule(
    "h2.malformed-response", "RFC 9113 §8.2.2", MUST,
    "An HTTP/2 response carries no connection-specific header field (Connection, Upgrade, Keep-Alive, "
    "Proxy-Connection, Transfer-Encoding) and no upper-case field name (RFC 9113 §8.2.1): such a "
    "message is malformed. The 2xx that opens a WebSocket over HTTP/2 is no HTTP/1.1 101 (RFC 8441 §5).")
