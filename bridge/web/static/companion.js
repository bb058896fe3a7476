// The phone companion: acts for the room appliance that showed its QR code — raise or
// lower the room's hand, answer a poll, chat, download files. It never holds the
// room's seat and stops working when the room leaves the meeting. Files download
// through single-use tickets: the code goes in a header, never in a download link.
import { ticketLink } from "./download.js";

const TEXT = {
  tr: {
    hand_title: "Söz hakkı", hand_raise: "Söz Hakkı İste", hand_lower: "Elimi İndir",
    hand_up: (n) => `El kaldırıldı — sırada ${n}.`, hand_down: "El indirildi.",
    poll_title: "Anket", chat_title: "Sohbet", chat_label: "Herkese mesaj", send: "Gönder",
    files_title: "Dosyalar", no_files: "Henüz dosya yok.", connecting: "Bağlanıyor…",
    ready: (room) => `${room} adına`, expired: "Bağlantının süresi doldu; odadaki kodu yeniden okutun.",
    save: "Bilgisayarıma Kaydet",
  },
  en: {
    hand_title: "Request to speak", hand_raise: "Raise hand", hand_lower: "Lower hand",
    hand_up: (n) => `Hand raised — number ${n} in the queue.`, hand_down: "Hand lowered.",
    poll_title: "Poll", chat_title: "Chat", chat_label: "Message to everyone", send: "Send",
    files_title: "Files", no_files: "No files yet.", connecting: "Connecting…",
    ready: (room) => `Acting for ${room}`, expired: "This link has expired; scan the room's code again.",
    save: "Save to my computer",
  },
};
const lang = navigator.language.toLowerCase().startsWith("tr") ? "tr" : "en";
const t = TEXT[lang];
document.documentElement.lang = lang;
const $ = (id) => document.getElementById(id);
const code = location.pathname.split("/").filter(Boolean).pop();
const state = { me: null, room: null, polls: new Map(), answers: new Map(), files: [], chat: [] };
let ws = null;

for (const el of document.querySelectorAll("[data-t]")) el.textContent = t[el.dataset.t];
$("status").textContent = t.connecting;

function send(msg) { ws.send(JSON.stringify(msg)); }

function renderHand() {
  const pos = state.me ? state.me.hand_position : null;
  $("hand-state").textContent = pos ? t.hand_up(pos) : t.hand_down;
  $("hand").textContent = pos ? t.hand_lower : t.hand_raise;
  $("hand").setAttribute("aria-pressed", pos ? "true" : "false");
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
  switch (msg.type) {
    case "welcome":
      state.me = msg.you;
      state.room = msg.room;
      state.chat = msg.chat;
      state.files = msg.files;
      for (const p of msg.polls) state.polls.set(p.id, p);
      $("room-name").textContent = msg.room.title;
      $("status").textContent = t.ready(msg.you.name);
      $("main").hidden = false;
      break;
    case "participant_updated":
      if (state.me && msg.participant.id === state.me.id) state.me = msg.participant;
      break;
    case "chat": state.chat.push(msg); break;
    case "poll": state.polls.set(msg.id, msg); break;
    case "poll_answer": state.answers.set(msg.id, msg.option); break;
    case "file_added": state.files.push(msg.file); break;
    case "error":
      if (msg.code === "bad_companion_code") $("status").textContent = t.expired;
      else $("status").textContent = msg.message;
      break;
    case "bye": $("status").textContent = t.expired; $("main").hidden = true; break;
    default: break;
  }
  renderHand(); renderPoll(); renderChat(); renderFiles();
}

function connect() {
  ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => {
    const room = new URLSearchParams(location.search).get("room");
    send({ type: "join", protocol: 1, room, companion: code, client: "companion", id: 1 });
    setInterval(() => send({ type: "ping" }), 20000);
  };
  ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
  ws.onclose = () => { $("status").textContent = t.expired; };
}

$("hand").addEventListener("click", () =>
  send({ type: "set_hand", raised: !(state.me && state.me.hand_position) }));
$("chat-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("chat-text").value.trim();
  if (text) send({ type: "chat", text });
  $("chat-text").value = "";
});
connect();
