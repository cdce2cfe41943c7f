"""`conformance fuzz --impl NAME --engine atheris`: coverage-guided differential fuzzing of an
in-process library against the engine (the oracle is conformance.fuzz.differential).

The fuzzing itself runs in a child process, conformance.fuzz.atheris_child (libFuzzer exits the
process on a crash or a hang, and this way a library that takes the process down loses no finding). The child records every new kind
of disagreement (its signature: kind, the engine's rule, the library's ending) into a findings
directory and goes on. The parent then minimises each finding frame by frame and writes it as a case
file that `conformance run --impl NAME --cases-dir DIR` replays. The corpus directory persists
between runs, so a nightly job picks up where the last one stopped.

The mutator knows the input's structure (a flags octet, then frames): it flips FIN, RSV and MASK
bits, changes opcodes and length forms, edits, splits, duplicates, drops and swaps frames, inserts
typical frames (pings, close frames with valid and invalid codes, text with UTF-8 broken at a
chosen octet, compressed text), and sometimes hands the octets to libFuzzer's own mutator.
"""

from __future__ import annotations

__all__ = [
    "AtherisSummary",
    "case_from_input",
    "fuzz_atheris",
    "minimise",
    "mutate",
    "seed_inputs",
    "explain",
]

import dataclasses
import hashlib
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from conformance.catalog.model import (
    Case,
    CloseExpect,
    DeflateSpec,
    Expect,
    Observation,
    SendClose,
    SendRaw,
    Step,
    WaitMessages,
)
from conformance.catalog.payload import compact
from conformance.engine.oracle import MODELS, Sent, expectation
from conformance.engine.rules import RULES
from conformance.fuzz.differential import (
    DEFLATE,
    MASK,
    Finding,
    client_frame,
    compare,
    engine_reaction,
    split_frames,
    whole_frames,
)
from conformance.wire.frames import apply_mask, parse_header

MAX_LEN = 4096
_CUT_NAMES = ["all at once", "frame by frame", "octet by octet", "in pieces of 7 octets"]  # see differential


# -- inputs ----------------------------------------------------------------------------------------

def _deflated(text: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    out = c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def seed_inputs() -> list[bytes]:
    """A starting corpus: each kind of frame once, plain and with deflate offered."""
    hello = "Hello-µ@ßöäüàá-UTF-8!!".encode()
    frames = [
        client_frame(1, b"Hello"),
        client_frame(2, bytes(range(32))),
        client_frame(1, hello[:7], fin=False) + client_frame(0, hello[7:15], fin=False) + client_frame(0, hello[15:]),
        client_frame(9, b"ping") + client_frame(1, b"a"),
        client_frame(1, b"frag", fin=False) + client_frame(9, b"") + client_frame(0, b"ment"),
        client_frame(8, (1000).to_bytes(2, "big") + b"bye"),
        client_frame(8, b""),
        client_frame(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"),
        client_frame(1, b"x" * 200, form=16),
        client_frame(10, b"unsolicited") + client_frame(2, b"\x00\xff"),
    ]
    out = [bytes([0]) + f for f in frames]
    out += [bytes([DEFLATE]) + client_frame(1, _deflated(b"Hello Hello Hello"), rsv1=True),
            bytes([DEFLATE]) + client_frame(1, _deflated(b"abcabc")[:3], rsv1=True, fin=False) + client_frame(0, _deflated(b"abcabc")[3:]),
            bytes([DEFLATE | 2]) + client_frame(2, b"not compressed") + client_frame(9, b"p")]
    return out


@dataclasses.dataclass
class _F:
    """A frame being mutated: header fields and the unmasked payload."""

    opcode: int
    data: bytes
    fin: bool = True
    rsv: int = 0  # three bits: rsv1 rsv2 rsv3
    mask: bytes | None = MASK
    form: int | None = None

    def octets(self) -> bytes:
        form = self.form
        n = len(self.data)
        if form == 7 and n > 125 or form == 16 and n > 0xFFFF:
            form = None
        return client_frame(self.opcode, self.data, fin=self.fin, rsv1=bool(self.rsv & 4), rsv2=bool(self.rsv & 2),
                      rsv3=bool(self.rsv & 1), mask=self.mask, form=form)


def _parse(wire: bytes) -> list[_F]:
    """The whole frames of `wire`, to be mutated."""
    out = []
    for h, octets in whole_frames(wire):
        body = octets[h.header_len :]
        data = apply_mask(body, h.mask) if h.mask else body
        out.append(_F(int(h.opcode), data, h.fin, h.rsv1 * 4 + h.rsv2 * 2 + h.rsv3, h.mask, h.length_form))
    return out


_UTF8_EDGES = [b"\xce\xba", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
               b"\xc0\xaf", b"\xff", b"\x80", b"\xe2\x82", b"\xf0\x9f"]
_CLOSE_CODES = [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1012, 1015, 1016, 2999, 3000, 4999, 5000, 0]


def _typical(rng: random.Random) -> _F:
    kind = rng.randrange(7)
    if kind == 0:
        return _F(9, rng.randbytes(rng.choice([0, 1, 5, 125, 126])))
    if kind == 1:
        payload = rng.choice(_CLOSE_CODES).to_bytes(2, "big") + rng.choice([b"", b"ok", b"\xff", b"\xce\xba"])
        return _F(8, rng.choice([payload, payload[:1], b""]))
    if kind == 2:
        text = b"ab" + rng.choice(_UTF8_EDGES) + b"cd"
        cut = rng.randrange(len(text) + 1)
        return _F(1, text[:cut], fin=rng.random() < 0.5)
    if kind == 3:
        return _F(0, rng.choice(_UTF8_EDGES) + b"z", fin=rng.random() < 0.7)
    if kind == 4:
        return _F(1, _deflated(rng.choice([b"Hello", b"aaaaaaaaaa", b"\xce\xba\xff"])), rsv=4)
    if kind == 5:
        return _F(rng.choice([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), b"r")
    return _F(2, rng.randbytes(rng.randrange(0, 300)), fin=rng.random() < 0.8)


def mutate(data: bytes, max_size: int, seed: int, byte_mutator: Callable[[bytes, int], bytes] | None = None) -> bytes:
    """One structure-aware mutation of an input (flags octet + frames)."""
    rng = random.Random(seed)
    if byte_mutator is not None and rng.random() < 0.15:
        return byte_mutator(data, max_size)
    flags = data[0] if data else 0
    frames = _parse(data[1:])
    op = rng.randrange(13) if frames else 8
    i = rng.randrange(len(frames)) if frames else 0
    if op == 0:
        frames[i].fin = not frames[i].fin
    elif op == 1:
        frames[i].rsv ^= 1 << rng.randrange(3)
    elif op == 2:
        frames[i].opcode = rng.choice([0, 1, 2, 8, 9, 10, rng.randrange(16)])
    elif op == 3:
        frames[i].mask = None if frames[i].mask else MASK
    elif op == 4:
        frames[i].form = rng.choice([7, 16, 64])
    elif op == 5 and byte_mutator is not None:
        frames[i].data = byte_mutator(frames[i].data, max(len(frames[i].data) * 2, 16))
    elif op == 5 or op == 6:
        d = bytearray(frames[i].data) or bytearray(b"\x00")
        d[rng.randrange(len(d))] = rng.choice([rng.randrange(256), 0x80, 0xC0, 0xED, 0xF4, 0xFF])
        frames[i].data = bytes(d)
    elif op == 7:
        del frames[i]
    elif op == 8:
        frames.insert(rng.randrange(len(frames) + 1), _typical(rng))
    elif op == 9:
        frames.insert(i, dataclasses.replace(frames[i]))
    elif op == 10:
        j = rng.randrange(len(frames))
        frames[i], frames[j] = frames[j], frames[i]
    elif op == 11:  # split a frame's payload in two fragments
        f = frames[i]
        cut = rng.randrange(len(f.data) + 1)
        frames[i : i + 1] = [dataclasses.replace(f, data=f.data[:cut], fin=False),
                             dataclasses.replace(f, opcode=0, data=f.data[cut:], rsv=0)]
    else:
        flags ^= 1 << rng.randrange(3)
    out = bytes([flags]) + b"".join(f.octets() for f in frames)
    return out[:max_size]


# -- the parent: run, minimise, export -------------------------------------------------------------

@dataclasses.dataclass
class AtherisSummary:
    runs: int
    seconds: float
    jobs: int
    found: list[Path]
    detail: list[str]
    corpus: Path
    log: str = ""

    fuzz_seconds: float = 0.0  # the fuzzing processes' own time (libFuzzer's count), summed

    @property
    def exec_per_second(self) -> float:
        """Differential executions per second of fuzzing, over all processes."""
        return self.runs * self.jobs / max(self.fuzz_seconds, 1e-9) if self.fuzz_seconds else 0.0


_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_STAT = re.compile(r"^#(\d+)\s.*exec/s: (\d+)", re.M)


def fuzz_atheris(spec: str, seconds: float, out: Path, corpus: Path | None = None, jobs: int = 1,
                 factory: Callable[[], Any] | None = None) -> AtherisSummary:
    """Fuzz the adapter `spec` for `seconds` in `jobs` processes; export what they find into `out`."""
    from conformance.fuzz.differential import check_adapter

    factory = factory or check_adapter(spec)
    corpus = corpus or out / "corpus" / re.sub(r"[^A-Za-z0-9_.-]", "_", spec)
    corpus.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):
        for s in seed_inputs():
            (corpus / hashlib.sha1(s).hexdigest()).write_bytes(s)
    t0 = time.monotonic()
    runs = 0
    fuzz_seconds = 0.0
    found: list[Path] = []
    detail: list[str] = []
    logs: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        procs = []
        for j in range(jobs):
            fd = work / f"findings-{j}"
            fd.mkdir()
            cmd = [sys.executable, "-m", "conformance.fuzz.atheris_child", spec, str(fd), str(corpus),
                   f"-max_total_time={max(1, round(seconds))}", "-timeout=5", f"-max_len={MAX_LEN}",
                   "-rss_limit_mb=4096", f"-artifact_prefix={fd}/", f"-seed={1 + j + int(time.time()) % 100000}",
                   "-print_final_stats=1"]
            log = (work / f"log-{j}").open("w+", encoding="utf-8", errors="replace")
            procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_child_env()), log, fd))
        for p, log, _ in procs:
            try:
                p.wait(seconds + 120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.seek(0)
            text = log.read()
            logs.append(text)
            done = _DONE.findall(text)
            stats = _STAT.findall(text)
            runs += int(done[-1][0]) if done else int(stats[-1][0]) if stats else 0
            fuzz_seconds += max(int(done[-1][1]), 1) if done else seconds
        elapsed = time.monotonic() - t0
        signatures: set[tuple[str, ...]] = set()
        n = 0
        for _, _, fd in procs:
            for f in sorted(fd.iterdir()):
                if f.suffix == ".txt" or f.name.startswith("log-"):
                    continue
                data = f.read_bytes()
                hang = f.name.startswith(("timeout-", "slow-unit-"))
                crash = f.name.startswith(("crash-", "oom-", "leak-"))
                if hang or crash:
                    why = f"the library {'hung' if hang else 'took the fuzzing process down'} on this input ({f.name.split('-')[0]})"
                    sig: tuple[str, ...] = ("hang" if hang else "abort",)
                    small = data
                else:
                    finding, _, _ = compare(factory, data)
                    if finding is None:
                        continue  # not reproducible in a fresh process: say nothing rather than guess
                    sig = finding.signature
                    small = minimise(factory, data, sig)
                    finding = compare(factory, small)[0] or finding
                    why = str(finding)
                if sig in signatures:
                    continue
                signatures.add(sig)
                n += 1
                path = out / f"90_atheris_{re.sub(r'[^A-Za-z0-9]', '_', spec)}_{n}.yaml"
                from conformance.fuzz.hypo import write_found

                case, reproduced = _replayable_case(spec, small, n, why)
                if not reproduced:
                    why += " (the exported case does not reproduce it over TCP: the library read the octets cut differently)"
                write_found(path, [case])
                path.with_suffix(".input").write_bytes(small)  # the exact input, cut as it was
                found.append(path)
                detail.append(why)
    return AtherisSummary(runs, elapsed, jobs, found, detail, corpus, "\n".join(logs), fuzz_seconds)


def _replayable_case(spec: str, data: bytes, number: int, why: str,
                     source: str = "conformance fuzz --engine atheris") -> tuple[Case, bool]:
    """The case for `data`, checked by replaying it against the library as an in-process echo
    server: all the frames, or else only those up to where the engine stops reading."""

    from conformance.fuzz.hypo import run_case
    from conformance.runner.session import RunOptions
    from conformance.targets.inprocess import impl_server
    from conformance.targets.tcp import ServerTarget

    frames = split_frames(data[1:])
    stop = engine_reaction(frames, _agreed(data[0])).steps_used
    cases = [case_from_input(data, number, why, source)]
    if stop < len(frames):
        cases.append(case_from_input(data[:1] + b"".join(frames[:stop]), number, why, source))
    opts = RunOptions(agent="replay", timeout=5, wait=0.5, settle=0.1, close_grace=0.3)
    with impl_server(spec) as url:
        target = ServerTarget.from_url(url)
        for case in cases:
            try:
                ok, _ = run_case(case, target, opts)
            except (TimeoutError, OSError):
                ok = False
            if not ok:
                return case, True
    return cases[0], False


def _agreed(flags: int) -> Any:
    if not flags & DEFLATE:
        return None
    from conformance.engine import deflate as pmd

    return pmd.client_accept([], [pmd.parse_offer([])])  # what a bare offer gives when accepted


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def minimise(factory: Callable[[], Any], data: bytes, signature: tuple[str, ...], budget: int = 2000) -> bytes:
    """The smallest input found (dropping frames, then shortening payloads, then clearing flags)
    that still gives a finding with the same signature."""
    tries = [0]

    def same(candidate: bytes) -> bool:
        tries[0] += 1
        f: Finding | None = compare(factory, candidate)[0]
        return f is not None and f.signature == signature

    flags, frames = data[0] if data else 0, _parse(data[1:])

    def build(fl: int, fs: list[_F]) -> bytes:
        return bytes([fl]) + b"".join(f.octets() for f in fs)

    progress = True
    while progress and tries[0] < budget:
        progress = False
        for i in range(len(frames) - 1, -1, -1):  # later frames first: they are usually noise
            cand = frames[:i] + frames[i + 1 :]
            if i < len(frames) and same(build(flags, cand)):
                frames, progress = cand, True
        for i in range(len(frames)):
            while frames[i].data and tries[0] < budget:
                f = frames[i]
                shorter = None
                for cut in (f.data[: len(f.data) // 2], f.data[: len(f.data) - 1], f.data[1:]):
                    cand = [*frames[:i], dataclasses.replace(f, data=cut), *frames[i + 1 :]]
                    if same(build(flags, cand)):
                        shorter = cand
                        break
                if shorter is None:
                    break
                frames, progress = shorter, True
        for bit in (4, 2, 1):
            if flags & bit and same(build(flags & ~bit, frames)):
                flags, progress = flags & ~bit, True
    return build(flags, frames)


def case_from_input(data: bytes, number: int, why: str, source: str = "conformance fuzz --engine atheris") -> Case:
    """A case that replays the input against the library run as an echo server (`--impl`)."""
    flags = data[0] if data else 0
    frames = split_frames(data[1:])
    agreed = _agreed(flags)
    used = frames  # already minimised; a lenient model may read further than the strict one
    strict = engine_reaction(frames, agreed)
    rule = RULES.get(strict.rule or "")
    rfc = sorted({"RFC 6455 §5", *([rule.section] if rule else [])}) + (["RFC 7692 §7"] if flags & DEFLATE else [])
    steps: list[Step] = []
    sent: list[Sent] = []
    done = 0
    closing = strict.close is not None and strict.rule is None  # the input ends with our close frame
    for k, raw in enumerate(used):
        h = parse_header(raw)
        assert h is not None
        canonical = h.fin and not (h.rsv1 or h.rsv2 or h.rsv3) and h.mask is not None and h.length_form == 7
        if closing and k == len(used) - 1 and canonical:  # sent as a close, so the runner knows it closed
            body = raw[h.header_len :]
            payload = apply_mask(body, h.mask) if h.mask else body
            steps.append(SendClose(payload=compact(payload)) if payload else SendClose())
            sent.append(Sent(raw, closing=True))
            break
        steps.append(SendRaw(compact(raw)))  # a legal but odd close frame too: sent as it is
        sent.append(Sent(raw))
        upto = engine_reaction(used[: k + 1], agreed)
        if len(upto.messages) > done and k + 1 < len(used):
            done = len(upto.messages)
            steps.append(WaitMessages(done))  # keeps echoes and later pongs in a fixed order
    want = expectation(sent, agreed)

    def observations(seq: Sequence[tuple[str, bytes | str]] | None) -> tuple[Observation, ...] | None:
        return None if seq is None else tuple(
            Observation("timeout", label=d) if isinstance(d, str) else Observation(k, compact(d)) for k, d in seq)

    return Case(
        f"90.2.{number}", f"Fuzzed input of {len(used)} frame(s)", tuple(rfc),
        f"Found by `{source}`: {why}. The library read the octets {_CUT_NAMES[(flags & 6) >> 1]}; "
        "the .input file beside this one holds them exactly.",
        (f"The server fails the connection with {sorted(strict.codes - {1005})} ({strict.rule})." if strict.rule
         else "The server echoes and pongs as listed and closes as listed."),
        rule=rule.id if rule else None, role="server",
        deflate=DeflateSpec(((),), required=False) if flags & DEFLATE else None, steps=tuple(steps),
        expect=Expect(observations(want.ok) or (), observations(want.non_strict), observations(want.informational)),
        close=CloseExpect(want.closed_by, tuple(want.close_codes), want.clean))


def explain(spec: str, path: Path) -> str:
    """What the library and each allowed model of the engine do with a saved input (for triage)."""
    from conformance.fuzz.differential import check_adapter, library_reaction

    factory = check_adapter(spec)
    data = path.read_bytes()
    frames = split_frames(data[1:])
    lines = [f"flags {data[0]:#04x} ({_CUT_NAMES[(data[0] & 6) >> 1]}), {len(frames)} frame(s):"]
    lines += [f"  {f.hex()}" for f in frames]
    finding, _, _ = compare(factory, data)
    lines.append(f"finding: {finding}")
    if finding is None or finding.kind not in ("crash", "invalid-output"):
        lib, agreed = library_reaction(factory, frames, data[0])
        lines.append(f"library: messages {lib.messages} pongs {lib.pongs} close {lib.close} (deflate {agreed})")
        for m in MODELS:
            r = engine_reaction(frames, agreed, m)
            lines.append(f"engine {m}: messages {r.messages} pongs {r.pongs} close {r.close} {r.rule or ''}")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--explain"]:  # python -m conformance.fuzz.atheris_engine --explain IMPL FILE.input
        print(explain(sys.argv[2], Path(sys.argv[3])))
