#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/: small valid inputs of each shape, so the
fuzzer starts from the interesting paths rather than from random bytes. Re-run after changing a
target's input format; the files are committed."""

import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = b"\x37\xfa\x21\x3d"


def frame(opcode, payload, fin=True, rsv1=False, mask=True):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    return head + KEY + bytes(c ^ KEY[i % 4] for i, c in enumerate(payload))


def deflate(messages, wbits=15, takeover=True):
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = []
    for m in messages:
        if not takeover:
            c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
        data = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


hello = b"Hello, WebSocket! " * 3
text = "h\u00e9llo w\u00f6rld \U0001f600".encode()

# decoder: [flags, chunk seed, wire...]; flags bit 0 = client role, bit 1 = deflate, bits 2-3 offer.
write("decoder", "server_text", bytes([0, 7]) + frame(1, hello))
write("decoder", "server_fragments_ping_close",
      bytes([0, 3]) + frame(1, text[:5], fin=False) + frame(9, b"ping") + frame(0, text[5:])
      + frame(8, struct.pack(">H", 1000) + b"bye"))
write("decoder", "server_binary_16bit_len", bytes([0, 11]) + frame(2, bytes(range(256)) * 2))
write("decoder", "client_unmasked", bytes([1, 5]) + frame(1, hello, mask=False)
      + frame(10, b"pong", mask=False) + frame(8, b"", mask=False))
write("decoder", "server_bad_utf8", bytes([0, 1]) + frame(1, b"ok \xff bad"))
write("decoder", "server_too_big", bytes([0, 9]) + frame(2, b"x" * 1500))
msgs = deflate([hello, hello, text])
write("decoder", "server_deflate", bytes([2, 13])
      + b"".join(frame(1, m, rsv1=True) for m in msgs))
half = len(msgs[0]) // 2
write("decoder", "server_deflate_fragments", bytes([2, 17]) + frame(1, msgs[0][:half], fin=False, rsv1=True)
      + frame(0, msgs[0][half:]))
m9 = deflate([hello, hello], wbits=9)
write("decoder", "client_deflate_9bits", bytes([1 | 2 | 8, 21])
      + b"".join(frame(2, m, rsv1=True, mask=False) for m in m9))

# handshake_request: raw request heads.
req = (b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
       b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
       b"Sec-WebSocket-Version: 13\r\n")
write("handshake_request", "rfc6455", req + b"\r\n")
write("handshake_request", "deflate", req + b"Sec-WebSocket-Extensions: permessage-deflate; "
      b"client_max_window_bits, permessage-deflate; server_max_window_bits=10\r\n\r\n")
write("handshake_request", "keep_alive_upgrade", req.replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade") + b"\r\n")
write("handshake_request", "bad_version", req.replace(b"Version: 13", b"Version: 8") + b"\r\n")
write("handshake_request", "post", req.replace(b"GET", b"POST") + b"\r\ncontent")

# handshake_response: raw response heads (accept value for the sample key).
resp = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n")
write("handshake_response", "rfc6455", resp + b"\r\n")
write("handshake_response", "protocol_deflate", resp + b"Sec-WebSocket-Protocol: chat\r\n"
      b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10\r\n\r\n")
write("handshake_response", "not_found", b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

# reassembly: [flags, len, payload]...; flags bit 0 FIN, bit 1 text, bit 2 ping first.
def frag(flags, payload):
    return bytes([flags, len(payload)]) + payload
write("reassembly", "text_in_three", frag(2, text[:3]) + frag(4, text[3:9]) + frag(1, text[9:]))
write("reassembly", "binary_then_text", frag(1, b"\x00\xff\xfe") + frag(3, b"plain"))
write("reassembly", "bad_utf8_split", frag(2, b"ok \xf0\x9f") + frag(1, b"\x98"))
write("reassembly", "empty_fragments", frag(2, b"") + frag(0, b"") + frag(1, b""))

# deflate: [flags, message (0xFF) message ...]; flags bits 0-1 offer, bits 4-7 level.
write("deflate", "takeover", bytes([0x60]) + b"\xff".join(deflate([b"Hello", b"Hello", text])))
write("deflate", "rfc7692_hello", bytes([1]) + bytes([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))
write("deflate", "bfinal_hello", bytes([0]) + bytes([0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]))
write("deflate", "bomb", bytes([0x90]) + deflate([bytes(200_000)])[0])
write("deflate", "window9", bytes([2]) + b"\xff".join(deflate([hello * 4, text], wbits=9)))
write("deflate", "plain_text", bytes([0x20]) + text + b" and more text, more text")

# h2_extended_connect: lines method, URI, version, :protocol ("!" = none), then header lines.
connect = b"CONNECT\nhttps://server.example.com/chat\nHTTP/2.0\nwebsocket\nsec-websocket-version: 13\n"
write("h2_extended_connect", "rfc8441", connect + b"origin: http://www.example.com\n")
write("h2_extended_connect", "protocol_deflate", connect + b"sec-websocket-protocol: other, chat\n"
      b"sec-websocket-protocol: superchat\n"
      b"sec-websocket-extensions: permessage-deflate; client_max_window_bits\n")
write("h2_extended_connect", "host_header_no_authority",
      b"CONNECT\n/chat\nHTTP/2.0\nWebSocket\nhost: example.com\nsec-websocket-version: 8, 13\n")
write("h2_extended_connect", "no_protocol", b"CONNECT\nhttp://h/\nHTTP/2.0\n!\nsec-websocket-version: 13\n")
write("h2_extended_connect", "get_http11", b"GET\nhttp://h/\nHTTP/1.1\nwebsocket\nsec-websocket-version: 13\n")
write("h2_extended_connect", "version_8", connect.replace(b"version: 13", b"version: 8"))
