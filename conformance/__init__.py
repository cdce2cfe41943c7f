"""WebSocket conformance and fuzzing suite: a sans-IO RFC 6455 / RFC 7692 reference engine,
a declarative case catalogue, runners for servers, clients and in-process libraries, and reports.

The sans-IO API is `conformance.engine` (and the codecs of `conformance.wire`); the command is
`conformance.cli`. The other packages are imported module by module."""

__all__ = ["__version__"]

__version__ = "0.1.0"
