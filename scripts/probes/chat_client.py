#!/usr/bin/env python3
# A well-behaved chat client: sends a presence request every 0.5 s for SECONDS and times each
# reply. Usage: echo_check.py HOST PORT PATH SECONDS
import socket, sys, time, os, base64
host, port, path, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
s = socket.create_connection((host, port))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
resp = b""
while b"\r\n\r\n" not in resp:
    resp += s.recv(4096)
print(resp.split(b"\r\n")[0].decode(), flush=True)
s.settimeout(5)
ok = 0; worst = 0
end = time.time() + secs
while time.time() < end:
    msg = b'{"type":"presence","room":"lobby"}'
    mask = os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(msg)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
    t = time.time()
    data = s.recv(65536)
    if not data:
        print("closed"); break
    worst = max(worst, time.time() - t); ok += 1
    time.sleep(0.5)
print(f"{ok} replies, worst {worst*1000:.1f} ms", flush=True)
