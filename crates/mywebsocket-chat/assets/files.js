// File sharing for the chat page: uploads a File to the node over the file-transfer protocol
// (docs/file-transfer.md, "ft" version 1) on its own WebSocket at `/files`, read slice by slice
// (never whole in memory), hashed with an incremental SHA-256, sent within the node's
// flow-control window. Exposes `window.chatFiles = { upload, Sha256 }`.
"use strict";

(() => {
  const HASH_SLICE = 1 << 20;
  // Chunks wait while the browser holds more than this, so memory stays bounded.
  const MAX_BUFFERED = 4 << 20;
  const MAGIC = [0xf7, 0x46, 0x54, 0x01];

  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);

  /** SHA-256, fed piece by piece (Web Crypto only hashes a whole buffer at once). */
  class Sha256 {
    constructor() {
      this.h = new Uint32Array([
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
      ]);
      this.buf = new Uint8Array(64);
      this.bufLen = 0;
      this.len = 0;
      this.w = new Int32Array(64);
    }

    update(data) {
      let i = 0;
      this.len += data.length;
      if (this.bufLen > 0) {
        const n = Math.min(64 - this.bufLen, data.length);
        this.buf.set(data.subarray(0, n), this.bufLen);
        this.bufLen += n;
        i = n;
        if (this.bufLen < 64) return this;
        this.block(this.buf, 0);
        this.bufLen = 0;
      }
      for (; i + 64 <= data.length; i += 64) this.block(data, i);
      if (i < data.length) {
        this.buf.set(data.subarray(i), 0);
        this.bufLen = data.length - i;
      }
      return this;
    }

    block(d, o) {
      const w = this.w;
      for (let t = 0; t < 16; t++) {
        const p = o + 4 * t;
        w[t] = (d[p] << 24) | (d[p + 1] << 16) | (d[p + 2] << 8) | d[p + 3];
      }
      for (let t = 16; t < 64; t++) {
        const x = w[t - 15];
        const y = w[t - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      const h = this.h;
      let a = h[0] | 0, b = h[1] | 0, c = h[2] | 0, dd = h[3] | 0;
      let e = h[4] | 0, f = h[5] | 0, g = h[6] | 0, hh = h[7] | 0;
      for (let t = 0; t < 64; t++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const ch = (e & f) ^ (~e & g);
        const t1 = (hh + S1 + ch + K[t] + w[t]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const maj = (a & b) ^ (a & c) ^ (b & c);
        const t2 = (S0 + maj) | 0;
        hh = g; g = f; f = e; e = (dd + t1) | 0; dd = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] += a; h[1] += b; h[2] += c; h[3] += dd; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
    }

    /** The digest as 64 lowercase hex digits; the object is used up. */
    hex() {
      const len = this.len;
      const padLen = (this.bufLen < 56 ? 56 : 120) - this.bufLen;
      const pad = new Uint8Array(padLen + 8);
      pad[0] = 0x80;
      const view = new DataView(pad.buffer);
      view.setUint32(padLen, Math.floor(len / 0x20000000)); // the bit length's high word
      view.setUint32(padLen + 4, (len % 0x20000000) * 8);
      this.update(pad);
      return Array.from(this.h, (x) => x.toString(16).padStart(8, "0")).join("");
    }
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function readSlice(file, start, end) {
    return new Uint8Array(await file.slice(start, end).arrayBuffer());
  }

  /** The SHA-256 of `file`, read a MiB at a time; `onProgress(bytesHashed)`. */
  async function hashFile(file, onProgress, isCancelled) {
    const hasher = new Sha256();
    for (let off = 0; off < file.size; off += HASH_SLICE) {
      if (isCancelled()) throw new Error("cancelled");
      hasher.update(await readSlice(file, off, Math.min(file.size, off + HASH_SLICE)));
      onProgress(Math.min(file.size, off + HASH_SLICE));
    }
    return hasher.hex();
  }

  /**
   * Uploads `file` to the node's `/files` WebSocket at `url`. Resolves with the node's answer
   * (`{ id, path }`, the download path on that node) once the node verified and stored it.
   * `onProgress(phase, done, total)` with phase "hash" then "send" (bytes acknowledged).
   * Returns `{ promise, cancel }`.
   */
  function upload(url, file, onProgress) {
    let cancelled = false;
    let ws = null;
    let id = null;
    let fail = () => {};
    const promise = new Promise((resolve, reject) => {
      let settled = false;
      fail = (why) => {
        if (settled) return;
        settled = true;
        if (ws && id && ws.readyState === WebSocket.OPEN) {
          ws.send(JSON.stringify({ ft: "cancel", id, reason: "cancelled", message: why }));
        }
        if (ws) ws.close();
        reject(new Error(why));
      };
      const succeed = (value) => {
        if (settled) return;
        settled = true;
        ws.close();
        resolve(value);
      };
      hashFile(file, (done) => onProgress("hash", done, file.size), () => cancelled).then((sha256) => {
        if (cancelled) return fail("cancelled");
        const idBytes = new Uint8Array(16);
        crypto.getRandomValues(idBytes);
        id = hex(idBytes);
        ws = new WebSocket(url);
        ws.binaryType = "arraybuffer";
        let next = 0, acked = 0, windowSize = 0, maxChunk = 0, accepted = false, pumping = false;
        const pump = async () => {
          if (pumping || !accepted || settled) return;
          pumping = true;
          try {
            while (!settled && next < file.size && next - acked < windowSize) {
              if (ws.bufferedAmount > MAX_BUFFERED) {
                setTimeout(pump, 10);
                return;
              }
              const len = Math.min(maxChunk, file.size - next, windowSize - (next - acked));
              const data = await readSlice(file, next, next + len);
              const message = new Uint8Array(28 + len);
              message.set(MAGIC, 0);
              message.set(idBytes, 4);
              const view = new DataView(message.buffer);
              view.setUint32(20, Math.floor(next / 0x100000000));
              view.setUint32(24, next >>> 0);
              message.set(data, 28);
              if (ws.readyState !== WebSocket.OPEN) return;
              ws.send(message);
              next += len;
            }
          } catch (e) {
            fail(`cannot read the file: ${e.message}`);
          } finally {
            pumping = false;
          }
        };
        ws.onopen = () => {
          ws.send(JSON.stringify({
            ft: "offer", id, name: file.name, size: file.size, type: file.type || "", sha256,
          }));
        };
        ws.onmessage = (event) => {
          if (typeof event.data !== "string") return;
          let msg;
          try {
            msg = JSON.parse(event.data);
          } catch (e) {
            return;
          }
          if (msg.type === "file" && msg.transfer === id) return succeed({ id: msg.id, path: msg.path });
          if (msg.id !== id) return;
          switch (msg.ft) {
            case "accept":
              accepted = true;
              next = acked = msg.offset;
              windowSize = Math.max(1, msg.window);
              maxChunk = Math.max(1, msg.max_chunk);
              pump();
              break;
            case "ack":
              acked = Math.max(acked, msg.offset);
              onProgress("send", acked, file.size);
              pump();
              break;
            case "done":
              onProgress("send", file.size, file.size);
              break; // the node's `file` message follows
            case "reject":
            case "cancel":
              settled = true;
              ws.close();
              reject(new Error(msg.message || msg.reason || "refused by the node"));
              break;
            default:
          }
        };
        ws.onclose = () => fail("the connection to the node was lost");
      }, (e) => fail(e.message));
    });
    const cancel = () => {
      cancelled = true;
      fail("cancelled");
    };
    return { promise, cancel };
  }

  window.chatFiles = { upload, Sha256 };
})();
