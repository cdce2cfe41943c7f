"""WebSocket streams over HTTP/3 (RFC 9220): one QUIC connection, request streams that read and
write like an asyncio StreamReader and StreamWriter.

aioquic does QUIC (loss recovery, flow control, TLS 1.3) and the HTTP/3 framing; this module does
the I/O and keeps the interface of conformance/targets/h2.py, so that the runner, the handshake
and the steps take either. A stream is an H2Stream whose link is an H3Link: what it reads is the
octets of the DATA frames on its request stream, the stream's FIN plays the part of TCP's FIN and
a RESET_STREAM that of a TCP reset (RFC 9220 §3, "stream closure"). QUIC gives receive window back
as data arrives and buffers what is written until the peer's windows allow it (RFC 9000 §4).
"""

from __future__ import annotations

__all__ = [
    "H3_NO_ERROR", "H3_REQUEST_CANCELLED", "H3Connection", "H3Link", "H3Stream", "H3Target",
    "connect_h3", "error_name", "self_signed_certificate", "serve_h3",
]

import asyncio
import atexit
import contextlib
import datetime
import ipaddress
import os
import socket
import ssl
import stat
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aioquic.h3.connection as h3c
import aioquic.h3.events as h3e
from aioquic._buffer import Buffer
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import serve as quic_serve
from aioquic.buffer import encode_uint_var
from aioquic.quic import events as qe
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

from conformance.errors import TargetError, UsageError
from conformance.targets.h2 import _LOST, H2Link, H2Stream, H2Target

H3_NO_ERROR = int(h3c.ErrorCode.H3_NO_ERROR)  # 0x100, RFC 9114 §8.1
H3_REQUEST_CANCELLED = int(h3c.ErrorCode.H3_REQUEST_CANCELLED)  # 0x10c
_ENABLE_CONNECT = int(h3c.Setting.ENABLE_CONNECT_PROTOCOL)  # 0x08, RFC 9220 §3
DEFAULT_WINDOW = 1 << 22
# datagrams of up to 16 KiB: every target is on loopback (MTU 64 KiB), where they are never fragmented
# (RFC 9000 §14); QUIC's 1200-octet minimum would take thirteen times the packets and the CPU
LOOPBACK_DATAGRAM = 16384
_STALL = 0.25  # seconds without the held limit filled before it is raised anyway
Headers = list[tuple[bytes, bytes]]


class H3Target(H2Target):
    """A server reached over HTTP/3: always https:// (QUIC carries TLS 1.3, ALPN h3)."""

    @classmethod
    def from_url(cls, url: str, ca_file: str | None = None, insecure: bool = False) -> H3Target:
        if not url.lower().startswith("https://"):
            raise UsageError(f"bad target URL {url!r}: over HTTP/3 the scheme is https (QUIC is always TLS)")
        base = H2Target.from_url(url, ca_file, insecure)
        return cls(base.url, base.uri, ca_file, insecure)

    async def probe(self, timeout: float) -> None:
        """Reach the server once over QUIC (TargetError if it cannot be reached)."""
        link = await connect_h3(self, timeout)
        link.close_soon()
        await link.wait_closed()

    def quic_configuration(self, window: int) -> QuicConfiguration:
        config = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=self.uri.host.strip("[]"),
                                   max_stream_data=window, max_data=max(window, 1 << 20) * 4, idle_timeout=30.0,
                                   max_datagram_size=LOOPBACK_DATAGRAM)
        if self.insecure:
            config.verify_mode = ssl.CERT_NONE
        elif self.ca_file:
            try:
                config.load_verify_locations(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(f"--ca {self.ca_file}: {exc}") from None
        return config


class H3Connection(h3c.H3Connection):
    """aioquic's HTTP/3 connection, made to tell what it received before it judges it: the
    SETTINGS_ENABLE_CONNECT_PROTOCOL values and each stream's first field section (so that a
    101 or a malformed answer is reported with what it said). `connect_protocol` None leaves the
    setting out of our SETTINGS."""

    def __init__(self, quic: QuicConnection, connect_protocol: int | None = 1) -> None:
        self.connect_protocol = connect_protocol
        self.connect_protocol_values: list[int] = []
        self.first_fields: dict[int, Headers] = {}
        self.goaway_id: int | None = None
        super().__init__(quic)

    def _get_local_settings(self) -> dict[int, int]:
        settings = super()._get_local_settings()
        settings.pop(_ENABLE_CONNECT, None)
        if self.connect_protocol is not None:
            settings[_ENABLE_CONNECT] = self.connect_protocol
        return settings

    def _handle_control_frame(self, frame_type: int, frame_data: bytes) -> None:
        if frame_type == h3c.FrameType.SETTINGS:
            with contextlib.suppress(Exception):
                value = h3c.parse_settings(frame_data).get(_ENABLE_CONNECT)
                if value is not None:
                    self.connect_protocol_values.append(value)
        elif frame_type == h3c.FrameType.GOAWAY:
            with contextlib.suppress(Exception):
                self.goaway_id = Buffer(data=frame_data).pull_uint_var()
        super()._handle_control_frame(frame_type, frame_data)

    def _decode_headers(self, stream_id: int, frame_data: bytes | None) -> Headers:
        headers: Headers = super()._decode_headers(stream_id, frame_data)
        self.first_fields.setdefault(stream_id, list(headers))
        return headers


class _HeldQuicConnection(QuicConnection):
    """A QUIC connection whose stream limits rise only by what the reader took (H3Link.consumed),
    as the HTTP/2 link gives window back; aioquic by itself doubles a stream's limit whenever half
    of it has arrived, so that a peer would never meet it."""

    def _write_stream_limits(self, builder: Any, space: Any, stream: Any) -> None:
        arrived = stream.receiver.highest_offset
        stream.receiver.highest_offset = 0  # no doubling: the limit is what consumed() set
        try:
            super()._write_stream_limits(builder, space, stream)
        finally:
            stream.receiver.highest_offset = arrived


class H3Stream(H2Stream):
    """One HTTP/3 request stream as a reader and a writer (see conformance/targets/h2.py)."""

    link: H3Link  # type: ignore[assignment]
    abort_code = H3_REQUEST_CANCELLED  # RESET_STREAM and STOP_SENDING: the counterpart of a TCP reset

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "h3_stream_id":
            return self.id
        return self.link.get_extra_info(name, default)

    def _reset_text(self) -> str:
        return f"the HTTP/3 stream was reset ({error_name(self.reset_code or 0)})"


class _Protocol(QuicConnectionProtocol):
    """Hands every QUIC event to the link that owns the connection; until there is one (the
    handshake is done), the events wait."""

    link: H3Link | None = None
    on_handshake: Callable[[_Protocol], None] | None = None  # server: make the link, serve it

    def quic_event_received(self, event: qe.QuicEvent) -> None:
        if self.link is None:
            self.__dict__.setdefault("early", []).append(event)
            if isinstance(event, qe.HandshakeCompleted) and self.on_handshake is not None:
                self.on_handshake(self)
            return
        self.link.on_quic_event(event)

    def datagram_received(self, data: bytes | str, addr: Any) -> None:
        """aioquic reports the peer's CONNECTION_CLOSE only when its draining period ends (three
        probe timeouts, longer on a loaded machine): the link learns of it at once."""
        super().datagram_received(data, addr)
        close = self._quic._close_event
        if close is not None and self.link is not None:
            self.link.peer_closed(close.error_code, close.reason_phrase)

    def transmit(self) -> None:
        """Nothing once our UDP socket is closed: aioquic's timers still fire after it."""
        transport = getattr(self, "_transport", None)
        if transport is None or transport.is_closing():
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        super().transmit()

    def attach(self, link: H3Link) -> None:
        self.link = link
        for event in self.__dict__.pop("early", []):
            link.on_quic_event(event)


class H3Link:
    """An HTTP/3 connection: the H2Link interface (streams, incoming, settings, ping, reset, close)
    over aioquic."""

    def __init__(self, protocol: _Protocol, *, client: bool, connect_protocol: int | None = 1) -> None:
        self.protocol, self.quic = protocol, protocol._quic
        self.h3 = H3Connection(self.quic, connect_protocol=connect_protocol)
        self._client = client
        self.streams: dict[int, H3Stream] = {}
        self.incoming: asyncio.Queue[H3Stream | None] = asyncio.Queue()  # server: new requests
        self.settings_seen = asyncio.Event()
        self.error = ""  # why the connection ended
        self.close_code: int | None = None  # the peer's CONNECTION_CLOSE error code
        self.closed = asyncio.Event()
        self._pings: dict[int, asyncio.Event] = {}
        self._window = protocol._quic.configuration.max_stream_data
        self._next_ping = 1
        self.writer = self  # what H2Stream asks for extra information
        # (error code, reason) when our QUIC or HTTP/3 layer closed the connection for what the peer did
        self.on_error: Callable[[int, str], None] | None = None
        self._closing = False  # we close it ourselves (close_soon)
        self._quic_close = self.quic.close
        self.quic.close = self._closed_by_us  # type: ignore[method-assign]
        protocol.attach(self)
        self.transmit()

    @property
    def remote_settings(self) -> dict[int, int]:
        return dict(self.h3.received_settings or {})

    @property
    def connect_protocol_values(self) -> list[int]:
        return self.h3.connect_protocol_values

    @property
    def goaway(self) -> int | None:
        """The stream ID of the peer's GOAWAY (RFC 9114 §5.2), None before one."""
        return self.h3.goaway_id

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        transport = getattr(self.protocol, "_transport", None)
        return transport.get_extra_info(name, default) if transport is not None else default

    def _closed_by_us(self, error_code: int = 0, frame_type: int | None = None, reason_phrase: str = "") -> None:
        """Every CONNECTION_CLOSE of ours goes through here: one that is not close_soon's is the
        verdict of our QUIC or HTTP/3 layer on what the peer sent."""
        self._quic_close(error_code=error_code, frame_type=frame_type, reason_phrase=reason_phrase)
        if not self._closing and not self.closed.is_set():
            why = f"{error_name(error_code)}{': ' + reason_phrase if reason_phrase else ''}"
            if self.on_error is not None:
                self.on_error(error_code, why)
            self._lost(f"the peer broke {'HTTP/3' if error_code >= 0x100 else 'QUIC'} ({why}); the suite closed "
                       "the connection")

    # -- events --------------------------------------------------------------------------------

    def on_quic_event(self, event: qe.QuicEvent) -> None:
        if isinstance(event, qe.ConnectionTerminated):  # the peer's CONNECTION_CLOSE, or an idle timeout
            self.peer_closed(event.error_code, event.reason_phrase)
            self._lost("the QUIC connection was closed")
            return
        if isinstance(event, qe.PingAcknowledged):
            waiter = self._pings.get(event.uid)
            if waiter is not None:
                waiter.set()
            return
        if isinstance(event, qe.StreamReset):
            self._on_reset(event.stream_id, event.error_code)
        for e in self.h3.handle_event(event):
            self._on_h3_event(e)
        if self.h3.received_settings is not None:
            self.settings_seen.set()

    def peer_closed(self, code: int, reason: str) -> None:
        """The connection is closed, by the peer unless we closed it ourselves (close_soon, or our
        layers refusing what the peer sent: then the link is closed already)."""
        if self._closing or self.closed.is_set():
            return
        self.close_code = code
        self._lost(f"the QUIC connection was closed ({error_name(code)}{': ' + reason if reason else ''})")

    def _on_reset(self, stream_id: int, code: int) -> None:
        s = self.streams.get(stream_id)
        if s is not None:
            s.reset_code = code
            s.headers_ready.set()
            s._wake()

    def _on_h3_event(self, e: h3e.H3Event) -> None:
        if isinstance(e, h3e.HeadersReceived):
            s, new = self._stream(e.stream_id)
            if not s.headers_ready.is_set() or not s.headers:
                s.headers = list(e.headers)
                if self._client and e.headers and dict(e.headers).get(b":status", b"").startswith(b"1"):
                    s.headers = []  # an interim response: the final one follows
                else:
                    s.headers_ready.set()
            else:
                s.trailers = list(e.headers)
            if new and not self._client:
                self.incoming.put_nowait(s)
            self._ended(s, e.stream_ended)
        elif isinstance(e, h3e.DataReceived):
            s, _ = self._stream(e.stream_id)
            s._feed(e.data)
            self._ended(s, e.stream_ended)

    @staticmethod
    def _ended(s: H3Stream, ended: bool) -> None:
        if ended:
            s.ended_by_peer = True
            s.headers_ready.set()
            s._wake()

    def _stream(self, stream_id: int) -> tuple[H3Stream, bool]:
        s = self.streams.get(stream_id)
        if s is not None:
            return s, False
        s = self.streams[stream_id] = H3Stream(self, stream_id)  # type: ignore[arg-type]
        return s, True

    def _lost(self, why: str) -> None:
        self.error = self.error or why
        for s in self.streams.values():
            if not s.ended_by_peer and s.reset_code is None:
                s.reset_code = _LOST
            s.headers_ready.set()
            s._wake()
        for waiter in self._pings.values():
            waiter.set()
        self.settings_seen.set()
        self.incoming.put_nowait(None)
        self.closed.set()

    # -- sending -------------------------------------------------------------------------------

    def open_stream(self, headers: Headers, *, end_stream: bool = False, owns_link: bool = False) -> H3Stream:
        """A new request stream with these request fields."""
        sid = self.quic.get_next_available_stream_id()
        s = self.streams[sid] = H3Stream(self, sid, owns_link=owns_link)  # type: ignore[arg-type]
        s.request = list(headers)
        self.h3.send_headers(sid, headers, end_stream=end_stream)
        s.ended_by_me = end_stream
        self.transmit()
        return s

    def respond(self, s: H2Stream, headers: Headers, *, end_stream: bool = False) -> None:
        with contextlib.suppress(Exception):
            self.h3.send_headers(s.id, headers, end_stream=end_stream)
        s.ended_by_me = s.ended_by_me or end_stream
        self.transmit()

    def consumed(self, stream_id: int, n: int) -> None:
        """The reader took `n` octets. Over a held connection a stream's limit rises (MAX_STREAM_DATA)
        only once the peer has filled it and the reader has taken all of it: a peer that ignores the
        limit then sends past it before it rises, whatever the timing, so that our QUIC layer sees the
        overrun. A peer that stops short of the limit gets it raised after a pause (an upper bound
        that keeps a cautious sender going; it plays no part in a verdict)."""
        if not isinstance(self.quic, _HeldQuicConnection) or self.closed.is_set():
            return
        s, st = self.streams.get(stream_id), self.quic._streams.get(stream_id)
        if s is None or st is None or s._in:
            return
        if st.receiver.highest_offset >= st.max_stream_data_local:
            self._raise_limit(st)
        else:
            asyncio.get_running_loop().call_later(_STALL, self._raise_if_stalled, st, st.max_stream_data_local)

    def _raise_limit(self, st: Any) -> None:
        st.max_stream_data_local = st.receiver.highest_offset + self._window
        self.transmit()

    def _raise_if_stalled(self, st: Any, limit: int) -> None:
        s = self.streams.get(st.stream_id)
        if st.max_stream_data_local == limit and s is not None and not s._in and not self.closed.is_set():
            self._raise_limit(st)

    end_reading = staticmethod(H2Link.end_reading)

    def reset_stream(self, s: H2Stream, code: int, *, end_reading: bool = True, stop: bool = True) -> None:
        """RESET_STREAM (and STOP_SENDING when `stop`) with this HTTP/3 error code."""
        if not s._ending_by_reset(end_reading):
            return
        with contextlib.suppress(Exception):
            self.quic.reset_stream(s.id, code)
        if stop and not s.ended_by_peer:
            with contextlib.suppress(Exception):
                self.quic.stop_stream(s.id, code)
        self.transmit()

    def pump(self) -> None:
        """Hand what the streams hold to QUIC, which sends it as the peer's windows allow."""
        for s in list(self.streams.values()):
            self._pump_stream(s)
        self.transmit()

    def _pump_stream(self, s: H2Stream) -> None:
        if not s._out and not s._eof_pending:
            return
        data, end = bytes(s._out), s._eof_pending
        s._out.clear()
        s._eof_pending = False
        try:
            if self.closed.is_set():
                raise ConnectionError
            self.h3.send_data(s.id, data, end_stream=end)
            s.ended_by_me = s.ended_by_me or end
        except Exception:  # the stream or the connection is gone: as into a closed socket
            if s.reset_code is None:
                s.reset_code = _LOST
        finally:
            s._wake()

    def send_goaway(self, stream_id: int) -> None:
        """GOAWAY on our control stream (RFC 9114 §5.2); a client names a push ID, here `stream_id`."""
        control = self.h3._local_control_stream_id
        if control is not None:
            frame = h3c.encode_frame(h3c.FrameType.GOAWAY, encode_uint_var(stream_id))
            self.quic.send_stream_data(control, frame)
            self.transmit()

    async def ping(self, data: bytes, timeout: float) -> bool:
        """A QUIC PING; True once it was acknowledged (the peer has received every packet before it)."""
        uid = self._next_ping
        self._next_ping += 1
        acked = self._pings[uid] = asyncio.Event()
        try:
            self.quic.send_ping(uid)
            self.transmit()
            await asyncio.wait_for(acked.wait(), timeout)
            return not self.closed.is_set()
        except TimeoutError:
            return False
        finally:
            self._pings.pop(uid, None)

    def transmit(self) -> None:
        with contextlib.suppress(Exception):
            self.protocol.transmit()

    async def drain(self) -> None:
        self.transmit()
        await asyncio.sleep(0)

    # -- life cycle ----------------------------------------------------------------------------

    def close_soon(self, code: int = H3_NO_ERROR) -> None:
        """CONNECTION_CLOSE with H3_NO_ERROR (streams still open are cut)."""
        self._closing = True
        if not self.closed.is_set():
            with contextlib.suppress(Exception):
                self.quic.close(error_code=code)
                self.transmit()

    def abort(self) -> None:
        self.close_soon(H3_REQUEST_CANCELLED)

    async def wait_closed(self) -> None:
        """The client's UDP socket closes once CONNECTION_CLOSE is out: no draining period (RFC 9000
        §10.2 lets an endpoint that sent it go at once)."""
        transport = getattr(self.protocol, "_transport", None)
        if self._client and transport is not None:
            transport.close()
        await asyncio.sleep(0)


def error_name(code: int) -> str:
    """An HTTP/3 or QUIC error code by its RFC name."""
    if code == -2:
        return "reset by the suite"
    if code < 0:
        return "the connection was lost"
    try:
        return h3c.ErrorCode(code).name
    except ValueError:
        pass
    from aioquic.quic.packet import QuicErrorCode

    try:
        return QuicErrorCode(code).name
    except ValueError:
        return f"error code {code:#x}"


async def connect_h3(target: H3Target, timeout: float, window: int = DEFAULT_WINDOW) -> H3Link:
    """A QUIC connection to `target` from a loopback UDP socket, TLS done; the HTTP/3 control
    streams are open. TargetError names the URL and the reason when it does not come up."""
    host = target.uri.host.strip("[]")
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        addr = host
    except ValueError:  # localhost
        family, addr = socket.AF_INET, "127.0.0.1"
    loop = asyncio.get_running_loop()
    held = window < DEFAULT_WINDOW  # a small window is there to test the peer's flow control: keep it small
    quic = (_HeldQuicConnection if held else QuicConnection)(configuration=target.quic_configuration(window))
    bind = ("::1", 0) if family == socket.AF_INET6 else ("127.0.0.1", 0)
    transport, protocol = await loop.create_datagram_endpoint(lambda: _Protocol(quic), local_addr=bind, family=family)
    peer = (addr, target.uri.port) if family == socket.AF_INET else (addr, target.uri.port, 0, 0)
    try:
        protocol.connect(peer)
        await asyncio.wait_for(protocol.wait_connected(), timeout)
    except (TimeoutError, ConnectionError) as exc:
        why = quic._close_event.reason_phrase if quic._close_event is not None else ""
        transport.close()
        raise TargetError(f"{target.url}: no QUIC connection with ALPN h3 within {timeout:g} s"
                          f"{' (' + why + ')' if why else ''}{'' if why or isinstance(exc, TimeoutError) else ' (refused)'}"
                          ) from None
    return H3Link(protocol, client=True)


async def serve_h3(host: str, port: int, cert: str, key: str, handler: Callable[[H3Link], Coroutine[Any, Any, None]], *,
                   connect_protocol: int | None = 1, ready: asyncio.Future[int] | None = None) -> None:
    """Serve HTTP/3 on UDP until cancelled: `handler` gets each new connection's link."""
    config = QuicConfiguration(is_client=False, alpn_protocols=["h3"], max_stream_data=DEFAULT_WINDOW,
                               max_data=DEFAULT_WINDOW * 4, idle_timeout=30.0, max_datagram_size=LOOPBACK_DATAGRAM)
    try:
        config.load_cert_chain(cert, key)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load the certificate or key: {exc}") from None
    tasks: set[asyncio.Task[None]] = set()

    def start(proto: _Protocol) -> None:
        link = H3Link(proto, client=False, connect_protocol=connect_protocol)
        task = asyncio.get_running_loop().create_task(handler(link))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def create(*args: Any, **kwargs: Any) -> _Protocol:
        proto = _Protocol(*args, **kwargs)
        proto.on_handshake = start
        return proto

    server = await quic_serve(host, port, configuration=config, create_protocol=create)
    assert server._transport is not None
    bound = server._transport.get_extra_info("sockname")[1]
    if ready is not None:
        ready.set_result(bound)
    try:
        await asyncio.Future()
    finally:
        for task in list(tasks):
            task.cancel()
        server.close()


def _certificate_dir() -> Path:
    """One private folder per user for the certificates servers make on start, named by their PID.
    A server that is killed (a watched one is restarted after every death) cannot remove its own
    pair, so each new one removes the pairs of processes that no longer run. A folder that is not
    this user's alone is not used: a new temporary one is."""
    d = Path(tempfile.gettempdir()) / f"conformance-h3-certs-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        d.mkdir(mode=0o700)
    st = d.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return Path(tempfile.mkdtemp(prefix="conformance-h3-"))
    for f in d.glob("*-*.pem"):
        pid = f.name.split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            f.unlink(missing_ok=True)
    return d


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget(d: Path, stem: str) -> None:
    for name in ("cert.pem", "key.pem"):
        (d / f"{stem}{name}").unlink(missing_ok=True)


def self_signed_certificate(directory: str | None = None) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, ::1 and localhost, made now (EC P-256, one day):
    paths of the certificate and its key, in `directory`, or named by this process in a folder
    of this user's where the pairs of processes gone are removed (`_certificate_dir`)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "conformance test server")])
    now = datetime.datetime.now(datetime.UTC)
    alt = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                       x509.IPAddress(ipaddress.ip_address("::1"))])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1)).add_extension(alt, critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    if directory:
        d, stem = Path(directory), ""
    else:
        d, stem = _certificate_dir(), f"{os.getpid()}-"
        atexit.register(_forget, d, stem)
    cert_path, key_path = d / f"{stem}cert.pem", d / f"{stem}key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


