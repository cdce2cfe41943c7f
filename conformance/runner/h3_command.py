"""The --http3 parts of `conformance run` and `conformance echo-server` (RFC 9220)."""

from __future__ import annotations

__all__ = ["h3_echo_server", "h3_target"]

import argparse
from typing import Any

from conformance.errors import UsageError
from conformance.runner.h2_command import serve_announced


def h3_target(url: str, ca: str | None, insecure: bool) -> Any:
    """The HTTP/3 target of `run --http3 --server https://...`."""
    from conformance.targets.h3 import H3Target

    return H3Target.from_url(url, ca, insecure)


def h3_echo_server(args: argparse.Namespace) -> int:
    """`conformance echo-server --http3`: QUIC on UDP, TLS 1.3 with ALPN h3; a self-signed
    certificate made now when no --cert/--key is given."""
    from conformance.targets.h3_server import serve_h3_echo
    from conformance.targets.tcp import check_loopback

    check_loopback(args.host)
    if bool(args.cert) != bool(args.key):
        raise UsageError("--cert and --key go together")

    return serve_announced(args, "https", lambda ready: serve_h3_echo(  # on UDP
        args.host, args.port, cert=args.cert, key=args.key, deflate=args.deflate, ready=ready))
