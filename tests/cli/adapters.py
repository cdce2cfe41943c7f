"""Broken in-process adapters for `--impl tests.cli.adapters:NAME`: one that never answers (the README's
mistake: no opening handshake) and one that raises."""

from __future__ import annotations

__all__ = ["Raising", "Silent"]


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
