"""Servers the suite starts and watches (`--server-cmd "CMD {port}"`), and liveness probes.

`WatchedServer` runs the command on a free loopback port, waits until the port accepts, and reads
the process (and its children) with psutil: resident memory, its peak since the last reset
(Linux's VmHWM, reset through /proc/PID/clear_refs, so that a balloon between two samples is not
missed), CPU time, and how it ended (exit status or signal). `restart()` starts it again on the
same port after a crash.

`probe_handshake` is the liveness check for any server, watched or not: a fresh opening handshake
must be answered with 101 within a deadline; the time to the answer is measured.
"""

from __future__ import annotations

__all__ = [
    "Liveness",
    "Sample",
    "WatchedServer",
    "probe_handshake",
    "describe_exit",
]

import asyncio
import contextlib
import dataclasses
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from conformance.engine.handshake import ClientHandshake
from conformance.engine.rules import ProtocolError
from conformance.errors import TargetError, UsageError, WireError
from conformance.targets.tcp import ServerTarget, open_connection

if TYPE_CHECKING:
    import psutil
from conformance.wire.frames import Frame, Opcode, serialize_frame
from conformance.wire.http import parse_response

_HEAD_MAX = 65536


@dataclasses.dataclass(frozen=True)
class Sample:
    """One reading of the watched process tree."""

    rss: int  # resident octets now
    peak: int  # peak resident octets since the last reset (rss where the kernel cannot say)
    cpu: float  # user + system CPU seconds so far


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def describe_exit(code: int) -> str:
    """A Popen return code in words: `exited with status 3`, `killed by signal SIGSEGV (11)`."""
    if code >= 0:
        return f"exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "signal"
    return f"killed by signal {name} ({-code})"


class WatchedServer:
    """The server under test as a child process on 127.0.0.1:{port}."""

    def __init__(self, command: str, *, host: str = "127.0.0.1", start_timeout: float = 20.0,
                 env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
        """`env` and `cwd`: the command's environment and directory (default: the suite's)."""
        if "{port}" not in command:
            raise UsageError(f"--server-cmd needs {{port}} in the command: {command!r}")
        self.command = command
        self.host = host
        self.start_timeout = start_timeout
        self.port = _free_port(host)
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.env, self.cwd = env, cwd
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server; close()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/"

    def argv(self) -> list[str]:
        try:
            return shlex.split(self.command.replace("{port}", str(self.port)).replace("{host}", self.host))
        except ValueError as exc:
            raise UsageError(f"--server-cmd cannot be split into words: {exc}") from None

    def start(self) -> None:
        """Start the command; return once its port accepts. TargetError (exit 3) if it exits first
        or does not listen within `start_timeout`, with the end of what it wrote to stderr."""
        argv = self.argv()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=self._stderr, start_new_session=True,
                                         env=self.env, cwd=self.cwd)
        except OSError as exc:
            raise UsageError(f"--server-cmd: cannot run {argv[0]!r}: {exc.strerror or exc}") from None
        deadline = time.monotonic() + self.start_timeout
        while not self._accepts():
            code = self.proc.poll()
            if code is not None:
                raise TargetError(f"the server command {describe_exit(code)} before it listened on port "
                                  f"{self.port}{self.stderr_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TargetError(f"the server command did not listen on port {self.port} within "
                                  f"{self.start_timeout:g} s{self.stderr_tail()}")
            time.sleep(0.05)

    def _accepts(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.5):
            return True
        return False

    def stderr_tail(self, n: int = 400) -> str:
        self._stderr.seek(0, 2)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - n))
        tail = self._stderr.read().decode("utf-8", "replace").strip()
        return f"; its stderr ends: {tail[-n:]!r}" if tail else ""

    def exit_status(self) -> str | None:
        """None while it runs; else how it ended, in words."""
        if self.proc is None:
            return "not started"
        code = self.proc.poll()
        return None if code is None else describe_exit(code)

    def settle_exit(self, seconds: float = 0.5) -> str | None:
        """How it ended, waiting up to `seconds` for a process that may be exiting right now (its
        sockets close a moment before the kernel reports its death)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(seconds)
        return self.exit_status()

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        self.stop()
        self._stderr.close()

    # -- readings ---------------------------------------------------------------------------------

    def _tree(self) -> list[psutil.Process]:
        import psutil  # here: every run imports this module, few watch a process (20 ms)

        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            top = psutil.Process(self.proc.pid)
            return [top, *top.children(recursive=True)]
        except psutil.Error:
            return []

    def reset_peak(self) -> None:
        """Start a new peak: the kernel's high-water mark of each process goes back to its RSS."""
        for p in self._tree():
            with contextlib.suppress(OSError):
                Path(f"/proc/{p.pid}/clear_refs").write_text("5")

    def sample(self) -> Sample:
        rss = peak = 0
        cpu = 0.0
        import psutil

        for p in self._tree():
            try:
                now = p.memory_info().rss
                times = p.cpu_times()
            except psutil.Error:
                continue
            rss += now
            peak += max(now, _hwm(p.pid))
            cpu += times.user + times.system
        return Sample(rss, peak, round(cpu, 4))


def _hwm(pid: int) -> int:
    """VmHWM (peak resident set) from /proc, in octets; 0 where there is none."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


# -- liveness ----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Liveness:
    ok: bool
    seconds: float
    detail: str


async def probe_handshake(target: ServerTarget, timeout: float) -> Liveness:
    """Open a new connection and do the opening handshake: alive when 101 comes within `timeout`."""
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            detail = await _handshake_once(target)
    except TimeoutError:
        return Liveness(False, round(time.monotonic() - t0, 4), f"no answer to a new handshake within {timeout:g} s")
    except (TargetError, ConnectionError, OSError) as exc:
        return Liveness(False, round(time.monotonic() - t0, 4), f"a new connection failed: {exc}")
    seconds = round(time.monotonic() - t0, 4)
    return Liveness(not detail, seconds, detail or f"a new handshake was answered with 101 in {seconds:g} s")


async def _handshake_once(target: ServerTarget) -> str:
    """'' when the server accepted a fresh handshake, else why not."""
    reader, writer = await open_connection(target, 5.0)
    try:
        client = ClientHandshake(target.uri)
        writer.write(client.request().serialize())
        await writer.drain()
        buf = b""
        while True:
            parsed = parse_response(buf)
            if parsed is not None:
                break
            chunk = await reader.read(4096)
            if not chunk or len(buf) > _HEAD_MAX:
                return f"the server closed a new connection after {len(buf)} octets, with no complete response"
            buf += chunk
        response, _ = parsed
        try:
            client.check_response(response)
        except ProtocolError as exc:
            return f"a new handshake was answered with {response.status}, not a valid 101 ({exc})"
        writer.write(serialize_frame(Frame(Opcode.CLOSE, b"\x03\xe8"), mask=True))
        await writer.drain()
        return ""
    except WireError as exc:
        return f"the answer to a new handshake is not valid HTTP: {exc}"
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1)
