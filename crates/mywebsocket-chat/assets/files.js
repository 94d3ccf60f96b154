// File sharing for the chat page: uploads a File to the node over the file-transfer protocol
// (docs/file-transfer.md, "ft" version 1) on its own WebSocket at `/files`, read slice by slice
// (never whole in memory), hashed with an incremental SHA-256, sent within the node's
// flow-control window. An upload whose connection is lost resumes by itself on a new one,
// sending only the bytes the node does not have yet (see `upload`). Exposes
// `window.chatFiles = { upload, Sha256, recent }`.
"use strict";

(() => {
  const HASH_SLICE = 1 << 20;
  // Chunks wait while the browser holds more than this, so memory stays bounded.
  const MAX_BUFFERED = 4 << 20;
  const MAGIC = [0xf7, 0x46, 0x54, 0x01];
  // How long the page waits for the node when it expects an answer: the `accept` (or
  // `reject`) of an offer, counted from opening the connection; an `ack` while bytes are in
  // flight; `done` and the download link after the last byte. Longer than the 10 s the chat
  // may hold back the `accept` of a resume while the lost connection still holds the part
  // file (spec, appendix), and far longer than the node's acks take (one every window/4 =
  // 512 KiB, so a link sending under 17 KiB/s would look dead: the timer is re-armed while
  // the browser's send buffer still drains). On expiry the connection counts as lost: the
  // page closes it and resumes on a new one. It sends no `cancel{timeout}` first (spec §5's
  // answer timeout, 60 s by default in the libraries, which ends the transfer): a cancel makes
  // the node delete the part file, a closed connection makes it keep it, and a silent node is
  // more likely a dead connection than a live one. Hence also the shorter time: a reconnection
  // costs one offer, not the bytes already sent.
  const ANSWER_TIMEOUT_MS = 30000;
  // Reconnections in a row without progress before the upload fails: with `retryDelay`, about
  // 40 s of a node being unreachable (a node restart, a network change).
  const MAX_ATTEMPTS = 8;

  /** The wait before reconnection `attempt` (1-based): 0.5 s doubling to 8 s, ±25% jitter so
   *  the uploads of many pages do not come back at the same instant. */
  function retryDelay(attempt) {
    const base = Math.min(8000, 500 * 2 ** (attempt - 1));
    return Math.round(base * (0.75 + Math.random() / 2));
  }

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

  /** What the page says for each reason code of a `reject` or `cancel` (spec §7). */
  const REASONS = {
    too_large: "the file is larger than the node accepts",
    bad_name: "the node does not accept this file name",
    policy: "the node declined the file",
    busy: "the node is busy",
    duplicate_id: "the node already runs an upload with this id",
    bad_offer: "the node found the offer malformed",
    bad_chunk: "the node received a malformed chunk",
    checksum_mismatch: "the bytes the node received do not match the file's SHA-256 (did the file change during the upload?)",
    io: "the node could not write the file",
    cancelled: "the node cancelled the upload",
    protocol: "the node reported a protocol error",
    timeout: "the transfer timed out",
  };

  function refusal(msg) {
    const reason = typeof msg.reason === "string" ? msg.reason : "";
    const text = REASONS[reason] || `refused by the node (${reason || "no reason given"})`;
    return typeof msg.message === "string" && msg.message ? `${text}: ${msg.message}` : text;
  }

  function isOffset(n) {
    return Number.isSafeInteger(n) && n >= 0;
  }

  /** The figures of the last uploads (at most `RECENT` of them), for diagnostics and the
   *  browser test: connections opened, each accepted connection's `accept` offset and bytes
   *  of file data handed to its socket, the bytes in all, the outcome. */
  const RECENT = 16;
  const recent = [];

  /**
   * Uploads `file` to the node's `/files` WebSocket at `url`. Resolves with the node's answer
   * (`{ id, path }`, the download path on that node) once the node verified and stored it.
   * `onProgress(phase, done, total, info)`: phase "hash" (bytes hashed), "send" (bytes the node
   * acknowledged), or "reconnecting" (`info`: `{ attempt, attempts, why }`) while a lost
   * connection waits for its next attempt and until the new connection's `accept`.
   * Returns `{ promise, cancel, stats }`.
   *
   * A lost connection (closed, failed, the node restarted, or silent for `ANSWER_TIMEOUT_MS`)
   * is retried by itself on a new connection to the same URL after `retryDelay(attempt)`,
   * at most `MAX_ATTEMPTS` times in a row without progress (an `ack` that moves forward
   * starts the count over), and a node that answers `busy` the same way. Each attempt offers
   * the same id, name, size, type and SHA-256 (hashed once), so the node continues from the
   * bytes it kept (spec §6; the chat keeps them `--files-partial-ttl-secs`, 600 s by default):
   * its `accept` says from where, and only the bytes from there on are read (File.slice) and
   * sent. Any other `reject`, a `cancel` from the node, or `cancel()` ends it for good.
   */
  function upload(url, file, onProgress) {
    const stats = {
      name: file.name, size: file.size, sha256: null, connections: 0, offsets: [],
      sentFrom: [], window: 0, sent: 0, outcome: null,
    };
    recent.push(stats);
    if (recent.length > RECENT) recent.shift();
    let cancelled = false;
    let settled = false;
    let conn = null; // the current connection's state; events of older ones are ignored
    let id = null;
    let idBytes = null;
    let offer = null;
    let acked = 0; // the latest acknowledged offset, shown as progress
    let attempts = 0; // reconnections in a row without progress
    let retryTimer = null;
    let finish = () => {};

    const promise = new Promise((resolve, reject) => {
      finish = (error, value) => {
        if (settled) return;
        settled = true;
        clearTimeout(retryTimer);
        if (conn) drop(conn);
        conn = null;
        stats.outcome = error ? error.message : "stored";
        if (error) reject(error);
        else resolve(value);
      };
      hashFile(file, (done) => onProgress("hash", done, file.size), () => cancelled).then((sha256) => {
        if (cancelled) return finish(new Error("cancelled"));
        idBytes = new Uint8Array(16);
        crypto.getRandomValues(idBytes);
        id = hex(idBytes);
        stats.sha256 = sha256;
        offer = JSON.stringify({
          ft: "offer", id, name: file.name, size: file.size, type: file.type || "", sha256,
        });
        connect();
      }, (e) => finish(new Error(e.message)));
    });

    /** Closes `c` and silences its events. */
    function drop(c) {
      clearTimeout(c.timer);
      c.timer = null;
      c.ws.onopen = c.ws.onmessage = c.ws.onclose = c.ws.onerror = null;
      if (c.ws.readyState === WebSocket.CONNECTING || c.ws.readyState === WebSocket.OPEN) c.ws.close();
    }

    function connect() {
      if (settled) return;
      stats.connections += 1;
      let ws;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        // A malformed URL, or ws:// from an https:// page: no retry can help.
        return finish(new Error(`cannot connect to ${url}: ${e.message}`));
      }
      ws.binaryType = "arraybuffer";
      const c = {
        ws, accepted: false, done: false, next: 0, acked: 0, window: 0, maxChunk: 0,
        pumping: false, timer: null, buffered: 0,
      };
      conn = c;
      ws.onopen = () => ws.send(offer);
      ws.onmessage = (event) => onMessage(c, event.data);
      ws.onclose = () => lost(c, "the connection to the node was lost");
      // Browsers follow an error with a close; some WebSocket implementations (Node's) do not.
      ws.onerror = () => lost(c, "the connection to the node failed");
      watch(c);
    }

    /** Whether the page waits for the node on `c`: for the answer to its offer, an ack for
     *  bytes in flight, or `done` and the download link after the last byte. */
    function awaiting(c) {
      return !c.accepted || c.next > c.acked || c.next === file.size;
    }

    /** Arms `c`'s answer timer when the page waits for the node and it is not running,
     *  stops it when the page waits for nothing. */
    function watch(c) {
      if (!awaiting(c)) {
        clearTimeout(c.timer);
        c.timer = null;
        return;
      }
      if (c.timer) return;
      c.buffered = c.ws.bufferedAmount;
      c.timer = setTimeout(() => {
        c.timer = null;
        // Bytes still leave the browser: a slow link, not a dead one.
        if (c.ws.readyState === WebSocket.OPEN && c.ws.bufferedAmount < c.buffered) return watch(c);
        lost(c, `no answer from the node in ${ANSWER_TIMEOUT_MS / 1000} s`);
      }, ANSWER_TIMEOUT_MS);
    }

    /** `c` is lost (`why`): a new connection after the backoff, or the end. */
    function lost(c, why) {
      if (settled || conn !== c) return;
      drop(c);
      conn = null;
      attempts += 1;
      if (attempts > MAX_ATTEMPTS) {
        return finish(new Error(`${why}; gave up after ${MAX_ATTEMPTS} attempts to reconnect`));
      }
      onProgress("reconnecting", acked, file.size, { attempt: attempts, attempts: MAX_ATTEMPTS, why });
      retryTimer = setTimeout(connect, retryDelay(attempts));
    }

    /** The node broke the protocol on `c` (`what`): tell it (spec §4.2) and give up. */
    function broken(c, what) {
      if (c.ws.readyState === WebSocket.OPEN) {
        c.ws.send(JSON.stringify({ ft: "cancel", id, reason: "protocol", message: what }));
      }
      finish(new Error(`the node broke the file-transfer protocol: ${what}`));
    }

    function onMessage(c, data) {
      if (settled || conn !== c || typeof data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(data);
      } catch (e) {
        return;
      }
      if (!msg || typeof msg !== "object") return;
      // The chat's download link follows `done` (spec, appendix).
      if (msg.type === "file" && msg.transfer === id) {
        return finish(null, { id: msg.id, path: msg.path });
      }
      if (msg.id !== id) return;
      // Every answer restarts the timer.
      clearTimeout(c.timer);
      c.timer = null;
      switch (msg.ft) {
        case "accept":
          if (c.accepted) return broken(c, "a second accept");
          if (!isOffset(msg.offset) || msg.offset > file.size || !Number.isSafeInteger(msg.window)
            || msg.window < 1 || !Number.isSafeInteger(msg.max_chunk) || msg.max_chunk < 1) {
            return broken(c, "a malformed accept");
          }
          c.accepted = true;
          c.next = c.acked = msg.offset;
          c.window = msg.window;
          c.maxChunk = msg.max_chunk;
          stats.offsets.push(msg.offset);
          stats.sentFrom.push(0);
          stats.window = msg.window;
          acked = msg.offset;
          onProgress("send", acked, file.size);
          pump(c);
          break;
        case "ack":
          if (!c.accepted || !isOffset(msg.offset) || msg.offset < c.acked || msg.offset > c.next) {
            return broken(c, `an ack at ${msg.offset} with bytes ${c.acked}..${c.next} in flight`);
          }
          if (msg.offset > c.acked) attempts = 0; // progress: the reconnection budget starts over
          c.acked = acked = msg.offset;
          onProgress("send", acked, file.size);
          pump(c);
          break;
        case "done":
          if (!c.accepted || c.next < file.size) return broken(c, "done before the last byte");
          c.done = true;
          c.acked = acked = file.size;
          onProgress("send", file.size, file.size);
          break; // the node's `file` message follows
        case "reject":
          if (c.accepted) return broken(c, "a reject after the accept");
          // Spec §7: offer it again a little later, under the same id.
          if (msg.reason === "busy") return lost(c, refusal(msg));
          return finish(new Error(refusal(msg)));
        case "cancel":
          return finish(new Error(refusal(msg)));
        default:
          break; // a later version's message
      }
      watch(c);
    }

    /** Sends chunks on `c` while the window allows, reading the file from `c.next`. */
    async function pump(c) {
      if (c.pumping || !c.accepted || settled || conn !== c) return;
      c.pumping = true;
      try {
        while (!settled && conn === c && c.next < file.size && c.next - c.acked < c.window) {
          if (c.ws.bufferedAmount > MAX_BUFFERED) {
            setTimeout(() => pump(c), 10);
            return;
          }
          const next = c.next;
          const len = Math.min(c.maxChunk, file.size - next, c.window - (next - c.acked));
          const data = await readSlice(file, next, next + len);
          if (settled || conn !== c || c.ws.readyState !== WebSocket.OPEN) return;
          const message = new Uint8Array(28 + len);
          message.set(MAGIC, 0);
          message.set(idBytes, 4);
          const view = new DataView(message.buffer);
          view.setUint32(20, Math.floor(next / 0x100000000));
          view.setUint32(24, next >>> 0);
          message.set(data, 28);
          c.ws.send(message);
          c.next = next + len;
          stats.sent += len;
          stats.sentFrom[stats.sentFrom.length - 1] += len;
          watch(c);
        }
      } catch (e) {
        finish(new Error(`cannot read the file: ${e.message}`));
      } finally {
        c.pumping = false;
      }
    }

    const cancel = () => {
      if (settled) return;
      cancelled = true;
      // Final (spec §4): the node deletes what it kept of this upload. Sent also before the
      // `accept`, which may be on its way; a node that runs no such transfer ignores it.
      // Cancelled while no connection is open, the node drops the part file when it expires.
      if (conn && conn.ws.readyState === WebSocket.OPEN) {
        conn.ws.send(JSON.stringify({ ft: "cancel", id, reason: "cancelled", message: "cancelled by the user" }));
      }
      finish(new Error("cancelled"));
    };
    return { promise, cancel, stats };
  }

  window.chatFiles = { upload, Sha256, recent };
})();
