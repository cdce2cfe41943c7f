"""Data the deflate tests share: compressible text, and a narrow window's small steps cut short."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from conformance.wire import deflate as wd

WORDS = (b"alpha", b"beta", b"gamma", b"delta", b'{"id": ', b"</div>", b"\n")


def compressible(size: int, seed: int = 0, words: Sequence[bytes] = WORDS) -> bytes:
    """`size` octets of words and numbers (with WORDS: ASCII, so any slice is valid UTF-8)."""
    rnd = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        out += rnd.choice(words) + str(rnd.randrange(1000)).encode()
    return bytes(out[:size])


@contextmanager
def strict_budget(octets: int) -> Iterator[None]:
    """Inside the block, a narrow window leaves its small steps (stock zlib, a call per step)
    after `octets` of output instead of the first 4 MiB."""
    saved = wd._STRICT_BUDGET
    wd._STRICT_BUDGET = octets
    try:
        yield
    finally:
        wd._STRICT_BUDGET = saved
