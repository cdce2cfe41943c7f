"""Broken in-process adapters for `--impl tests.cli.adapters:NAME`: one that never answers (the README's
mistake: no opening handshake), one that raises at once, and one that opens and then raises on a
message."""

from __future__ import annotations

__all__ = ["Raising", "RaisingOnMessages", "Silent"]

from conformance.targets.inprocess import ReferenceAdapter


class Silent:
    """Takes every octet and never answers: the opening handshake left out."""

    def receive(self, data: bytes) -> None:
        pass

    def messages(self) -> list[tuple[bool, bytes]]:
        return []

    def send_message(self, data: bytes, text: bool) -> None:
        pass

    def data_to_send(self) -> bytes:
        return b""

    def should_close(self) -> bool:
        return False


class Raising(Silent):
    def receive(self, data: bytes) -> None:
        raise ValueError("the adapter broke on purpose")


class RaisingOnMessages(ReferenceAdapter):
    """Opens the connection like the reference, then raises on the first whole message."""

    def messages(self) -> list[tuple[bool, bytes]]:
        got = super().messages()
        if got:
            raise KeyError("no handler for this message")
        return got
