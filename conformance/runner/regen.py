"""Steps whose octets the wire log does not hold, made replayable without them.

The log is off during echo, flood and bomb steps (their volume), a hostile request and the
exact-limit probe go over connections of their own, and the log keeps only 4 KiB of a write, so a
large fragmented message (10.1.1) loses the masking keys of its later frames. For each such step
the log gets two markers instead of the octets:

- before it, a fresh 16-octet seed: the masking keys of the frames the step sends are drawn from
  a keyed BLAKE2b stream over it (RFC 6455 §5.3 wants keys the peer cannot predict: the seed comes
  from os.urandom and the stream is a pseudo-random function of it), with the compressors the
  suite uses (deflate output is the same for the same zlib, level and input; another zlib build
  may compress otherwise);
- after it, how many octets the step wrote and their SHA-256, how many echoes came back intact
  and a SHA-256 over their lengths and digests (trace.ECHO_DIGEST), and how the step ended.

The step's kind, payload and counts are data (the case), so a replay runs the same step with the
same seed, sends the same octets in the same order, waits for the same peer events (the step's
own code does: an echo before the next message), and compares the markers (runner/replay.py).
"""

from __future__ import annotations

__all__ = ["REGEN", "REGEN_END", "KeyStream", "compressors", "differences", "needs_seed", "take_step"]

import asyncio
import hashlib
import os
import zlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from conformance.catalog.model import Echo, SendMessage, Step
from conformance.catalog.resources import Bomb, ExactLimit, Flood, Request
from conformance.runner.trace import ECHO_DIGEST

if TYPE_CHECKING:
    from conformance.runner.context import Session

REGEN = "regen"  # the wire log field of the marker before such a step (take_step writes it by name)
REGEN_END = "regen_end"  # and of the one after it
_SEEDED = (Echo, Flood, Bomb, Request, ExactLimit, SendMessage)
_BLOCK = 64  # octets of stream per BLAKE2b call: 16 keys
# log entries such a step may add (a flood's answers could fill the log's 1500 and cut it: what
# comes after the step would be lost, and a replay needs it)
_STEP_ENTRIES = 300


class KeyStream:
    """4-octet masking keys from a seed: the same seed gives the same keys in the same order."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._block = b""
        self._pos = 0
        self._n = 0

    def take(self, n: int = 1) -> bytes:
        """The next `n` keys, 4n octets: the same octets as `n` calls taking one key each."""
        want = 4 * n
        out = self._block[self._pos : self._pos + want]
        self._pos += len(out)
        if len(out) == want:
            return out
        need = want - len(out)
        blocks = -(-need // _BLOCK)
        fresh = b"".join(self._digest(i) for i in range(self._n, self._n + blocks))
        self._n += blocks
        self._block = fresh[-_BLOCK:]
        self._pos = need - (blocks - 1) * _BLOCK
        return out + fresh[:need]

    def _digest(self, i: int) -> bytes:
        return hashlib.blake2b(i.to_bytes(8, "big"), key=self._seed, digest_size=_BLOCK).digest()


def compressors() -> str:
    """The deflate implementations this suite compresses with (wire/deflate.py picks among them)."""
    names = [f"zlib {zlib.ZLIB_RUNTIME_VERSION}"]
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        pass
    else:
        names.append(f"zlib-ng {zlib_ng.ZLIBNG_RUNTIME_VERSION}")
    return ", ".join(names)


def needs_seed(step: Step) -> bool:
    return isinstance(step, _SEEDED)


async def take_step(s: Session, index: int, step: Step, do: Callable[[Session, Step], Awaitable[bool]]) -> bool:
    """Take step `index` (0-based) with `do`; one whose octets the log may not hold is taken
    between the two markers, its masking keys from the seed (a replay's recorded one)."""
    t = s.trace
    if not needs_seed(step) or s.conn is None:
        return await do(s, step)
    seed = t.replay_seeds.pop(index, None) or os.urandom(16)
    t.log("tx", "event", text=f"step {index + 1} ({step.key}): masking keys from seed {seed.hex()}; "
          "a replay sends these octets again from it", regen={"step": index, "key": step.key, "seed": seed.hex(),
                                                                   "compressors": compressors(),
                                                                   "max_echo": s.opts.max_echo})
    s.conn.mask_keys = KeyStream(seed).take
    t.digests_on(_STEP_ENTRIES)
    stopped = False  # by the case's time budget (session.guarded cancels the case)
    try:
        return await do(s, step)
    except asyncio.CancelledError:
        stopped = True
        raise
    finally:
        s.conn.mask_keys = None
        _end(s, index, step, stopped)


def _end(s: Session, index: int, step: Step, stopped: bool) -> None:
    t = s.trace
    fact = {"step": index, "sent": t.tx_octets, "sent_sha256": t.tx_digest.hexdigest(), "echoed": t.echoed,
            "echoed_sha256": t.echo_digest.hexdigest() if t.echoed else "", "echoed_digest": ECHO_DIGEST,
            "echo_failure": t.echo_failure.kind if t.echo_failure else "", "peer_closed": t.peer_closed,
            "stopped_by_budget": stopped}
    t.tx_digest = t.echo_digest = t.step_entries = None
    skipped = f"; {t.step_skipped} more log entries of the step are not kept" if t.step_skipped else ""
    was, t.logging = t.logging, True
    t.log("tx", "event", text=f"step {index + 1} ({step.key}) wrote {fact['sent']} octets "
          f"(SHA-256 {str(fact['sent_sha256'])[:16]}...), {fact['echoed']} echoes came back{skipped}", regen_end=fact)
    t.logging = was


def differences(then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What a replayed step did otherwise than the recorded one, in words (empty: the same)."""
    out = []
    budget = [when for when, f in (("then", then), ("now", now)) if f.get("stopped_by_budget")]
    if then.get("sent") != now.get("sent") and budget:
        out.append(f"the case's time budget stopped the step {' and '.join(budget)} (wrote {then.get('sent')} "
                   f"octets then, {now.get('sent')} now)")
    elif then.get("sent") != now.get("sent") and then.get("peer_closed") and now.get("peer_closed"):
        out.append(f"the target closed during the step both times, after {then.get('sent')} octets of it then "
                   f"and {now.get('sent')} now")
    elif then.get("sent") != now.get("sent"):
        out.append(f"wrote {then.get('sent')} octets then, {now.get('sent')} now")
    elif then.get("sent_sha256") != now.get("sent_sha256"):
        out.append(f"wrote {now.get('sent')} octets then and now, but not the same octets (SHA-256 differs)")
    if then.get("echoed") != now.get("echoed"):
        out.append(f"{then.get('echoed')} echoes came back intact then, {now.get('echoed')} now")
    elif then.get("echoed_digest") == now.get("echoed_digest") and then.get("echoed_sha256") != now.get("echoed_sha256"):
        # (digests of two forms, trace.ECHO_DIGEST, are not compared: a record made before it)
        out.append("as many echoes came back, but not the same octets (SHA-256 differs)")
    if then.get("echo_failure") != now.get("echo_failure"):
        out.append(f"the echo ended {then.get('echo_failure') or 'complete'} then, {now.get('echo_failure') or 'complete'} now")
    return out
