// The phone companion: acts for the room appliance that showed its QR code — raise or
// lower the room's hand, answer a poll, chat, download files; opened on a laptop in the
// room, it also shares the laptop's screen for the room (companion_share.js). It never
// holds the room's seat and stops working when the room leaves the meeting or its code
// expires. Files download through single-use tickets: the code goes in a header, never
// in a download link.
import { LaptopShare } from "./companion_share.js";
import { ticketLink } from "./download.js";

const TEXT = {
  tr: {
    hand_title: "Söz hakkı", hand_raise: "Söz Hakkı İste", hand_lower: "Elimi İndir",
    hand_up: (n) => `El kaldırıldı — sırada ${n}.`, hand_down: "El indirildi.",
    poll_title: "Anket", chat_title: "Sohbet", chat_label: "Herkese mesaj", send: "Gönder",
    files_title: "Dosyalar", no_files: "Henüz dosya yok.", connecting: "Bağlanıyor…",
    ready: (room) => `${room} adına`, save: "İndir",
    ended_title: "Bu bağlantı artık çalışmıyor",
    expired: "Bağlantının süresi doldu; odadaki kodu yeniden okutun.",
    room_left: "Oda toplantıdan ayrıldı; bu bağlantı artık çalışmıyor.",
    closed: "Bağlantı kesildi; odadaki kodu yeniden okutun.",
    failed: "Bu işlem yapılamadı; yeniden deneyin.",
    too_fast: "Çok hızlı; biraz bekleyip yeniden deneyin.",
    share_title: "Ekran paylaşımı", share_start: "Ekranımı Paylaş", share_stop: "Paylaşımı Durdur",
    share_on: (room) => `Bu bilgisayarın ekranı ${room} adına paylaşılıyor.`,
    share_off: (room) => `Bu bilgisayarın ekranını ${room} adına toplantıya gösterin.`,
    share_no_right: "Odanın sunum hakkı yok; öğretmenden isteyin.",
    share_busy: "Şu anda başka biri sunuyor; o bitirince yeniden deneyin.",
  },
  en: {
    hand_title: "Request to speak", hand_raise: "Raise hand", hand_lower: "Lower hand",
    hand_up: (n) => `Hand raised — number ${n} in the queue.`, hand_down: "Hand lowered.",
    poll_title: "Poll", chat_title: "Chat", chat_label: "Message to everyone", send: "Send",
    files_title: "Files", no_files: "No files yet.", connecting: "Connecting…",
    ready: (room) => `Acting for ${room}`, save: "Download",
    ended_title: "This link no longer works",
    expired: "This link has expired; scan the room's code again.",
    room_left: "The room has left the meeting; this link no longer works.",
    closed: "Disconnected; scan the room's code again.",
    failed: "That did not work; try again.",
    too_fast: "Too fast; wait a moment and try again.",
    share_title: "Screen sharing", share_start: "Share my screen", share_stop: "Stop sharing",
    share_on: (room) => `This computer's screen is shared for ${room}.`,
    share_off: (room) => `Show this computer's screen to the meeting for ${room}.`,
    share_no_right: "The room may not present; ask the teacher.",
    share_busy: "Someone else is presenting; try again when they finish.",
  },
};
// What ends the phone's session (the bridge's error codes and bye reasons) and what to say.
const ENDED = { bad_companion_code: "expired", companion_expired: "expired", not_joined: "expired",
  room_left: "room_left" };
const lang = navigator.language.toLowerCase().startsWith("tr") ? "tr" : "en";
const t = TEXT[lang];
document.documentElement.lang = lang;
const $ = (id) => document.getElementById(id);
const code = location.pathname.split("/").filter(Boolean).pop();
const state = { me: null, room: null, polls: new Map(), answers: new Map(), files: [], chat: [],
  ice: [], shareProblem: "" };
const pending = new Map();  // request id -> {resolve, reject}: the laptop share's requests
let nextId = 2;  // 1 is the join
let ws = null;
let keepalive = null;
let ended = false;

for (const el of document.querySelectorAll("[data-t]")) el.textContent = t[el.dataset.t];
$("status").textContent = t.connecting;

function send(msg) {
  if (!ended && ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

/** Send with an id; the bridge's reply resolves it, its error rejects with the code. */
function request(msg) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    if (ended) { reject(new Error("closed")); return; }
    pending.set(id, { resolve, reject });
    send({ ...msg, id });
  });
}

const share = new LaptopShare(request, send, () => renderShare());
window.salonShare = share;  // what tests read of the laptop's capture

/** The session is over: say why, and leave nothing on the page that looks usable. */
function end(why) {
  if (ended) return;
  ended = true;
  clearInterval(keepalive);
  share.stop({ tell: false });  // the room left: the laptop's share ends with it
  for (const { reject } of pending.values()) reject(new Error("closed"));
  pending.clear();
  $("main").hidden = true;
  $("status").textContent = "";
  $("ended-text").textContent = t[why] || t.closed;
  $("ended").hidden = false;
  if (ws && ws.readyState <= WebSocket.OPEN) ws.close();
}

function renderHand() {
  const pos = state.me ? state.me.hand_position : null;
  $("hand-state").textContent = pos ? t.hand_up(pos) : t.hand_down;
  $("hand").textContent = pos ? t.hand_lower : t.hand_raise;
  $("hand").setAttribute("aria-pressed", pos ? "true" : "false");
}

function renderShare() {
  const right = Boolean(state.me && state.me.present_right);
  $("share-section").hidden = !LaptopShare.possible() || !state.me || (!right && !share.active);
  if ($("share-section").hidden) return;
  const name = state.me.name;
  $("share-state").textContent = state.shareProblem || (share.active ? t.share_on(name) : t.share_off(name));
  $("share").textContent = share.active ? t.share_stop : t.share_start;
  $("share").setAttribute("aria-pressed", share.active ? "true" : "false");
}

async function toggleShare() {
  state.shareProblem = "";
  if (share.active) { share.stop(); return; }
  try {
    await share.start(state.ice);
  } catch (e) {
    const said = { presentation_busy: t.share_busy, no_present_right: t.share_no_right };
    if (e.message !== "cancelled" && e.message !== "closed") state.shareProblem = said[e.message] || t.failed;
    share.stop();  // a presentation begun and failed on the way ends (nothing if none began)
  }
  renderShare();
}

function renderPoll() {
  const open = [...state.polls.values()].filter((p) => p.state === "open").sort((a, b) => b.id - a.id)[0];
  $("poll-section").hidden = !open;
  if (!open) return;
  $("poll-question").textContent = open.question;
  const chosen = state.answers.get(open.id);
  $("poll-options").replaceChildren(...open.options.map((text, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `${i + 1}. ${text}`;
    b.setAttribute("aria-pressed", chosen === i ? "true" : "false");
    b.addEventListener("click", () => send({ type: "poll_answer", poll: open.id, option: i }));
    return b;
  }));
}

function renderChat() {
  $("chat-log").replaceChildren(...state.chat.slice(-20).map((m) => {
    const li = document.createElement("li");
    li.textContent = `${m.from_name}: ${m.text}`;  // text, never markup
    return li;
  }));
}

function renderFiles() {
  if (!state.files.length) {
    const li = document.createElement("li");
    li.textContent = t.no_files;
    $("files").replaceChildren(li);
    return;
  }
  $("files").replaceChildren(...state.files.map((f) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    const path = `/api/files/${encodeURIComponent(f.id)}`;
    a.href = path;
    a.textContent = `${f.name} — ${t.save}`;
    a.setAttribute("download", f.name);
    li.append(ticketLink(a, path, () => `Companion ${code}`, f.name, (e) => { $("status").textContent = e.message; }));
    return li;
  }));
}

function onMessage(msg) {
  if (msg.re != null && pending.has(msg.re)) {  // the reply to one of the share's requests
    const { resolve, reject } = pending.get(msg.re);
    pending.delete(msg.re);
    if (msg.type === "error") reject(new Error(msg.code));
    else resolve(msg);
    if (msg.type !== "error" || !ENDED[msg.code]) return;
  }
  switch (msg.type) {
    case "welcome":
      state.me = msg.you;
      state.room = msg.room;
      state.chat = msg.chat;
      state.files = msg.files;
      state.ice = msg.ice_servers || [];
      for (const p of msg.polls) {
        state.polls.set(p.id, p);
        if (p.my_answer != null) state.answers.set(p.id, p.my_answer);  // the room's own
      }
      $("room-name").textContent = msg.room.title;
      $("status").textContent = t.ready(msg.you.name);
      $("main").hidden = false;
      break;
    case "participant_updated":
      if (state.me && msg.participant.id === state.me.id) {
        const ours = (me) => me.presenting && me.presenting_via === "companion";
        const was = ours(state.me);
        state.me = msg.participant;
        // The host stopped the laptop's presentation, or took the room's right back.
        if (share.active && was && !ours(state.me)) share.stop({ tell: false });
      }
      break;
    case "ice_servers": state.ice = msg.servers; break;
    case "chat": state.chat.push(msg); break;
    case "poll": state.polls.set(msg.id, msg); break;
    case "poll_answer": state.answers.set(msg.id, msg.option); break;
    case "file_added": state.files.push(msg.file); break;
    case "error":
      if (ENDED[msg.code]) end(ENDED[msg.code]);
      else $("status").textContent = String(msg.code).endsWith("rate_limited") ? t.too_fast : t.failed;
      break;
    case "bye": end(ENDED[msg.reason] || "closed"); break;
    default: break;
  }
  if (ended) return;
  renderHand(); renderPoll(); renderChat(); renderFiles(); renderShare();
}

function connect() {
  const room = new URLSearchParams(location.search).get("room");
  // The room in the socket's address too, for a balancer's room affinity (as room.js).
  ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?room=${encodeURIComponent(room || "")}`);
  ws.onopen = () => {
    send({ type: "join", protocol: 1, room, companion: code, client: "companion", id: 1 });
    keepalive = setInterval(() => send({ type: "ping" }), 20000);
  };
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  ws.onclose = () => end("closed");
}

$("hand").addEventListener("click", () =>
  send({ type: "set_hand", raised: !(state.me && state.me.hand_position) }));
$("share").addEventListener("click", toggleShare);
$("chat-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("chat-text").value.trim();
  if (text) send({ type: "chat", text });
  $("chat-text").value = "";
});
connect();
