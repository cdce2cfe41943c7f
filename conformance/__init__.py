"""WebSocket conformance and fuzzing suite: a sans-IO RFC 6455 / RFC 7692 reference engine,
a declarative case catalogue, runners for servers, clients and in-process libraries, and reports."""

__version__ = "0.1.0"
