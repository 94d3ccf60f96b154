#!/usr/bin/env python3
# N connections with Chromium's deflate offer to a chat node; RSS per connection idle after the
# handshake and after each joined a room and published one message (compressed, as a browser
# does). Usage: browser_conns.py PID HOST PORT N [offer]
import socket, sys, os, base64, zlib, time, json, selectors
pid, host, port, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
offer = sys.argv[5] if len(sys.argv) > 5 else "permessage-deflate; client_max_window_bits"
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1])
def frame(payload, compressed):
    mask = os.urandom(4)
    b0 = 0x81 | (0x40 if compressed else 0)
    n = len(payload)
    head = bytes([b0, 0x80 | n]) if n < 126 else bytes([b0, 0x80 | 126]) + n.to_bytes(2, "big")
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
def drain(s):
    s.setblocking(False)
    try:
        while s.recv(65536): pass
    except BlockingIOError: pass
    s.setblocking(True)
base = rss()
socks = []
for i in range(n):
    s = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Extensions: {offer}\r\n\r\n").encode())
    resp = b""
    while b"\r\n\r\n" not in resp: resp += s.recv(4096)
    if i == 0: print([l for l in resp.decode("latin-1").split("\r\n") if "xtension" in l], flush=True)
    socks.append(s)
time.sleep(1.0)
for s in socks: drain(s)
idle = rss()
print(f"idle: {(idle - base) / n:.1f} KiB per connection ({base} -> {idle} KiB)", flush=True)
for i, s in enumerate(socks):
    comp = zlib.compressobj(2, zlib.DEFLATED, -13)
    for msg in [{"type": "join", "room": f"room-{i}", "nick": f"user-{i}"},
                {"type": "publish", "room": f"room-{i}", "text": "hello everyone, this is a chat message of a typical length, with some words in it " * 2}]:
        raw = json.dumps(msg).encode()
        data = comp.compress(raw) + comp.flush(zlib.Z_SYNC_FLUSH)
        s.sendall(frame(data[:-4], True))
time.sleep(2.0)
for s in socks: drain(s)
time.sleep(0.5)
after = rss()
print(f"after one join + one message each: {(after - base) / n:.1f} KiB per connection ({after} KiB)", flush=True)
