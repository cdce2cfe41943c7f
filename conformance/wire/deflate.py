"""permessage-deflate (RFC 7692): the negotiated parameters and the per-message codec.

No judgement here beyond "this does not inflate": the engine (engine/deflate.py) maps the two
errors below to its rules.

Sending. Each frame's part of a message is compressed and flushed with Z_SYNC_FLUSH, so every
frame carries its own data; the last frame drops the 00 00 ff ff that the flush ends with
(RFC 7692 §7.2.1). zlib refuses an 8-bit window for raw deflate, so when our side is limited to
8 bits we compress with 9. That stays within the agreement: zlib's deflate never emits a distance
longer than its window minus 262 octets (MIN_LOOKAHEAD = 258 + 3 + 1), so a 9-bit compressor
refers at most 250 octets back, inside the 256 octets an 8-bit window allows (§7.1.2).

Sending again. After a sync flush the stream sits on a byte boundary, and a whole message's
compressed form refers at most 2^wbits octets back (wbits as given to zlib). So the form computed
after a history H inflates to the same message after any history that ends with the same 2^wbits
octets as H: the receiver's window then holds the same octets at the same distances. The volume
cases send the slices of a corpus round and round, so once the stream has gone round once, every
message follows the same octets it followed before, and its earlier form is sent again instead of
deflating it anew (`_Forms`). The compressor is then behind the stream; before it compresses
anything new, it is given the stream's last 2^wbits octets as its dictionary (unless what it last
saw ends with those octets anyway). Without context takeover the history is always empty, and a
repeated message always reuses its form. The first messages of a stream are always compressed
anew, with the context of the messages before them.

Receiving. The 00 00 ff ff tail is put back on the last frame, the data is inflated and counted,
each zlib call capped at what is left of `max_message` plus one octet, so a deflate bomb stops
there. zlib only notices a reference beyond the window when it reaches past the history it
holds plus what this call has written, so with a window below 15 bits we inflate in small steps
(in stock zlib): a too-wide window then shows, save for distances less than _STRICT_STEP octets
past it. Small steps cost a zlib call per 64 octets, so they are kept for the first
_STRICT_BUDGET octets of a connection: a peer compressing with a wider window than agreed shows
it within its first messages, and the thousand 128 KiB messages of Autobahn's 13.x cases then
inflate at full speed, in zlib-ng from the next message on (primed with the window's octets).
A final block (BFINAL = 1, §7.2.3.4) ends zlib's stream but not ours: the blocks after it are inflated by a new decompressor primed
with the history. At the end of a message the stream must sit on a block boundary, else the
message was cut short and does not inflate. zlib's own record of where its last call stopped
shows that (zstate.py); where it does not, an empty final block inflated by a copy of the
inflater decides, as it decided alone before: the two accept exactly the same messages.

Receiving again. Inflating is deterministic: the same compressed octets after the same last
2^bits octets of output (none without context takeover) give the same message, pass the same
checks, and fail with the same error. Since the sender sends forms again (above), the volume
cases make each side receive the same payloads after the same history over and over, so a
one-frame message inflated before is taken from a memo (`_Inflations`, keyed like `_Forms` by the
history's names and the payload, the payload compared in full) without a zlib call; the engine
asks `text_of` and skips its UTF-8 decode of a text it validated before. Only messages that
inflated and passed every check are stored, and only where the same regime would inflate them
again: the boundary checked, past the small steps (whose window checks need the real inflater),
under the same `max_message` (checked again on a hit). The decompressor then lacks the recalled
messages; before it inflates again it is rebuilt with the stream's last 2^bits octets as its
dictionary, which is what its window would hold (a zlib window holds exactly those octets, and a
shorter stream whole).
"""

from __future__ import annotations

__all__ = ["ZLIB_ERRORS", "DeflateCodec", "DeflateDataError", "DeflateParams", "DeflateTooBigError",
           "compressor_module", "zlib_module"]

import collections
import dataclasses
import itertools
import sys
import zlib
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from conformance.errors import WireError
from conformance.wire.zstate import AT_BOUNDARY, boundary_view

_zlib_ng: ModuleType | None
try:  # zlib-ng: the same DEFLATE (RFC 1951) and the same API, two to five times faster
    from zlib_ng import zlib_ng as _zlib_ng
except ImportError:  # pragma: no cover - an optional speed-up
    _zlib_ng = None

# RFC 7692 §7.2.1: the sender removes these four octets, the receiver appends them.
_TAIL = b"\x00\x00\xff\xff"
# An empty block with fixed codes and BFINAL set: ends the stream only at a block boundary.
_EMPTY_FINAL = b"\x03\x00"
# With a full window nothing needs small steps: a message inflates in one zlib call, its output
# bounded by `max_message` + 1 (the cap of each call is what is left of the limit, plus one octet).
_STEP = 1 << 30  # output per zlib call with a full window
_SLICE = 1 << 30  # input per zlib call with a full window
_PROBE_STEP = 64 * 1024  # output and input per call of _inflates, whose output is thrown away
_STRICT_STEP = 64  # output per zlib call below 15 bits (see the module docstring)
_STRICT_SLICE = 512  # input per call there: bounds what zlib copies into unconsumed_tail
_STRICT_BUDGET = 4 << 20  # octets of a connection inflated in small steps (see the module docstring)
_KEEP_LIMIT = 1 << 20  # compressed octets of a message kept to explain a too-far reference
_MEMO_LIMIT = 4 << 20  # octets of messages and compressed forms a codec remembers (see _Forms)
_MEMO_FROM = 1024  # smaller messages compress faster than they are looked up (with a full window)
_KEY_NAMES = 32  # with context takeover, messages of 1/32 of the window and more are looked up
# Below these sizes a message inflates (and its text decodes) in about the time a look-up and
# storing it take (a few microseconds), so the memo would cost where messages do not recur:
_RECALL_FROM = 1024  # payloads without context takeover
_RECALL_NAMES_FROM = 2048  # messages with it (smaller ones get a number of their own)
_ENTRY_COST = 200  # octets an entry of the receive memo costs beside the payload and message
_END_COST = 100  # octets an end of a call in a message of several calls costs in the memo
_PARTED_LIMIT = 1 << 20  # compressed octets of a message of several calls worth remembering
_MIN_BITS, _MAX_BITS = 8, 15  # RFC 7692 §7.1.2
_ZLIB_MIN_DEFLATE_BITS = 9
# What either zlib raises for data that does not inflate.
ZLIB_ERRORS: tuple[type[Exception], ...] = (zlib.error,) if _zlib_ng is None else (zlib.error, _zlib_ng.error)


def zlib_module(bits: int) -> ModuleType:
    """The zlib that first inflates with a `bits` window: zlib-ng (when installed) for the full 15 bits.

    Below 15 bits stock zlib inflates the first _STRICT_BUDGET octets of a connection in small
    steps: the window checks of this module rest on how stock zlib notices a reference too far
    back. Past them the codec goes on with zlib-ng, which rejects a reference past the history it
    holds as stock zlib does. Both implement the same format, and the differential tests in
    tests/wire/test_deflate.py hold them to the same output.
    """
    return _zlib_ng if (_zlib_ng is not None and bits == _MAX_BITS) else zlib


def compressor_module(agreed_bits: int) -> ModuleType:
    """The zlib that compresses for an agreed window: zlib-ng for 9-15 bits (it never refers
    further back than the window it is given; four times faster than stock zlib at 9 bits).
    An agreed 8-bit window is compressed with 9 bits by stock zlib, whose distances stay inside
    8 bits (see the module docstring); that bound is stock zlib's, so it stays there."""
    return _zlib_ng if (_zlib_ng is not None and agreed_bits >= _ZLIB_MIN_DEFLATE_BITS) else zlib


class DeflateDataError(WireError):
    """A compressed payload does not inflate.

    `hint` says which agreement a reference beyond the available history most likely broke:
    "window" (a wider LZ77 window than negotiated) or "context" (history from an earlier message
    although no_context_takeover was agreed); None for any other damage.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class DeflateTooBigError(WireError):
    """The inflated message would exceed the codec's `max_message`."""


_CUT_SHORT_ERRORS: tuple[type[Exception], ...] = (DeflateDataError, *ZLIB_ERRORS)


def _bits_ok(value: object, *, bare: bool) -> bool:
    if value is None or (bare and value is True):
        return True
    return type(value) is int and _MIN_BITS <= value <= _MAX_BITS


@dataclasses.dataclass(frozen=True)
class DeflateParams:
    """The four parameters of RFC 7692 §7.1, as offered, answered or agreed.

    Window bits of None mean the default 15; client_max_window_bits may be True in an offer:
    the parameter without a value (the client can be told a window, §7.1.2.2).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | bool | None = None

    def __post_init__(self) -> None:
        if not _bits_ok(self.server_max_window_bits, bare=False):
            raise ValueError(f"server_max_window_bits {self.server_max_window_bits!r} is not 8-15")
        if not _bits_ok(self.client_max_window_bits, bare=True):
            raise ValueError(f"client_max_window_bits {self.client_max_window_bits!r} is not 8-15 or True")

    def to_header_params(self) -> list[tuple[str, str | None]]:
        """The parameters as (name, value) pairs; None for a parameter without a value."""
        out: list[tuple[str, str | None]] = []
        if self.server_no_context_takeover:
            out.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            out.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            out.append(("server_max_window_bits", str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            out.append(("client_max_window_bits", None))
        elif self.client_max_window_bits is not None and self.client_max_window_bits is not False:
            out.append(("client_max_window_bits", str(self.client_max_window_bits)))
        return out

    def header_value(self) -> str:
        """One element of Sec-WebSocket-Extensions: "permessage-deflate; name=value; ..."."""
        items = (k if v is None else f"{k}={v}" for k, v in self.to_header_params())
        return "; ".join(["permessage-deflate", *items])

    def window(self, side: str) -> int:
        """The LZ77 window bits `side` ("client" or "server") compresses with at most."""
        bits = self.server_max_window_bits if side == "server" else self.client_max_window_bits
        return bits if type(bits) is int else _MAX_BITS

    def no_takeover(self, side: str) -> bool:
        """Whether `side` starts every message with an empty history."""
        return self.server_no_context_takeover if side == "server" else self.client_no_context_takeover


def _last(pieces: Iterable[bytes], size: int) -> bytes:
    """The last `size` octets of the concatenation of `pieces`, joining only what is needed."""
    picked: list[bytes] = []
    have = 0
    for piece in reversed(list(pieces)):
        picked.append(piece)
        have += len(piece)
        if have >= size:
            break
    return b"".join(reversed(picked))[-size:] if size else b""


def _inflates(data: bytes, bits: int, upto: int) -> bool:
    """Whether `data` inflates with a fresh `bits` window up to `upto` octets (or to its end).

    Output is discarded and input goes in slices, so the check costs no more than the inflation
    that led to it.
    """
    d = zlib_module(bits).decompressobj(-bits)
    view = memoryview(data)
    produced, pos = 0, 0
    piece: bytes | memoryview = b""
    try:
        while produced <= upto and not d.eof:
            if not piece:
                if pos >= len(data):
                    return True
                piece, pos = view[pos:pos + _PROBE_STEP], pos + _PROBE_STEP
            produced += len(d.decompress(piece, _PROBE_STEP))
            piece = d.unconsumed_tail
    except ZLIB_ERRORS:
        return False
    return True


_Key = tuple[tuple[int, ...], int]  # (names of the history, name of the message)
_PRINT = 32  # octets from each of three places that, with the length, find a message's name


def _fingerprint(message: bytes) -> tuple[int, bytes]:
    """A cheap stand-in for a long message's hash; equal octets are still checked in full (a
    comparison runs at memory speed, hashing 128 KiB costs a third of deflating it)."""
    n = len(message)
    middle = n // 2
    return n, message[:_PRINT] + message[middle : middle + _PRINT] + message[-_PRINT:]


class _Forms:
    """Compressed forms a sender may send again, and the history of the stream they depend on.

    A message is named by a number: equal octets, the same number, while it is remembered. The
    history is named by the names of the latest messages that cover `reach` octets (of all of
    them while fewer were sent), so equal names mean equal last `reach` octets. A part of a
    message, and a message too short to be worth looking up, gets a number no other message
    shares: a history holding one never matches. What is remembered stays under _MEMO_LIMIT
    octets; past it everything is forgotten, and names go on with numbers not used before.
    """

    def __init__(self, reach: int) -> None:
        self.reach = reach  # how far back a compressed form may refer; 0 without context takeover
        self._names: dict[tuple[int, bytes], tuple[bytes, int]] = {}  # fingerprint -> (message, name)
        self._forms: dict[_Key, bytes] = {}
        self.size = 0  # octets of the named messages and of the forms
        self._numbers = itertools.count()
        self._history: collections.deque[tuple[int, bytes, bool]] = collections.deque()  # name, octets, own
        self._history_size = 0
        self._own = 0  # entries of the history with a number of their own
        self._behind = False  # forms were sent again since the compressor last compressed
        self._compressor_saw: tuple[int, ...] = ()  # the history then, when behind

    def key(self, message: bytes) -> _Key | None:
        """`message` after the current history; None when that history cannot recur."""
        if self._own:
            return None
        print_ = _fingerprint(message)
        known = self._names.get(print_)
        if known is not None and (known[0] is message or known[0] == message):
            name = known[1]
        elif len(message) > _MEMO_LIMIT:
            return None
        else:  # a new message (or another with the same fingerprint, which it replaces)
            self._room(len(message))
            name = next(self._numbers)
            self._names[print_] = (message, name)
        return self._names_of_history(), name

    def get(self, key: _Key) -> bytes | None:
        return self._forms.get(key)

    def store(self, key: _Key, form: bytes) -> None:
        if len(form) <= _MEMO_LIMIT:
            self._room(len(form))
            self._forms[key] = form

    def _room(self, size: int) -> None:
        if self.size + size > _MEMO_LIMIT:
            self._names.clear()
            self._forms.clear()
            self.size = 0
        self.size += size

    def sent(self, data: bytes, name: int | None, *, compressed: bool) -> None:
        """`data` went out (a whole message named `name`, or a part: None); `compressed`: by the
        compressor, which then knows the history, rather than in a form sent again."""
        if not compressed and not self._behind:
            self._behind, self._compressor_saw = True, self._names_of_history()
        elif compressed:
            self._behind = False
        own = name is None
        self._history.append((next(self._numbers) if name is None else name, data, own))
        self._history_size += len(data)
        self._own += own
        while self._history and self._history_size - len(self._history[0][1]) >= self.reach:
            _, gone, was_own = self._history.popleft()
            self._history_size -= len(gone)
            self._own -= was_own

    def compressor_behind(self) -> bool:
        """Whether the compressor's last `reach` octets may differ from the stream's."""
        return self._behind and self._compressor_saw != self._names_of_history()

    def tail(self) -> bytes:
        """The stream's last `reach` octets (all of it while shorter)."""
        return _last((data for _, data, _ in self._history), self.reach)

    def _names_of_history(self) -> tuple[int, ...]:
        return tuple(name for name, _, _ in self._history)


_Recall = tuple[tuple[int, ...], tuple[int, bytes]]  # (names of the history, fingerprint of a payload)


class _Inflation:
    """A message inflated before: the compressed payload, the message it gave, the message's
    name, and its text once the engine found it valid UTF-8 (RFC 6455 §8.1)."""

    __slots__ = ("message", "name", "payload", "text")

    def __init__(self, payload: bytes, message: bytes, name: int) -> None:
        self.payload = payload
        self.message = message
        self.name = name
        self.text: str | None = None


class _Parted:
    """A message inflated before from several `decode` calls: its compressed octets, its output,
    and, for each point where a call without fin ended, the output inflated up to there."""

    __slots__ = ("ends", "message", "name", "payload")

    def __init__(self, payload: bytes, message: bytes, name: int, ends: dict[int, int]) -> None:
        self.payload = payload
        self.message = message
        self.name = name
        self.ends = ends


class _Recording:
    """A message of several calls being inflated: what each call brought and where it ended."""

    __slots__ = ("chunks", "ends", "key", "size")

    def __init__(self, key: _Recall | None) -> None:
        self.key = key  # None: the message is only named, not stored (its history cannot recur)
        self.chunks: list[bytes] = []
        self.ends: dict[int, int] = {}  # compressed octets so far -> output octets so far
        self.size = 0

    def add(self, chunk: bytes, inflated: int, *, fin: bool) -> bool:
        """Note a call; False when the message grows past what is worth remembering."""
        self.chunks.append(chunk)
        self.size += len(chunk)
        if not fin:
            self.ends[self.size] = inflated
        return self.size <= _PARTED_LIMIT


class _Inflations:
    """Messages a receiver inflated before, by the history they followed: the mirror of _Forms.

    Inflating is deterministic: the same compressed octets after the same last `reach` octets of
    output give the same message (and the same checks passed). Messages are named as in _Forms
    (equal octets, the same name while remembered; a message of several frames, or too short to
    be looked up, gets a number of its own, so a history holding one never matches) and the
    history by the names of the latest messages covering `reach` octets (0 without context
    takeover: the history is always empty). Only messages that inflated and passed every check
    are stored; what is remembered stays under _MEMO_LIMIT octets, past it everything is
    forgotten and names go on with numbers not used before.
    """

    def __init__(self, reach: int, name_from: int, lookup_from: int) -> None:
        self.reach = reach
        self.name_from = name_from  # shorter messages get a number of their own
        self.lookup_from = lookup_from  # shorter payloads inflate faster than they are looked up
        self._names: dict[tuple[int, bytes], tuple[bytes, int]] = {}  # fingerprint -> (message, name)
        self._known: dict[_Recall, _Inflation] = {}
        self._parted: dict[_Recall, _Parted] = {}  # by the history and the first _PRINT octets
        self.size = 0  # octets of the named messages, the payloads and the texts
        self._numbers = itertools.count()
        # [name, length, own]; messages of numbers of their own in a row share one entry (no
        # history holding it matches either way, and it leaves when the last of them would)
        self._history: collections.deque[list[Any]] = collections.deque()
        self._history_names: collections.deque[int] = collections.deque()  # the names alone, for keys
        self._history_size = 0
        self._own = 0
        self.last: _Inflation | None = None  # the latest message's entry, if it has one
        self.hits = 0

    def key(self, payload: bytes) -> _Recall | None:
        """`payload` after the current history; None when it is not worth a look-up or that
        history cannot recur."""
        if self._own or len(payload) < self.lookup_from or len(payload) > _MEMO_LIMIT:
            return None
        return tuple(self._history_names), _fingerprint(payload)

    def parted_key(self, payload: bytes) -> _Recall | None:
        """The key of a message whose first call brings `payload` without fin."""
        if self._own or len(payload) < _PRINT:
            return None
        return tuple(self._history_names), (0, payload[:_PRINT])

    def get_parted(self, key: _Recall) -> _Parted | None:
        return self._parted.get(key)

    def inflated_parts(self, record: _Recording, parts: list[bytes], size: int) -> None:
        """A message of several calls (`record`) of `size` octets inflated to `parts` and passed
        every check. The same compressed octets seen before under the key: the ends of both
        splits are kept (the output up to a point of the input does not depend on how the input
        was split)."""
        self.last = None
        if self.reach and size < self.name_from:
            self._push(None, size)
            return
        message = b"".join(parts)
        name = self._name(message) if self.reach else -1
        if record.key is None:
            self._push(name, len(message))
            return
        payload = b"".join(record.chunks)
        known = self._parted.get(record.key)
        if known is not None and known.payload == payload and known.message == message:
            known.ends.update(record.ends)
            self.size += len(record.ends) * _END_COST
        elif name is not None:
            self._room(len(payload) + len(message) + _ENTRY_COST + len(record.ends) * _END_COST)
            self._parted[record.key] = _Parted(payload, message, name, record.ends)
        self._push(name, len(message))

    def get(self, key: _Recall, payload: bytes) -> _Inflation | None:
        known = self._known.get(key)
        if known is not None and (known.payload is payload or known.payload == payload):
            return known
        return None

    def recalled(self, known: _Inflation | _Parted) -> None:
        """`known` was taken instead of inflating its payload again."""
        self.hits += 1
        self.last = known if isinstance(known, _Inflation) else None
        self._push(known.name, len(known.message))

    def small(self, size: int) -> None:
        """`inflated` of a one-frame message of `size` octets, shorter than `name_from`, without
        a key: no entry, one more message of a number of its own (the receive hot path)."""
        self.last = None
        history = self._history
        if self.reach and history and history[-1][2]:
            history[-1][1] += size
            self._history_size += size
            if self._history_size - history[0][1] >= self.reach:
                while self._history_size - history[0][1] >= self.reach:
                    self._pop()
            return
        self._push(None, size)

    def inflated(self, key: _Recall | None, payload: bytes, message: bytes, whole: bool, size: int) -> None:
        """`payload` (the last frame of a message of `size` octets; `whole`: its only one)
        inflated to `message` and passed every check; stored under `key` unless that is None."""
        self.last = None
        history = self._history
        if self.reach and history and history[-1][2] and (not whole or len(message) < self.name_from):
            # the common case of small messages: one more in the history's last entry of its own
            history[-1][1] += size
            self._history_size += size
            while self._history_size - history[0][1] >= self.reach:
                self._pop()
            return
        name = self._name(message) if whole and self.reach and len(message) >= self.name_from else None
        if key is not None and (name is not None or not self.reach) and len(payload) <= _MEMO_LIMIT:
            self._room(len(payload) + len(message) + _ENTRY_COST)  # a named message counted twice: a bound
            self.last = self._known[key] = _Inflation(payload, message, -1 if name is None else name)
        self._push(name, size)

    def text_of(self, message: bytes) -> str:
        """`message` decoded as UTF-8 (or UnicodeDecodeError), once for the latest entry."""
        last = self.last
        if last is None or last.message is not message:
            return message.decode("utf-8")
        if last.text is None:
            text = message.decode("utf-8")
            cost = sys.getsizeof(text)
            if self.size + cost > _MEMO_LIMIT:
                return text
            self.size += cost
            last.text = text
        return last.text

    def _name(self, message: bytes) -> int | None:
        if len(message) < self.name_from:
            return None
        print_ = _fingerprint(message)
        known = self._names.get(print_)
        if known is not None and (known[0] is message or known[0] == message):
            return known[1]
        if len(message) > _MEMO_LIMIT:
            return None
        self._room(len(message))
        name = next(self._numbers)
        self._names[print_] = (message, name)
        return name

    def _room(self, size: int) -> None:
        if self.size + size > _MEMO_LIMIT:
            self._names.clear()
            self._known.clear()
            self._parted.clear()
            self.size = 0
        self.size += size

    def _push(self, name: int | None, length: int) -> None:
        """A message of `length` octets named `name` (None: a number of its own) ended."""
        if not self.reach or not length:  # no history to name / no octets added to it
            return
        history = self._history
        self._history_size += length
        if name is not None:
            history.append([name, length, False])
            self._history_names.append(name)
        elif history and history[-1][2]:
            history[-1][1] += length
        else:
            own = next(self._numbers)
            history.append([own, length, True])
            self._history_names.append(own)
            self._own += 1
        while history and self._history_size - history[0][1] >= self.reach:
            self._pop()

    def _pop(self) -> None:
        _, gone, was_own = self._history.popleft()
        self._history_names.popleft()
        self._history_size -= gone
        self._own -= was_own

    def forget_history(self) -> None:
        """The stream went on unseen: until `reach` octets of messages named again have come,
        no history matches (one entry of a number of its own stands for the window)."""
        if self.reach:
            self._history.clear()
            self._history_names.clear()
            self._history_size, self._own = 0, 0
            self._push(None, self.reach)


class _Unread:
    """The view of a decompressor whose record is not read (zstate.py): it never proves."""

    value = -1


_UNREAD = _Unread()


class DeflateCodec:
    """Compresses what `role` sends and inflates what its peer sends, as `params` agree."""

    def __init__(self, *, role: str, params: DeflateParams, max_message: int | None = None,
                 level: int = 6) -> None:
        if role not in ("client", "server"):
            raise ValueError(f"role is 'client' or 'server', not {role!r}")
        peer = "server" if role == "client" else "client"
        self.role = role
        self.params = params
        self.max_message = max_message
        self.level = level
        self._out_bits = max(_ZLIB_MIN_DEFLATE_BITS, params.window(role))
        self._out_zlib = compressor_module(params.window(role))
        self._out_reset = params.no_takeover(role)
        self._compressor = self._new_compressor()
        self._partial = False  # a message's first frames went out, its last has not
        # zlib refers at most 2^wbits octets back (wbits as given to it: 9 for an agreed 8)
        reach = 0 if self._out_reset else 1 << self._out_bits
        self._forms = _Forms(reach)
        # a history key names the ~_KEY_NAMES messages that fill the window, no more
        self._reuse_from = _MEMO_FROM if self._out_reset else min(_MEMO_FROM, reach // _KEY_NAMES)
        self.reused = 0  # messages sent again in a compressed form computed before
        self._in_bits = params.window(peer)
        self._in_zlib = zlib_module(self._in_bits)
        self._in_reset = params.no_takeover(peer)
        strict = self._in_bits < _MAX_BITS
        self._step = _STRICT_STEP if strict else _STEP
        self._slice = _STRICT_SLICE if strict else _SLICE
        self._strict_left = _STRICT_BUDGET if strict else 0
        self._decompressor: Any = self._in_zlib.decompressobj(-self._in_bits)
        self._inflated = 0  # octets of the current message so far
        self._total = 0  # octets since the decompressor's history began (saturates at the window)
        self._history: collections.deque[bytes] = collections.deque()  # earlier messages' output
        self._history_size = 0
        self._parts: list[bytes] = []  # the output of the current message's earlier frames
        self._trim_at = 2 << self._in_bits  # history size that triggers `_trim`
        self._replay = strict and self._in_reset  # keep a message's frames to explain errors
        self._whole_ok = not strict  # a one-frame message may take `_decode_whole`
        self._kept: list[bytes] | None = [] if self._replay else None
        self._kept_size = 0
        # with context takeover a history key names the ~_KEY_NAMES messages that fill the window;
        # any payload after such a history is worth a look-up (it mostly refers back into it)
        reach_in = 0 if self._in_reset else 1 << self._in_bits
        self._recall = (_Inflations(0, 0, _RECALL_FROM) if self._in_reset
                        else _Inflations(reach_in, _RECALL_NAMES_FROM, 1))
        self._recall_on = True
        # `message`, the latest message decoded, read as UTF-8 (RFC 6455 §8.1): decoded as
        # `bytes.decode` does (raising UnicodeDecodeError), or the text the memo stored with it
        # when it was decoded before; never another message's text: the memo's entry must hold
        # this very bytes object (the memo's method itself: one call less per text message)
        self.text_of: Callable[[bytes], str] = self._recall.text_of
        self._behind = False  # messages were recalled since the decompressor last inflated one
        self._midway = False  # a message's first frames were decoded, its last has not been
        self._record: _Recording | None = None  # the calls of a message of several, for the memo
        self._follow: _Parted | None = None  # the message of several calls this one repeats so far
        self._followed: list[bytes] = []  # the payloads taken from `_follow`, not yet inflated
        self._follow_at = 0  # compressed octets of this message taken from `_follow`
        # False models a receiver that inflates what it can of a message cut short inside a block
        # instead of rejecting it (RFC 7692 §7.2.2 says how to inflate, not what to do then);
        # `cut_short` then records that such a message was accepted
        self.check_boundary = True
        self.cut_short = False
        # zlib's record of where the decompressor stopped (zstate.py), read through a view made
        # for the decompressor it was made for
        self._view_of: object = None
        self._view: Any = _UNREAD

    # -- sending -----------------------------------------------------------------------------

    def _new_compressor(self, history: bytes = b"") -> Any:
        """A compressor at a message boundary; `history`: the octets the receiver's window holds."""
        if history:
            return self._out_zlib.compressobj(self.level, zlib.DEFLATED, -self._out_bits, 8, zdict=history)
        return self._out_zlib.compressobj(self.level, zlib.DEFLATED, -self._out_bits, 8)

    def encode(self, data: bytes, fin: bool) -> bytes:
        """Compress one frame's part of a message; the last part loses its 00 00 ff ff tail.

        A whole message that follows the same history as before (the same last 2^wbits octets,
        or none without context takeover) is sent in the form it was compressed to then: the
        receiver inflates it to the same octets (see the module docstring).
        """
        data = data if type(data) is bytes else bytes(data)  # kept in the history: immutable
        forms = self._forms
        key = forms.key(data) if fin and not self._partial and len(data) >= self._reuse_from else None
        if key is not None:
            known = forms.get(key)
            if known is not None:
                forms.sent(data, key[1], compressed=False)
                self.reused += 1
                return known
        if not self._partial and forms.compressor_behind():
            self._compressor = self._new_compressor(forms.tail())
        out = bytes(self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH))
        self._partial = not fin
        if fin:
            if out.endswith(_TAIL):
                out = out[:-4]
            if self._out_reset:
                self._compressor = self._new_compressor()
        forms.sent(data, None if key is None else key[1], compressed=True)
        if key is not None:
            forms.store(key, out)
        return out

    # -- receiving ---------------------------------------------------------------------------

    @property
    def recall(self) -> bool:
        """Whether the receive memo answers; False inflates every message (the memo's
        differential tests; benchmarks of inflation). It may be switched at any time."""
        return self._recall_on

    @recall.setter
    def recall(self, on: bool) -> None:
        if on and not self._recall_on:
            self._recall.forget_history()  # the messages received meanwhile were not named
        self._recall_on = on

    @property
    def recalled(self) -> int:
        """Messages taken from the receive memo instead of inflated again."""
        return self._recall.hits

    def decode(self, payload: bytes, fin: bool) -> bytes:
        """Inflate one frame of a compressed message; `max_message` bounds the whole message.

        A one-frame message inflated before after the same history is taken from the receive
        memo (see `_Inflations`): the same bytes object, no zlib call.
        """
        if (fin and not self._midway and self._follow is None and not self._behind and self._whole_ok
                and self.check_boundary and (self._recall._own or not self._recall_on)):
            # the receive hot path: a one-frame message the memo has no key for (a history that
            # holds a message of a number of its own cannot recur), as the general steps below go
            return self._decode_whole(payload)
        if self._follow is not None or (not fin and not self._midway):
            recalled = self._parted_call(payload, fin)
            if recalled is not None:
                return recalled
        key = None
        recall = self._recall
        if (fin and self._recall_on and not recall._own and not self._midway and self.check_boundary
                and self._strict_left <= 0 and type(payload) is bytes):
            key = recall.key(payload)
        if key is not None:
            known = self._recall.get(key, payload)
            if known is not None and (self.max_message is None or len(known.message) <= self.max_message):
                return self._recalled(known)
        if self._behind:
            self._catch_up()
        if fin and self._whole_ok and self.check_boundary and not self._midway:
            return self._decode_whole(payload, key)
        if not fin:
            self._midway = True
        data = payload + _TAIL if fin else payload
        self._keep(data)
        out: list[bytes] = []
        try:
            self._inflate(data, out, tail=fin)
            if fin and self.check_boundary:
                self._check_boundary()
            elif fin and not self.cut_short:
                try:
                    self._check_boundary()
                except _CUT_SHORT_ERRORS:
                    self.cut_short = True
        except ZLIB_ERRORS as exc:
            raise DeflateDataError(f"the payload does not inflate: {exc}", self._hint(str(exc), data)) from None
        message = b"".join(out)
        if self._strict_left > 0:
            self._strict_left -= len(message)
            if self._strict_left <= 0:
                self._step, self._slice = _STEP, _SLICE
        if self._record is not None and not self._record.add(payload, self._inflated, fin=fin):
            self._record = None
        if fin:
            self._finish(message, payload, key)
        else:
            self._parts.append(message)
        return message

    # -- receiving again: a message of several calls ------------------------------------------
    # A call is answered from a message of several calls inflated before after the same history
    # when it brings the next octets of that message and ends where one of its calls ended then
    # (or at its end, with fin): the output up to there, sliced from the stored message. Nothing
    # moves: each call returns what inflating it would return, and each error (the data, the
    # limit) is raised by the same call, because at the first call that does not match, the
    # calls taken so far are inflated (they passed before, so they pass again) and that call is
    # inflated as it would have been.

    def _parted_call(self, payload: bytes, fin: bool) -> bytes | None:
        """The output of this call from the memo, or None (the calls before it inflated)."""
        if self._follow is None:  # the first call of a message, without fin
            if not (self._recall_key_ok() and type(payload) is bytes):
                return None
            key = self._recall.parted_key(payload)
            self._record = _Recording(key)  # without a key still named when it ends, for the history
            self._follow = None if key is None else self._recall.get_parted(key)
            if self._follow is None:
                return None
            self._followed, self._follow_at = [], 0
        known, at, end = self._follow, self._follow_at, self._follow_at + len(payload)
        upto = len(known.message) if fin and end == len(known.payload) else None if fin else known.ends.get(end)
        limit = self.max_message
        if upto is None or (limit is not None and upto > limit) or not known.payload.startswith(payload, at):
            self._inflate_followed()
            return None
        out = known.message[self._inflated:upto]
        self._followed.append(payload)
        self._follow_at, self._inflated = end, upto
        if self._kept is not None:
            self._keep(payload + _TAIL if fin else payload)
        if self._record is not None and not self._record.add(payload, upto, fin=fin):
            self._record = None
        if not fin:
            self._midway = True
            self._parts.append(out)
            return out
        self._recall.recalled(known)
        self._behind = not self._in_reset
        self._end_message(out)
        return out

    def _inflate_followed(self) -> None:
        """The calls taken from the memo, inflated after all (their output thrown away: it is the
        same); the decompressor is then where it would be without the memo."""
        followed, self._follow, self._followed = self._followed, None, []
        parts, self._parts = self._parts, []  # rebuilt as they inflate: a final block restarts with them
        if self._behind:
            self._catch_up()
        self._inflated = 0
        try:
            for chunk in followed:
                out: list[bytes] = []
                self._inflate(chunk, out)
                self._parts.append(b"".join(out))
        except ZLIB_ERRORS as exc:  # pragma: no cover - they inflated before
            raise DeflateDataError(f"the payload does not inflate: {exc}", self._hint(str(exc), chunk)) from None
        finally:
            self._parts = parts

    def _recall_key_ok(self) -> bool:
        """Whether the memo may answer: with the boundary checked, past the small steps (whose
        window checks need the real inflater). `decode` asks the same inline."""
        return self._recall_on and self.check_boundary and self._strict_left <= 0

    def _recalled(self, known: _Inflation) -> bytes:
        """End a message taken from the memo; the decompressor's window now lacks it."""
        self._recall.recalled(known)
        self._inflated = len(known.message)
        self._behind = not self._in_reset
        self._end_message(known.message)
        return known.message

    def _catch_up(self) -> None:
        """Before inflating after recalled messages: a decompressor that holds the stream's last
        2^bits octets, as `compressor_behind` has the sender do (see the module docstring)."""
        history = self._recent([])
        if history:
            self._decompressor = self._in_zlib.decompressobj(-self._in_bits, zdict=history)
        else:
            self._decompressor = self._in_zlib.decompressobj(-self._in_bits)
        self._behind = False

    def _finish(self, message: bytes, payload: bytes, key: _Recall | None) -> None:
        """End a message that inflated and passed every check; the memo learns it."""
        if self._record is not None:
            self._recall.inflated_parts(self._record, [*self._parts, message], self._inflated)
        elif self._recall_on:
            self._recall.inflated(key, payload, message, not self._parts, self._inflated)
        self._end_message(message)

    def _decode_whole(self, payload: bytes, key: _Recall | None = None) -> bytes:
        """`decode` of a whole message with the full window, in one zlib call (the receive hot
        path: the general steps, one call per step, cost more than zlib). Unlimited output when
        there is no `max_message`, else capped one octet past it; a final block inside the
        message goes on as the general path goes on. The boundary: zlib's record proves it, or
        `_check_boundary` decides. The end is `_end_message` less what a full window does not
        use: small steps, the switch to zlib-ng, the replay buffer, `_total` (read below 15 bits)."""
        data = payload + _TAIL
        d, limit = self._decompressor, self.max_message
        try:
            message: bytes = d.decompress(data) if limit is None else d.decompress(data, limit + 1)
            if limit is not None and len(message) > limit:
                raise DeflateTooBigError(f"the message inflates to more than {limit} octets")
            if d is not self._view_of or self._view.value != AT_BOUNDARY:  # (never so past a final block)
                message = self._finish_whole(message)
        except ZLIB_ERRORS as exc:
            raise DeflateDataError(f"the payload does not inflate: {exc}", self._hint(str(exc), data)) from None
        if self._in_reset:
            self._decompressor = self._in_zlib.decompressobj(-self._in_bits)
        elif message:
            self._history.append(message)
            self._history_size += len(message)
            if self._history_size >= self._trim_at:
                self._trim()
        if self._recall_on:  # what `_finish` does for a message of one call
            recall = self._recall
            if key is None and len(message) < recall.name_from:
                recall.small(len(message))
            else:
                recall.inflated(key, payload, message, True, len(message))
        return message

    def _finish_whole(self, message: bytes) -> bytes:
        """The rest of `_decode_whole` where zlib's record does not show the boundary at once: a
        final block inside the message (§7.2.3.4), a new decompressor, or a message that may
        be cut short (the probe decides)."""
        d = self._decompressor
        self._inflated = len(message)
        if d.eof:
            message = self._past_final(message, d.unused_data)
        self._check_boundary()
        self._inflated = 0
        return message

    def _past_final(self, message: bytes, rest: bytes) -> bytes:
        """A message's blocks after a final block, inflated by a decompressor primed with the
        history (the message so far included); the whole message."""
        out = [message]
        self._inflated = len(message)
        self._decompressor = self._in_zlib.decompressobj(-self._in_bits, zdict=self._recent(out))
        self._inflate(rest, out, tail=True)
        return b"".join(out)

    def _inflate(self, data: bytes, out: list[bytes], tail: bool = False) -> None:
        """Inflate `data` into `out`, counting; input goes in slices so zlib never copies much.
        `tail`: `data` ends with the 00 00 ff ff appended to a message's last frame (§7.2.2)."""
        d, step, size, limit = self._decompressor, self._step, self._slice, self.max_message
        end = len(data)
        view = memoryview(data) if end > size else data  # small input: no slicing needed
        piece, pos, pending = view[:size], size, False
        while True:
            if not piece:
                if pos >= end and not pending:
                    return
                piece, pos = view[pos:pos + size], pos + size
            room = step if limit is None else max(1, min(step, limit - self._inflated + 1))
            chunk = d.decompress(piece, room)
            if chunk:
                self._inflated += len(chunk)
                if limit is not None and self._inflated > limit:
                    raise DeflateTooBigError(f"the message inflates to more than {limit} octets")
                out.append(chunk)
            pending = len(chunk) == room
            if d.eof:  # a final block: later blocks go on with the same history (§7.2.3.4)
                piece, pending = d.unused_data, False
                d = self._decompressor = self._in_zlib.decompressobj(-self._in_bits, zdict=self._recent(out))
                if tail and not self.check_boundary and len(piece) + max(0, end - pos) <= len(_TAIL):
                    # the final block ended inside the appended 00 00 ff ff: the sender left out the
                    # empty block §7.2.1 requires; a lenient receiver leaves the rest of the tail unused
                    self.cut_short = True
                    return
            else:
                piece = d.unconsumed_tail

    def _recent(self, out: list[bytes]) -> bytes:
        """The history a decompressor started after a final block must know: the earlier
        messages (none without context takeover), this message's earlier frames, then `out`."""
        return _last([*self._history, *self._parts, *out], 1 << self._in_bits)

    def _check_boundary(self) -> None:
        """At the end of a message the data must end between two blocks (§7.2.1).

        zlib's own record of where its last call stopped proves the common case without a copy
        (see zstate.py); where it proves nothing, an empty final block inflated by a
        copy of the inflater (by the inflater itself without context takeover: it is replaced
        next) must end the stream with nothing written and nothing left over.
        """
        d = self._decompressor
        if self._view_of is not d:
            self._view_of, self._view = d, (boundary_view(d) or _UNREAD)
        if self._view.value != AT_BOUNDARY:
            self._probe(d)

    def _probe(self, d: Any) -> None:
        """The boundary check that decides alone: an empty final block must end the stream."""
        probe = d if self._in_reset else d.copy()
        extra = probe.decompress(_EMPTY_FINAL, 1)
        if extra or not probe.eof or probe.unused_data:
            raise DeflateDataError("the message ends inside a deflate block: it was cut short")

    def _end_message(self, message: bytes) -> None:
        if not self._in_reset:
            self._total = min(self._total + self._inflated, 1 << self._in_bits)
            self._remember(message)
        if self._parts:
            self._parts = []
        self._midway = False
        if self._record is not None or self._follow is not None:
            self._record, self._follow, self._followed = None, None, []
        fast = _zlib_ng if _zlib_ng is not None else zlib
        if self._strict_left <= 0 and self._in_zlib is not fast and self.check_boundary:
            # past the small steps (a narrow window): zlib-ng goes on from here, at a block
            # boundary, with the window's octets as its history
            self._in_zlib = fast
            history = self._recent([])
            if not self._in_reset and history:
                self._decompressor = fast.decompressobj(-self._in_bits, zdict=history)
            elif not self._in_reset:
                self._decompressor = fast.decompressobj(-self._in_bits)
            self._behind = False
        if self._in_reset:
            self._decompressor = self._in_zlib.decompressobj(-self._in_bits)
        self._inflated = 0
        self._kept, self._kept_size = ([] if self._replay else None), 0

    def _remember(self, message: bytes) -> None:
        """Keep references to the output that still lies inside the window: the message's
        earlier frames, then its last (and at most as much again: the history is trimmed when it
        reaches two windows, not after every message)."""
        for piece in self._parts:
            if piece:
                self._history.append(piece)
                self._history_size += len(piece)
        if message:
            self._history.append(message)
            self._history_size += len(message)
        if self._history_size >= self._trim_at:
            self._trim()

    def _trim(self) -> None:
        """Forget the messages that lie wholly before the window."""
        window = 1 << self._in_bits
        while self._history_size - len(self._history[0]) >= window:
            self._history_size -= len(self._history.popleft())

    def _keep(self, data: bytes) -> None:
        if self._kept is None:
            return
        self._kept_size += len(data)
        if self._kept_size > _KEEP_LIMIT:
            self._kept = None  # too long to replay: fall back to the frame alone
        else:
            self._kept.append(data)

    def _hint(self, error: str, frame: bytes) -> str | None:
        """Which agreement a reference beyond the history broke, as far as it can be told."""
        if "too far back" not in error:
            return None
        window = 1 << self._in_bits
        if not self._in_reset:
            # With the context kept, only a reference past a full window can be the window's fault.
            seen = self._total + self._inflated
            return "window" if self._in_bits < _MAX_BITS and seen >= window else None
        if self._in_bits == _MAX_BITS:
            return "context"
        message = b"".join(self._kept) if self._kept is not None else frame
        # Past the failing point with a full window: the peer's window was too wide; else the
        # reference reached back into an earlier message. (`_inflated` counts what this message
        # produced before the failure, the failing call wrote at most one step more.)
        upto = self._inflated + self._step
        return "window" if _inflates(message, _MAX_BITS, upto) else "context"
