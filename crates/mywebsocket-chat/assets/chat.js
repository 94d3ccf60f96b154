// The MyWebsocket chat page: the chat's JSON protocol (mywebsocket_chat::protocol) over the
// browser's WebSocket.
//
// Nodes: `?nodes=ws://a/ws,ws://b/ws` lists the nodes to try, in turn, when a connection fails
// or drops; by default the page's own origin. Every time a connection is up again, each room is
// re-joined with `since` = the id of the last message seen there, so the node replays exactly
// what was missed (or says, with a `gap`, that history no longer reaches back that far).
//
// User text only ever reaches the page through textContent, never parsed as HTML.
"use strict";

(() => {
  const BACKOFF_FIRST_MS = 250;
  const BACKOFF_MAX_MS = 10000;
  const CONNECT_TIMEOUT_MS = 5000;
  const LARGE_ROOM_REFRESH_MS = 15000;
  // A shared file is a chat message: this prefix, then {"name", "size", "url"} as JSON.
  const FILE_PREFIX = "\u{1F4CE} ";

  const $ = (id) => document.getElementById(id);

  /** The WebSocket URLs to try, from `?nodes=` or the page's origin. */
  function nodeUrls() {
    const param = new URLSearchParams(location.search).get("nodes");
    const urls = (param || "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => /^wss?:\/\//.test(s));
    if (urls.length > 0) return urls;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return [`${scheme}//${location.host}/ws`];
  }

  /** Stream ids are "ms-seq"; compares them as numbers (they outgrow string order). */
  function compareIds(a, b) {
    const [am, as] = a.split("-").map(Number);
    const [bm, bs] = b.split("-").map(Number);
    return am !== bm ? am - bm : as - bs;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function timeOf(id) {
    const ms = Number(id.split("-")[0]);
    if (!Number.isFinite(ms) || ms <= 0) return "";
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  const state = {
    urls: nodeUrls(),
    urlIndex: 0,
    ws: null,
    connected: false, // a `hello` arrived on the current socket
    attempt: 0, // failed connections in a row, for the backoff
    retryTimer: null,
    nick: "",
    myConns: new Set(), // every connection id this page has had: its own messages
    rooms: new Map(), // name -> room state, in the order joined
    active: null,
  };

  // --- connection ---------------------------------------------------------------------------

  function setStatus(kind, text) {
    const status = $("status");
    status.dataset.state = kind;
    $("status-text").textContent = text;
    // Rooms can be added while offline (they are joined once connected); sending cannot.
    $("send").disabled = kind !== "connected";
  }

  function connect() {
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    const url = state.urls[state.urlIndex % state.urls.length];
    setStatus("connecting", `connecting to ${url}…`);
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      scheduleReconnect(`bad node URL ${url}`);
      return;
    }
    state.ws = ws;
    const timeout = setTimeout(() => ws.close(), CONNECT_TIMEOUT_MS);
    ws.onopen = () => clearTimeout(timeout);
    ws.onmessage = (event) => {
      if (ws !== state.ws) return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (e) {
        console.warn("not JSON from the node", event.data);
        return;
      }
      handle(msg);
    };
    ws.onclose = () => {
      clearTimeout(timeout);
      if (ws !== state.ws) return;
      state.ws = null;
      const was = state.connected;
      state.connected = false;
      for (const room of state.rooms.values()) {
        room.joined = false;
        room.members.clear();
      }
      renderPresence();
      renderRooms();
      // The node may be gone: the next attempt goes to the next node in the list.
      state.urlIndex = (state.urlIndex + 1) % state.urls.length;
      scheduleReconnect(was ? "connection lost" : `cannot reach ${url}`);
    };
  }

  function scheduleReconnect(why) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** state.attempt);
    // Jitter, so that the clients of a dead node do not all hit the next one at once.
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    state.attempt += 1;
    const until = Date.now() + delay;
    const tick = () => {
      const left = Math.max(0, until - Date.now());
      setStatus("offline", `${why}; retrying in ${(left / 1000).toFixed(1)} s`);
      if (left === 0) connect();
      else state.retryTimer = setTimeout(tick, Math.min(left, 100));
    };
    tick();
  }

  function send(msg) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(msg));
    return true;
  }

  function sendJoin(room) {
    const msg = { type: "join", room: room.name, nick: state.nick };
    if (room.lastId) msg.since = room.lastId;
    room.rejoining = room.everJoined;
    send(msg);
  }

  // --- protocol -----------------------------------------------------------------------------

  function handle(msg) {
    switch (msg.type) {
      case "hello":
        state.connected = true;
        state.attempt = 0;
        state.myConns.add(msg.conn);
        $("node").textContent = msg.node;
        $("node").title = `connection ${msg.conn} on ${state.ws ? state.ws.url : ""}`;
        setStatus("connected", "connected");
        for (const room of state.rooms.values()) sendJoin(room);
        break;
      case "message":
        onMessage(msg);
        break;
      case "joined": {
        const room = state.rooms.get(msg.room);
        if (!room) break;
        room.joined = true;
        setMembers(room, msg);
        if (room.rejoining) {
          const n = msg.replayed;
          notice(room, msg.gap ? "warn" : "info",
            n === 0 ? "Reconnected: you missed nothing."
              : `Reconnected: ${n} message${n === 1 ? "" : "s"} you missed, shown above.`);
        }
        room.everJoined = true;
        room.rejoining = false;
        renderRooms();
        if (room === state.rooms.get(state.active)) renderPresence();
        break;
      }
      case "gap": {
        const room = state.rooms.get(msg.room);
        if (!room) break;
        notice(room, "warn",
          "Some messages were lost: history no longer reaches back to the last one you saw.");
        break;
      }
      case "presence": {
        const room = state.rooms.get(msg.room);
        if (!room) break;
        setMembers(room, msg);
        if (room.name === state.active) renderPresence();
        break;
      }
      case "presence_join":
      case "presence_leave": {
        const room = state.rooms.get(msg.room);
        if (!room || !msg.member) break;
        if (msg.type === "presence_join") {
          if (!room.members.has(msg.member.conn)) room.count += 1;
          room.members.set(msg.member.conn, msg.member);
        } else {
          room.members.delete(msg.member.conn);
          room.count = Math.max(room.members.size, room.count - 1);
        }
        if (room.name === state.active) renderPresence();
        break;
      }
      case "left":
        break;
      case "error":
        banner(`The node said: ${msg.message}`);
        break;
      default:
        console.warn("unknown message from the node", msg);
    }
  }

  function onMessage(msg) {
    const room = state.rooms.get(msg.room);
    if (!room || typeof msg.id !== "string") return;
    // The node replays from `since` exclusive and then goes live, each once; this guard only
    // keeps a repeated delivery (a bug elsewhere) from being shown twice.
    if (room.lastId && compareIds(msg.id, room.lastId) <= 0) {
      console.warn("duplicate message ignored", msg.room, msg.id);
      // Counted where tests (and curious people) can see it.
      const root = document.documentElement;
      root.dataset.duplicates = String(Number(root.dataset.duplicates || 0) + 1);
      return;
    }
    room.lastId = msg.id;
    const mine = state.myConns.has(msg.conn);
    const item = el("div", mine ? "msg mine" : "msg");
    item.dataset.id = msg.id;
    const head = el("div", "meta");
    head.append(el("span", "from", msg.from || "anonymous"), el("time", "at", timeOf(msg.id)));
    const shared = sharedFile(msg.text);
    item.append(head, shared ? fileLink(shared) : el("div", "text", msg.text));
    append(room, item);
    if (room.name !== state.active) {
      room.unread += 1;
      renderRooms();
    }
  }

  // --- files -------------------------------------------------------------------------------

  /** A shared file's {name, size, url} from a message's text, if it is one and its link
   *  points at a node's download path (anything else is shown as the text it is). */
  function sharedFile(text) {
    if (typeof text !== "string" || !text.startsWith(FILE_PREFIX)) return null;
    let file;
    try {
      file = JSON.parse(text.slice(FILE_PREFIX.length));
    } catch (e) {
      return null;
    }
    if (!file || typeof file.name !== "string" || !Number.isSafeInteger(file.size)) return null;
    let url;
    try {
      url = new URL(file.url);
    } catch (e) {
      return null;
    }
    if (!/^https?:$/.test(url.protocol) || !/^\/files\/[0-9a-f]{32}$/.test(url.pathname)) return null;
    return { name: file.name, size: file.size, url: url.href };
  }

  function formatSize(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KiB`;
    return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  }

  function fileLink(file) {
    const box = el("div", "text file");
    const link = el("a", "", `\u{1F4CE} ${file.name}`);
    link.href = file.url;
    link.download = file.name;
    link.rel = "noopener";
    box.append(link, el("span", "size", formatSize(file.size)));
    return box;
  }

  /** The node's file endpoint and its HTTP origin, from the chat socket's URL. */
  function fileEndpoints() {
    const wsUrl = (state.ws && state.ws.url) || state.urls[state.urlIndex % state.urls.length];
    const url = new URL(wsUrl);
    url.pathname = "/files";
    url.search = "";
    const http = new URL(url.href.replace(/^ws/, "http"));
    return { upload: url.href, origin: http.origin };
  }

  /** Uploads `file` with a progress row, then posts its download link in `room`. */
  function shareFile(file, room) {
    const { upload, origin } = fileEndpoints();
    const row = el("div", "upload");
    const bar = document.createElement("progress");
    bar.max = Math.max(1, file.size);
    bar.value = 0;
    const status = el("span", "state", "checking…");
    const stop = el("button", "dismiss", "×");
    stop.type = "button";
    stop.title = "Cancel";
    row.append(el("span", "name", file.name), bar, status, stop);
    $("uploads").append(row);
    // The upload goes to the node this page is on now and stays there across reconnections,
    // since that node keeps what it received (files.js).
    const job = window.chatFiles.upload(upload, file, (phase, done, total, info) => {
      bar.value = done;
      const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
      row.classList.toggle("reconnecting", phase === "reconnecting");
      if (phase === "reconnecting") {
        status.textContent = `reconnecting… (${info.attempt}/${info.attempts})`;
        status.title = info.why;
      } else {
        status.textContent = phase === "hash" ? `checking ${pct}%` : `${pct}%`;
        status.title = "";
      }
    });
    stop.onclick = () => job.cancel();
    job.promise.then((stored) => {
      row.classList.add("done");
      status.textContent = "shared";
      const text = FILE_PREFIX + JSON.stringify({
        name: file.name, size: file.size, url: `${origin}${stored.path}`,
      });
      if (!send({ type: "publish", room: room.name, text })) {
        banner(`${file.name} was uploaded but the chat is offline: not posted.`);
      }
      setTimeout(() => row.remove(), 3000);
    }, (e) => {
      row.classList.remove("reconnecting");
      row.classList.add("failed");
      status.textContent = `failed: ${e.message}`;
      stop.onclick = () => row.remove();
    });
  }

  function notice(room, level, text) {
    append(room, el("div", `notice ${level}`, text));
  }

  function append(room, node) {
    const list = room.list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(node);
    if (atBottom || node.classList.contains("mine")) list.scrollTop = list.scrollHeight;
  }

  function banner(text) {
    const box = $("notices");
    const line = el("div", "banner", text);
    const close = el("button", "dismiss", "×");
    close.type = "button";
    close.title = "Dismiss";
    close.onclick = () => line.remove();
    line.append(close);
    box.append(line);
    setTimeout(() => line.remove(), 8000);
  }

  // --- rooms --------------------------------------------------------------------------------

  function addRoom(name) {
    name = name.trim();
    if (!name) return;
    if (!state.rooms.has(name)) {
      const list = el("div", "list");
      list.dataset.room = name;
      list.setAttribute("role", "log");
      $("messages").append(list);
      const room = {
        name, list, lastId: null, members: new Map(), count: 0, joined: false, everJoined: false,
        rejoining: false, unread: 0,
      };
      state.rooms.set(name, room);
      if (state.connected) sendJoin(room);
    }
    activate(name);
  }

  function leaveRoom(name) {
    const room = state.rooms.get(name);
    if (!room) return;
    send({ type: "leave", room: name });
    room.list.remove();
    state.rooms.delete(name);
    if (state.active === name) {
      const next = state.rooms.keys().next();
      state.active = null;
      if (!next.done) activate(next.value);
    }
    renderRooms();
    renderPresence();
  }

  function activate(name) {
    state.active = name;
    for (const room of state.rooms.values()) {
      room.list.hidden = room.name !== name;
      if (room.name === name) {
        room.unread = 0;
        room.list.scrollTop = room.list.scrollHeight;
      }
    }
    renderRooms();
    renderPresence();
    $("text").focus();
  }

  function renderRooms() {
    const ul = $("room-list");
    ul.replaceChildren();
    for (const room of state.rooms.values()) {
      const li = el("li", room.name === state.active ? "active" : "");
      li.dataset.room = room.name;
      const open = el("button", "open", room.name);
      open.type = "button";
      open.onclick = () => activate(room.name);
      if (!room.joined) open.classList.add("pending");
      if (room.unread > 0) open.append(el("span", "unread", String(room.unread)));
      const leave = el("button", "leave", "×");
      leave.type = "button";
      leave.title = `Leave ${room.name}`;
      leave.setAttribute("aria-label", `Leave ${room.name}`);
      leave.onclick = () => leaveRoom(room.name);
      li.append(open, leave);
      ul.append(li);
    }
  }

  // A large room's list is a page of its members and gets no join or leave events (the
  // node's presence limit): the count is what the node said, refreshed while the room is open.
  function setMembers(room, msg) {
    room.members.clear();
    for (const m of msg.members || []) room.members.set(m.conn, m);
    room.count = typeof msg.count === "number" ? msg.count : room.members.size;
  }

  setInterval(() => {
    const room = state.rooms.get(state.active);
    if (room && room.joined && room.count > room.members.size) {
      send({ type: "presence", room: room.name });
    }
  }, LARGE_ROOM_REFRESH_MS);

  function renderPresence() {
    const ul = $("presence");
    ul.replaceChildren();
    const room = state.rooms.get(state.active);
    const members = room ? [...room.members.values()] : [];
    const nick = (m) => (m.meta && typeof m.meta.nick === "string" && m.meta.nick) || "anonymous";
    members.sort((a, b) => nick(a).localeCompare(nick(b)) || a.conn.localeCompare(b.conn));
    for (const m of members) {
      const li = el("li", state.myConns.has(m.conn) ? "member me" : "member");
      li.dataset.conn = m.conn;
      li.title = `connection ${m.conn} on node ${m.node}`;
      li.append(el("span", "nick", nick(m)), el("span", "on", m.node.slice(0, 8)));
      ul.append(li);
    }
    const more = room ? room.count - members.length : 0;
    if (more > 0) ul.append(el("li", "member more", `and ${more} more`));
    $("presence-count").textContent = String(room ? room.count : 0);
  }

  // --- forms --------------------------------------------------------------------------------

  function start() {
    const saved = localStorage.getItem("mywebsocket-chat.nick");
    if (saved) $("nick").value = saved;

    $("welcome-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const nick = $("nick").value.trim();
      const room = $("first-room").value.trim();
      if (!nick || !room) return;
      state.nick = nick;
      localStorage.setItem("mywebsocket-chat.nick", nick);
      $("me-nick").textContent = nick;
      $("me").hidden = false;
      $("welcome").hidden = true;
      $("chat").hidden = false;
      addRoom(room);
    });

    $("join-form").addEventListener("submit", (event) => {
      event.preventDefault();
      addRoom($("join-room").value);
      $("join-room").value = "";
    });

    $("send-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("text");
      const text = input.value;
      const room = state.rooms.get(state.active);
      if (!text.trim() || !room) return;
      if (!room.joined) {
        banner(`Not in ${room.name} yet: your text is kept until the page is connected.`);
        return;
      }
      // The text is cleared only once handed to an open socket, so nothing typed is lost.
      if (send({ type: "publish", room: room.name, text })) input.value = "";
    });

    $("attach").addEventListener("click", () => $("file").click());
    $("file").addEventListener("change", () => {
      const input = $("file");
      const room = state.rooms.get(state.active);
      for (const file of input.files) {
        if (room && room.joined) shareFile(file, room);
        else banner(`Not in a room yet: ${file.name} was not shared.`);
      }
      input.value = "";
    });

    $("status").addEventListener("click", () => {
      if (!state.ws) {
        state.attempt = 0;
        connect();
      }
    });

    connect();
  }

  start();
})();
