"""Subcommands contributed by the layers above the engine; cli.py adds each of them."""

from __future__ import annotations

__all__ = ["ADDERS"]

from collections.abc import Callable
from typing import Any

ADDERS: list[Callable[[Any], None]] = []
