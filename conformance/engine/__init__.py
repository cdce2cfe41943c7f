"""engine layer (see DESIGN.md): the sans-IO reference endpoint, its rules and the oracle.

    from conformance.engine import Connection, Role
    conn = Connection(Role.SERVER)
    conn.receive_data(octets); events = conn.events(); conn.data_to_send()
"""

__all__ = [
    "RULES",
    "CloseReceived",
    "Connection",
    "Event",
    "HandshakeError",
    "Level",
    "Message",
    "Oracle",
    "Ping",
    "Pong",
    "ProtocolError",
    "Role",
    "Rule",
    "State",
    "StateError",
]

from conformance.engine.connection import Connection, Role, State, StateError
from conformance.engine.events import CloseReceived, Event, Message, Ping, Pong
from conformance.engine.oracle import Oracle
from conformance.engine.rules import RULES, HandshakeError, Level, ProtocolError, Rule
