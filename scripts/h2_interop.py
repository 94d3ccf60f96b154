#!/usr/bin/env python3
"""WebSockets over cleartext HTTP/2 (RFC 8441) against the echo_server example, from Python.

An independent client on the `h2` package (hyper-h2): one TCP connection with prior knowledge,
several extended CONNECT streams, RFC 6455 frames written by hand (masked with a random key),
HTTP/2 flow control driven by hand. Prints one PASS/FAIL line per check and exits 1 on any FAIL.

    python3 scripts/h2_interop.py target/release/examples/echo_server

The server is started on a free port and killed at the end, whatever happens.
"""

import collections
import os
import queue
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import h2
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

TIMEOUT = 10.0  # seconds for any single expectation

# WebSocket opcodes (RFC 6455 section 5.2).
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

FAILURES = []
COUNT = 0


def check(name, ok, detail=""):
    global COUNT
    COUNT += 1
    line = f"{'PASS' if ok else 'FAIL'} {name}"
    if detail:
        line += f" -- {detail}"
    print(line, flush=True)
    if not ok:
        FAILURES.append(name)
    return ok


def ws_frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    """One RFC 6455 frame; client frames are masked with a fresh random key."""
    head = bytearray([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 1 << 16:
        head.append(mbit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", n)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    head += key
    return bytes(head) + xor_mask(payload, key)


def xor_mask(payload, key):
    if not payload:
        return b""
    k = int.from_bytes((key * (len(payload) // 4 + 1))[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(len(payload), "big")


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def parse_close(payload):
    if len(payload) >= 2:
        return struct.unpack("!H", payload[:2])[0], payload[2:]
    return None, payload


def headers_dict(headers):
    d = collections.defaultdict(list)
    for k, v in headers or []:
        d[bytes(k).lower()].append(bytes(v))
    return d


class WsStream:
    """One HTTP/2 stream: its response, and the WebSocket frames read from its DATA."""

    def __init__(self, sid, label):
        self.sid = sid
        self.label = label
        self.response = None  # list of (name, value)
        self.informational = []
        self.trailers = None
        self.ended = False  # END_STREAM received
        self.reset = None  # RST_STREAM error code received
        self.buf = bytearray()
        self.raw = bytearray()  # every DATA byte, for the bodies of error responses
        self.data_bytes = 0  # DATA payload bytes received
        self.messages = []  # (opcode, payload) of complete data messages
        self.pongs = []
        self.pings = []
        self.closes = []  # raw close payloads
        self.violations = []  # server frames breaking RFC 6455
        self.frag_op = None
        self.frag = bytearray()
        self.credit_paused = False
        self.owed = 0  # stream-level credit held back while paused
        self.out = collections.deque()  # bytes waiting for send window
        self.end_after_out = False
        self.local_ended = False
        self.reset_after_end = None  # whether RST_STREAM came after END_STREAM
        self.mark = (0, 0)  # messages and pongs already checked

    def begin(self):
        """Starts a batch: expect_echo looks only at what arrives after this."""
        self.mark = (len(self.messages), len(self.pongs))

    def status(self):
        if self.response is None:
            return None
        v = headers_dict(self.response).get(b":status")
        return int(v[0]) if v else None

    def header(self, name):
        return headers_dict(self.response).get(name, [])

    def feed(self, data):
        self.buf += data
        while True:
            b = self.buf
            if len(b) < 2:
                return
            fin, rsv, op = b[0] >> 7, (b[0] >> 4) & 7, b[0] & 0xF
            masked, n = b[1] >> 7, b[1] & 0x7F
            pos = 2
            if n == 126:
                if len(b) < 4:
                    return
                n = struct.unpack("!H", b[2:4])[0]
                pos = 4
            elif n == 127:
                if len(b) < 10:
                    return
                n = struct.unpack("!Q", b[2:10])[0]
                pos = 10
            key = None
            if masked:
                if len(b) < pos + 4:
                    return
                key = bytes(b[pos : pos + 4])
                pos += 4
            if len(b) < pos + n:
                return
            payload = bytes(b[pos : pos + n])
            del self.buf[: pos + n]
            if masked:
                self.violations.append(f"masked server frame opcode {op:#x}")
                payload = xor_mask(payload, key)
            if rsv:
                self.violations.append(f"RSV bits {rsv:#x} on opcode {op:#x}")
            self.on_frame(fin, op, payload)

    def on_frame(self, fin, op, payload):
        if op >= 0x8:
            if not fin or len(payload) > 125:
                self.violations.append(f"bad control frame opcode {op:#x} len {len(payload)}")
            if op == PONG:
                self.pongs.append(payload)
            elif op == PING:
                self.pings.append(payload)
            elif op == CLOSE:
                self.closes.append(payload)
            else:
                self.violations.append(f"reserved control opcode {op:#x}")
            return
        if op == CONT:
            if self.frag_op is None:
                self.violations.append("continuation frame with nothing to continue")
                return
            self.frag += payload
        elif op in (TEXT, BINARY):
            if self.frag_op is not None:
                self.violations.append("new data frame inside a fragmented message")
            self.frag_op = op
            self.frag = bytearray(payload)
        else:
            self.violations.append(f"reserved data opcode {op:#x}")
            return
        if fin:
            self.messages.append((self.frag_op, bytes(self.frag)))
            self.frag_op = None
            self.frag = bytearray()


class GracefulH2Connection(h2.connection.H2Connection):
    """h2 closes the whole connection on any GOAWAY (python-hyper/h2#1181, #1199), though RFC 9113
    s6.8 lets streams up to its last stream id complete. A server shutting down gracefully (hyper:
    GOAWAY, PING, GOAWAY) must still be able to finish its WebSockets' closing handshakes, so a
    GOAWAY with NO_ERROR is reported as an event and the connection stays open."""

    def _receive_goaway_frame(self, frame):
        if frame.error_code != 0:
            return super()._receive_goaway_frame(frame)
        ev = h2.events.ConnectionTerminated()
        ev.error_code = h2.errors._error_code_from_int(frame.error_code)
        ev.last_stream_id = frame.last_stream_id
        ev.additional_data = frame.additional_data or None
        return [], [ev]


class Client:
    def __init__(self, host, port):
        self.authority = f"{host}:{port}"
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.conn = GracefulH2Connection(config=cfg)
        self.streams = {}
        self.remote_settings_seen = False
        self.settings_acked = False
        self.goaway = None
        self.goaways = []
        self.eof = False
        self.first_frame_types = []
        self.conn.initiate_connection()
        self.flush()

    # -- I/O --------------------------------------------------------------------------------

    def send_raw(self):
        data = self.conn.data_to_send()
        view = memoryview(data)
        while view:
            try:
                n = self.sock.send(view)
                view = view[n:]
            except BlockingIOError:
                # The server is not reading: read what it sends meanwhile, or we could both
                # wait on full buffers.
                r, w, _ = select.select([self.sock], [self.sock], [], TIMEOUT)
                if r:
                    self.read_some()
                if not r and not w:
                    raise TimeoutError("socket not writable")

    def flush(self):
        progress = True
        while progress:
            progress = False
            for st in list(self.streams.values()):
                if not st.out:
                    if st.end_after_out and not st.local_ended:
                        self.end_stream(st)
                    continue
                try:
                    window = min(
                        self.conn.local_flow_control_window(st.sid),
                        self.conn.max_outbound_frame_size,
                        16384,  # small chunks so streams interleave
                    )
                except h2.exceptions.StreamClosedError:
                    st.out.clear()
                    continue
                if window <= 0:
                    continue
                chunk = st.out[0][:window]
                if len(chunk) == len(st.out[0]):
                    st.out.popleft()
                else:
                    st.out[0] = st.out[0][window:]
                self.conn.send_data(st.sid, chunk)
                progress = True
        self.send_raw()

    def read_some(self):
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
            return
        for ev in self.conn.receive_data(data):
            self.on_event(ev)

    def pump(self, timeout=0.05):
        self.flush()
        if self.eof:
            time.sleep(timeout)
            return
        r, _, _ = select.select([self.sock], [], [], timeout)
        if r:
            self.read_some()
        self.flush()

    def wait(self, pred, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline or self.eof:
                return pred()
            self.pump()
        return True

    def settle(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.pump()

    # -- events -----------------------------------------------------------------------------

    def credit(self, st, n):
        if n <= 0:
            return
        self.conn.increment_flow_control_window(n)  # connection-level: always given back
        if st is None:
            return
        if st.credit_paused:
            st.owed += n
            return
        self.credit_stream(st, n)

    def credit_stream(self, st, n):
        if n <= 0 or st.ended or st.reset is not None:
            return
        try:
            self.conn.increment_flow_control_window(n, stream_id=st.sid)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
            pass

    def on_event(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            self.remote_settings_seen = True
        elif isinstance(ev, h2.events.SettingsAcknowledged):
            self.settings_acked = True
        elif isinstance(ev, h2.events.ResponseReceived):
            st.response = list(ev.headers)
        elif isinstance(ev, h2.events.InformationalResponseReceived):
            st.informational.append(list(ev.headers))
        elif isinstance(ev, h2.events.TrailersReceived):
            st.trailers = list(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            if st is not None:
                st.data_bytes += len(ev.data)
                st.raw += ev.data
                st.feed(ev.data)
            self.credit(st, ev.flow_controlled_length)
        elif isinstance(ev, h2.events.StreamEnded):
            st.ended = True
        elif isinstance(ev, h2.events.StreamReset):
            if st is not None:
                st.reset = ev.error_code
                st.reset_after_end = st.ended
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = ev
            self.goaways.append((ev.error_code, ev.last_stream_id))

    # -- streams ----------------------------------------------------------------------------

    def request(self, label, headers, end_stream=False):
        sid = self.conn.get_next_available_stream_id()
        st = WsStream(sid, label)
        self.streams[sid] = st
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        st.local_ended = end_stream
        self.flush()
        return st

    def websocket_headers(self, protocol=b"websocket", version=b"13", extra=()):
        hs = [
            (b":method", b"CONNECT"),
            (b":protocol", protocol),
            (b":scheme", b"http"),
            (b":path", b"/"),
            (b":authority", self.authority.encode()),
        ]
        if version is not None:
            hs.append((b"sec-websocket-version", version))
        hs.extend(extra)
        return hs

    def open_ws(self, label, **kw):
        return self.request(label, self.websocket_headers(**kw))

    def send_ws(self, st, *frames):
        for f in frames:
            st.out.append(f)
        self.flush()

    def end_stream(self, st):
        if st.local_ended:
            return
        try:
            self.conn.end_stream(st.sid)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass
        st.local_ended = True

    def resume_credit(self, st):
        st.credit_paused = False
        owed, st.owed = st.owed, 0
        self.credit_stream(st, owed)
        self.flush()

    def close(self):
        try:
            self.conn.close_connection()
            self.send_raw()
        except Exception:
            pass
        self.sock.close()


# -- the server ---------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, stderr_file):
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"127.0.0.1:{port}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
    )
    lines = queue.Queue()

    def drain():
        for line in proc.stdout:
            lines.put(line.decode(errors="replace").rstrip())
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        m = re.search(r"listening on ws://([\d.]+):(\d+)", line)
        if m:
            return proc, lines, m.group(1), int(m.group(2))
    raise RuntimeError("the echo server did not print its listening line")


# -- the checks ---------------------------------------------------------------------------


def expect_echo(c, st, sent, pongs=(), name=None, timeout=TIMEOUT):
    """Waits for the data messages `sent` (list of (opcode, payload), in order) and `pongs`."""
    name = name or st.label
    start, start_pongs = st.mark
    c.wait(
        lambda: len(st.messages) >= start + len(sent)
        and len(st.pongs) >= start_pongs + len(pongs),
        timeout,
    )
    got = st.messages[start : start + len(sent)]
    ok = got == list(sent)
    detail = f"{len(got)}/{len(sent)} messages"
    if not ok:
        for i, (want, have) in enumerate(zip(sent, got)):
            if want != have:
                detail += (
                    f"; #{i} sent op {want[0]} {len(want[1])} B, got op {have[0]} {len(have[1])} B"
                )
                break
        if st.closes:
            detail += f"; close {parse_close(st.closes[-1])}"
        if st.reset is not None:
            detail += f"; RST_STREAM {st.reset}"
    else:
        detail += ", " + ", ".join(f"{'text' if o == TEXT else 'binary'} {len(p)} B" for o, p in got)
    check(f"{name}: echoes exact", ok, detail)
    if pongs:
        got_p = st.pongs[start_pongs : start_pongs + len(pongs)]
        check(
            f"{name}: pong carries the ping payload",
            sorted(got_p) == sorted(pongs),
            f"sent pings {list(pongs)!r}, got pongs {got_p!r}",
        )
    return ok


def orderly_end(st):
    """END_STREAM, and no RST_STREAM except NO_ERROR after it (RFC 9113 s8.1)."""
    if not st.ended:
        return False, f"no END_STREAM, RST_STREAM={st.reset}"
    if st.reset is None:
        return True, "END_STREAM, no RST_STREAM"
    note = f"END_STREAM then RST_STREAM({st.reset})" if st.reset_after_end else f"RST_STREAM({st.reset})"
    return st.reset == 0 and st.reset_after_end, note


def expect_fail_close(c, st, code, what):
    c.wait(lambda: st.ended or st.reset is not None)
    codes = [parse_close(p)[0] for p in st.closes]
    check(
        f"{what}: close {code}",
        codes[:1] == [code],
        f"close frames {[parse_close(p) for p in st.closes]!r}, messages {len(st.messages)}",
    )
    ok, note = orderly_end(st)
    check(f"{what}: server ends the stream (END_STREAM)", ok, note)
    c.end_stream(st)
    c.flush()


def expect_status(c, st, want, what, extra=None):
    c.wait(lambda: st.response is not None and (st.ended or st.reset is not None))
    status = st.status()
    ok = status in want if isinstance(want, (set, tuple, list, range)) else status == want
    check(
        f"{what}: status {want if not isinstance(want, range) else f'{want.start}-{want.stop - 1}'}",
        ok,
        f"got {status}, headers {st.response!r}, body {bytes(st.raw)!r}, END_STREAM={st.ended}, "
        f"RST_STREAM={st.reset}",
    )
    if extra:
        extra(st)
    c.end_stream(st)
    c.flush()


def sanity(st):
    check(
        f"{st.label}: server frames follow RFC 6455 (unmasked, no RSV, valid control frames)",
        not st.violations,
        "; ".join(st.violations),
    )


def setting_name(k):
    try:
        return h2.settings.SettingCodes(k).name
    except ValueError:
        return str(k)


def run(binary):
    stderr_file = tempfile.TemporaryFile()
    proc = None
    c = None
    try:
        proc, out_lines, host, port = start_server(binary, stderr_file)
        print(f"# echo server pid {proc.pid} on {host}:{port}; h2 {h2.__version__}", flush=True)
        c = Client(host, port)

        # 1. SETTINGS
        c.wait(lambda: c.remote_settings_seen)
        check("server SETTINGS received", c.remote_settings_seen)
        ecp = c.conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
        check("SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8) = 1", ecp == 1, f"got {ecp}")
        c.wait(lambda: c.settings_acked)
        check("server ACKs our SETTINGS", c.settings_acked)
        print(
            "# server settings: "
            + ", ".join(f"{setting_name(k)}={v}" for k, v in c.conn.remote_settings.items()),
            flush=True,
        )

        # 2. three WebSockets on the one connection
        a = c.open_ws("ws-A")
        b = c.open_ws("ws-B", extra=[(b"sec-websocket-protocol", b"chat")])
        d = c.open_ws("ws-C")
        for st in (a, b, d):
            c.wait(lambda: st.response is not None or st.ended or st.reset is not None)
            check(f"{st.label}: extended CONNECT answered 200", st.status() == 200,
                  f"stream {st.sid}, status {st.status()}, headers {st.response!r}, RST={st.reset}")
        proto_b = b.header(b"sec-websocket-protocol")
        check(
            "ws-B: sec-websocket-protocol answer consistent with RFC 6455 (none, or one offered)",
            proto_b in ([], [b"chat"]),
            f"offered chat, got {proto_b!r}",
        )
        for st in (a, d):
            got = st.header(b"sec-websocket-protocol")
            check(f"{st.label}: no subprotocol when none offered", got == [], f"got {got!r}")
        for st in (a, b, d):
            bad = [h for h in (b"sec-websocket-accept", b"upgrade", b"connection") if st.header(h)]
            check(f"{st.label}: no HTTP/1.1 upgrade headers in the 200 (RFC 8441 s5)", not bad,
                  f"found {bad!r}")

        # 3. interleaved messages across the three streams
        big_bin = os.urandom(200 * 1024)
        big_text = ("héllo wörld € 😀 " * 12800)[: 150 * 1024].encode()  # ~210 KB of UTF-8
        assert len(big_text) > 150_000
        frag = [b"Gr\xc3\xbc\xc3\x9fe, ", "€".encode()[:2], "€".encode()[2:] + b" - the end"]
        whole = b"".join(frag)
        whole.decode()  # valid UTF-8 as a whole; fragment 2 ends in the middle of a code point
        sent = {a.sid: [], b.sid: [], d.sid: []}
        pings = {a.sid: [], b.sid: [], d.sid: []}

        def begin(*streams):
            for st in streams:
                st.begin()
                sent[st.sid], pings[st.sid] = [], []

        def msg(st, op, payload):
            c.send_ws(st, ws_frame(op, payload))
            sent[st.sid].append((op, payload))

        def ping(st, payload):
            c.send_ws(st, ws_frame(PING, payload))
            pings[st.sid].append(payload)

        begin(a, b, d)
        msg(a, TEXT, "hello A".encode())
        msg(b, BINARY, bytes(range(256)))
        msg(d, BINARY, big_bin)  # 200 KB: beyond the 64 KB windows both ways
        c.send_ws(a, ws_frame(TEXT, frag[0], fin=False))
        msg(b, TEXT, big_text)
        ping(d, b"ping on C")
        c.send_ws(a, ws_frame(PING, b"mid-message"))  # control frame between fragments
        pings[a.sid].append(b"mid-message")
        c.send_ws(a, ws_frame(CONT, frag[1], fin=False))
        msg(d, TEXT, b"")  # empty text message
        c.send_ws(a, ws_frame(CONT, frag[2], fin=True))
        sent[a.sid].append((TEXT, whole))
        ping(b, os.urandom(125))  # largest control payload
        msg(a, BINARY, b"")
        msg(d, TEXT, "after the big one on C".encode())
        ping(a, b"")
        msg(b, BINARY, b"\x00\xff" * 100)
        for st in (a, b, d):
            expect_echo(c, st, sent[st.sid], pings[st.sid], name=f"{st.label} interleaved")
        check("fragmented text (3 frames, a code point split across 2) echoed whole",
              (TEXT, whole) in a.messages, f"{whole!r}")
        check("200 KB binary echoed across flow-control windows", (BINARY, big_bin) in d.messages)
        check(f"{len(big_text)} B text echoed across flow-control windows",
              (TEXT, big_text) in b.messages)

        # 3b. a stalled reader stalls only its own stream (README): we stop giving stream
        # credit on C while the server echoes 300 KB there; A and B must go on.
        begin(a, b, d)
        d.credit_paused = True
        stall = os.urandom(300 * 1024)
        before = d.data_bytes
        c.send_ws(d, ws_frame(BINARY, stall))
        c.settle(1.0)
        stalled_at = d.data_bytes - before
        check("ws-C: server respects our stream window (stops at <= 64 KiB unacknowledged)",
              stalled_at <= 65535 and (BINARY, stall) not in d.messages,
              f"{stalled_at} B received while paused")
        msg(a, TEXT, b"A while C is stalled")
        msg(b, BINARY, os.urandom(70 * 1024))
        expect_echo(c, a, sent[a.sid], name="ws-A while ws-C stalled")
        expect_echo(c, b, sent[b.sid], name="ws-B while ws-C stalled")
        c.resume_credit(d)
        expect_echo(c, d, [(BINARY, stall)], name="ws-C after credit resumes (300 KB)")

        # 4. close handshake on A
        begin(a, b, d)
        c.send_ws(a, ws_frame(CLOSE, close_payload(1000, b"bye")))
        c.wait(lambda: a.closes and (a.ended or a.reset is not None))
        code = parse_close(a.closes[0])[0] if a.closes else None
        check("ws-A: close 1000 answered with close 1000", code == 1000,
              f"got {[parse_close(p) for p in a.closes]!r}")
        ok, note = orderly_end(a)
        check("ws-A: server ends the stream after its close (END_STREAM)", ok, note)
        c.end_stream(a)
        c.settle(0.2)
        check("ws-A: no further frames after the close",
              len(a.closes) == 1 and not a.buf and not a.messages[a.mark[0]:],
              f"closes {len(a.closes)}, {len(a.buf)} B pending")
        msg(b, TEXT, b"B after A closed")
        msg(d, BINARY, b"C after A closed")
        ping(d, b"C ping after A closed")
        expect_echo(c, b, sent[b.sid], name="ws-B after A closed")
        expect_echo(c, d, sent[d.sid], [b"C ping after A closed"], name="ws-C after A closed")

        # 5. errors, each on a fresh stream
        e = c.open_ws("unmasked")
        c.wait(lambda: e.response is not None)
        c.send_ws(e, ws_frame(TEXT, b"not masked", mask=False))
        expect_fail_close(c, e, 1002, "unmasked client frame")

        e = c.open_ws("bad-utf8")
        c.wait(lambda: e.response is not None)
        c.send_ws(e, ws_frame(TEXT, b"ok so far \xff\xfe\xfd"))
        expect_fail_close(c, e, 1007, "invalid UTF-8 in a text frame")

        e = c.request("GET", [
            (b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
            (b":authority", c.authority.encode()), (b"sec-websocket-version", b"13"),
        ], end_stream=True)
        expect_status(c, e, 405, "GET instead of CONNECT", lambda st: check(
            "GET 405: carries an Allow header (RFC 9110 s15.5.6)", bool(st.header(b"allow")),
            f"allow {st.header(b'allow')!r}"))

        e = c.open_ws("webtransport", protocol=b"webtransport")
        expect_status(c, e, 400, "CONNECT :protocol webtransport")

        def has_v13(st):
            v = st.header(b"sec-websocket-version")
            check("version 8: response names sec-websocket-version: 13",
                  any(b"13" in [p.strip() for p in x.split(b",")] for x in v), f"got {v!r}")

        e = c.open_ws("v8", version=b"8")
        expect_status(c, e, 426, "sec-websocket-version: 8", has_v13)

        # 5b. more RFC 6455 / RFC 8441 errors (not in the brief's list)
        e = c.open_ws("no-version", version=None)
        expect_status(c, e, range(400, 500), "extended CONNECT without sec-websocket-version")

        e = c.request("plain CONNECT", [
            (b":method", b"CONNECT"), (b":authority", c.authority.encode()),
        ])
        expect_status(c, e, range(400, 600), "plain CONNECT (no :protocol) is not a WebSocket")

        for label, frames in [
            ("RSV1 without an extension", [ws_frame(TEXT, b"x", rsv=4)]),
            ("ping of 126 B", [ws_frame(PING, b"p" * 126)]),
            ("fragmented ping", [ws_frame(PING, b"p", fin=False)]),
            ("continuation with nothing to continue", [ws_frame(CONT, b"x")]),
            ("reserved opcode 0x3", [ws_frame(0x3, b"x")]),
            ("close code 1005 on the wire", [ws_frame(CLOSE, close_payload(1005))]),
        ]:
            e = c.open_ws(label)
            c.wait(lambda: e.response is not None)
            c.send_ws(e, *frames)
            expect_fail_close(c, e, 1002, label)

        # the survivors still work, and the connection is intact
        begin(b, d)
        msg(b, TEXT, "B at the end ✓".encode())
        msg(d, BINARY, os.urandom(100 * 1024))
        ping(b, b"last ping")
        expect_echo(c, b, sent[b.sid], [b"last ping"], name="ws-B after the error streams")
        expect_echo(c, d, sent[d.sid], name="ws-C after the error streams")
        check("connection still up: no GOAWAY, no EOF", c.goaway is None and not c.eof,
              f"GOAWAY={c.goaway}, EOF={c.eof}")
        for st in (a, b, d):
            sanity(st)

        # 5c. ends without a closing handshake
        e = c.open_ws("END_STREAM without close")
        c.wait(lambda: e.response is not None)
        e.begin()
        c.send_ws(e, ws_frame(TEXT, b"then END_STREAM"))
        e.end_after_out = True
        c.flush()
        c.wait(lambda: e.ended or e.reset is not None)
        ok, note = orderly_end(e)
        check("client END_STREAM without a close frame (like a TCP FIN): server ends its side",
              e.ended or e.reset is not None,
              f"{note}; echoes {len(e.messages)}, close frames {[parse_close(p) for p in e.closes]!r}")

        e = c.open_ws("RST_STREAM CANCEL")
        c.wait(lambda: e.response is not None)
        c.send_ws(e, ws_frame(TEXT, b"then cancel"))
        c.conn.reset_stream(e.sid, h2.errors.ErrorCodes.CANCEL)
        e.local_ended = True
        c.flush()

        e = c.open_ws("close and END_STREAM together")
        c.wait(lambda: e.response is not None)
        c.send_ws(e, ws_frame(CLOSE, close_payload(1000, b"half-close")))
        e.end_after_out = True
        c.flush()
        c.wait(lambda: e.ended or e.reset is not None)
        codes = [parse_close(p)[0] for p in e.closes]
        ok, note = orderly_end(e)
        check("close 1000 sent with END_STREAM: server answers close 1000 and ends its side",
              codes == [1000] and ok, f"close frames {codes}, {note}")

        # orderly end of B; C is left open for the graceful shutdown
        c.send_ws(b, ws_frame(CLOSE, close_payload(1000)))
        c.wait(lambda: b.closes and (b.ended or b.reset is not None))
        ok, note = orderly_end(b)
        check(f"{b.label}: close 1000 answered, stream ended",
              [parse_close(p)[0] for p in b.closes] == [1000] and ok,
              f"closes {[parse_close(p) for p in b.closes]!r}, {note}")
        c.end_stream(b)
        begin(d)
        msg(d, TEXT, b"C is the last one open")
        expect_echo(c, d, sent[d.sid], name="ws-C before shutdown")
        c.settle(0.5)

        # 6. graceful shutdown (Ctrl-C): 1001 to the one WebSocket still open, whose closing
        # handshake completes over HTTP/2; every other stream above must be forgotten by now.
        proc.send_signal(signal.SIGINT)
        c.wait(lambda: d.closes or d.ended or d.reset is not None)
        codes = [parse_close(p)[0] for p in d.closes]
        check("shutdown: ws-C gets close 1001 Going Away", codes[:1] == [1001],
              f"close frames {[parse_close(p) for p in d.closes]!r}, END_STREAM={d.ended}, RST={d.reset}")
        reply_ok = not d.ended and d.reset is None
        check("shutdown: ws-C stream still open for our close reply", reply_ok,
              f"END_STREAM={d.ended}, RST={d.reset} before we could answer")
        if reply_ok:
            c.send_ws(d, ws_frame(CLOSE, close_payload(1001)))
        c.wait(lambda: d.ended or d.reset is not None)
        ok, note = orderly_end(d)
        check("shutdown: ws-C ended after our close reply", ok, note)
        c.end_stream(d)
        c.flush()
        lines = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(l and l.startswith("closed") for l in lines):
            c.pump(0.1)
            try:
                lines.append(out_lines.get(timeout=0.1))
            except queue.Empty:
                pass
            if lines and lines[-1] is None:
                break
        for line in lines:
            if line:
                print(f"# server stdout: {line}")
        live = [l for l in lines if l and l.startswith("shutting down")]
        check("shutdown: server counts 1 live WebSocket (the error/ended streams were released)",
              live == ["shutting down: 1 connections open"], f"{live!r}")
        done = [l for l in lines if l and l.startswith("closed")]
        check("shutdown: the closing handshake finished in time",
              bool(done) and done[0].endswith("(0 did not finish in time)"), f"{done!r}")
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        check("shutdown: server exits", proc.poll() is not None, f"exit status {proc.poll()}")
        c.pump(0.2)
        print(f"# after shutdown: GOAWAYs (code, last stream) {c.goaways}, EOF={c.eof}", flush=True)
    except Exception as exc:  # a crash is a failure, reported like the others
        import traceback

        traceback.print_exc()
        check("client ran to the end", False, f"{type(exc).__name__}: {exc}")
    finally:
        if c is not None:
            c.close()
        if proc is not None:
            proc.kill()
            proc.wait()
        stderr_file.seek(0)
        err = stderr_file.read().decode(errors="replace").strip()
        if err:
            print("# server stderr:")
            for line in err.splitlines()[-40:]:
                print(f"#   {line}")
    print(f"# {COUNT - len(FAILURES)}/{COUNT} checks passed", flush=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    default = os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "examples", "echo_server"
    )
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else default))
