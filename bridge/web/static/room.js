// The meeting page (/r/<address>): enter (sign in or as a guest), wait in the lobby,
// then the meeting itself. The bridge decides; this page shows what it decided.
import { ChatPane } from "./chat.js";
import { Conference } from "./conference.js";
import { $, h } from "./dom.js";
import { watchLayers } from "./layers.js";
import { Entry } from "./entry.js";
import { FilesPane } from "./files.js";
import { LANGUAGES, errorText, language, onLanguageChange, setLanguage, t, translate } from "./i18n.js";
import { MyMedia } from "./media.js";
import { Notices } from "./notices.js";
import { PollsPane } from "./polls.js";
import { ReportsPane } from "./reports.js";
import { Roster } from "./roster.js";
import { SchedulePane } from "./schedule.js";
import { Stage } from "./stage.js";
import { Toolbar } from "./toolbar.js";

const room = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
// The room in the socket's address too: a balancer in front of several bridge processes
// can keep a room's people on one (docs/deployment.md, 9b). The join still decides.
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?room=${encodeURIComponent(room)}`;
const SEAT_KEY = `salon.seat.${room}`;
const RECONNECT_FOR_MS = 120000;  // a drop or a bridge restart: keep trying this long
const RETRYABLE = ["unreachable", "busy"];  // anything else refused: the seat is gone
const notices = new Notices($("notices"));
let ui = null;  // everything tied to one Conference
let statusKey = "";

// ---- the page's frame ---------------------------------------------------------------

function setStatus(key, vars = {}) {
  statusKey = key;
  $("status").textContent = key ? t(key, vars) : "";
}

// Notices sit at the top right, in the top bar between the status and the language
// switch, covering neither (nor the toolbar and the participant list below).
function placeNotices() {
  const right = window.innerWidth - $("language").getBoundingClientRect().left + 12;
  const left = $("status").getBoundingClientRect().right + 16;
  document.documentElement.style.setProperty("--notices-right", `${Math.round(right)}px`);
  notices.fit(window.innerWidth - right - left);
}
const topBar = new ResizeObserver(placeNotices);
topBar.observe($("language"));
topBar.observe($("status"));
window.addEventListener("resize", placeNotices);

function showView(name) {
  for (const [view, id] of [["entry", "entry"], ["lobby", "lobby-view"], ["ended", "ended-view"], ["meeting", "meeting"]]) {
    $(id).hidden = view !== name;
  }
  document.body.dataset.view = name;
}

function renderLanguageButton() {
  const other = language() === "tr" ? "en" : "tr";
  const b = $("language");
  b.textContent = LANGUAGES[other];
  b.lang = other;
}

function seat(token) {
  try {
    if (token) sessionStorage.setItem(SEAT_KEY, token);
    else sessionStorage.removeItem(SEAT_KEY);
  } catch (e) { /* storage may be off */ }
}

function savedSeat() {
  try { return sessionStorage.getItem(SEAT_KEY); } catch (e) { return null; }
}

// ---- tabs: Sohbet, Anket, Dosyalar, Raporlar -------------------------------------------

const TABS = [["chat", "tabs.chat"], ["polls", "tabs.polls"], ["files", "tabs.files"], ["reports", "tabs.reports"],
  ["schedule", "tabs.schedule"]];
const HOSTS_ONLY = ["reports", "schedule"];

function renderTabs() {
  const list = $("tabs");
  const host = ui?.conf.isHost;
  const tabs = TABS.filter(([name]) => !HOSTS_ONLY.includes(name) || host).map(([name, key]) => {
    const selected = ui.tab === name;
    const tab = h("button", { type: "button", role: "tab", id: `tab-${name}`, "aria-controls": `pane-${name}`,
      "aria-selected": String(selected), tabindex: selected ? "0" : "-1",
      class: ui.unread.has(name) ? "unread" : "", onclick: () => selectTab(name) }, t(key));
    $(`pane-${name}`).setAttribute("aria-labelledby", `tab-${name}`);
    return tab;
  });
  const focused = list.contains(document.activeElement) ? document.activeElement.id : null;
  list.replaceChildren(...tabs);
  if (focused && $(focused)) $(focused).focus();
}

function selectTab(name, focus = false) {
  ui.tab = name;
  ui.unread.delete(name);
  for (const [pane] of TABS) $(`pane-${pane}`).hidden = pane !== name;
  renderTabs();
  if (focus) $(`tab-${name}`).focus();
  if (name === "reports") ui.reports.refresh();
  if (name === "schedule") ui.schedule.refresh();
}

$("tabs").addEventListener("keydown", (ev) => {
  const names = [...$("tabs").querySelectorAll("[role=tab]")].map((b) => b.id.slice(4));
  const at = names.indexOf(ui.tab);
  const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[ev.key];
  if (step) {
    ev.preventDefault();
    selectTab(names[(at + step + names.length) % names.length], true);
  } else if (ev.key === "Home" || ev.key === "End") {
    ev.preventDefault();
    selectTab(names[ev.key === "Home" ? 0 : names.length - 1], true);
  }
});

function flag(tab) {
  if (ui.tab !== tab) {
    ui.unread.add(tab);
    renderTabs();
  }
}

// ---- one conference -------------------------------------------------------------------

function renderAll() {
  if (!ui || !ui.conf.admitted) return;
  const { conf } = ui;
  $("room-title").textContent = conf.info.title;
  document.title = `${conf.info.title} – Salon`;
  ui.roster.render();
  ui.toolbar.render();
  ui.stage.render();
  ui.chat.render();
  ui.polls.render();
  ui.files.render();
  ui.reports.render();
  ui.schedule.render();
  if (!conf.isHost && HOSTS_ONLY.includes(ui.tab)) ui.tab = "chat";
  selectTab(ui.tab);
}

function build(conf) {
  const my = new MyMedia(conf);
  const stage = new Stage(conf, my);
  ui = {
    conf, my, stage,
    roster: new Roster(conf),
    toolbar: new Toolbar(conf, my, stage, { onLeave: leave }),
    chat: new ChatPane(conf, $("pane-chat")),
    polls: new PollsPane(conf, $("pane-polls")),
    files: new FilesPane(conf, $("pane-files")),
    reports: new ReportsPane(conf, $("pane-reports")),
    schedule: new SchedulePane(conf, $("pane-schedule")),
    tab: ui?.tab || "chat",
    unread: new Set(),
    ended: null,
    started: false,
  };
  const on = (type, fn) => conf.addEventListener(type, (ev) => { if (ui && ui.conf === conf) fn(ev.detail); });
  my.addEventListener("change", () => { ui.toolbar.render(); ui.stage.render(); });
  my.addEventListener("problem", (ev) => notices.push(t("notice.denied_device", ev.detail), "error"));
  my.addEventListener("refused", (ev) => notices.push(errorText(ev.detail.code, ev.detail.message), "error"));

  on("lobby-waiting", (m) => {
    showView("lobby");
    setStatus("status.lobby");
    $("lobby-name").textContent = t("lobby.you", { name: m.you.name });
    $("lobby-leave").focus();
  });
  on("welcome", () => {
    showView("meeting");
    setStatus("status.in_meeting");
    renderAll();
    if (!ui.started) {
      ui.started = true;
      my.start();
    }
  });
  on("participants", (d) => {
    if (d.changed && d.changed.id === conf.myId) my.follow(d.before, d.changed);
    else if (conf.isHost && d.changed && d.before && d.before.hand_position == null
             && d.changed.hand_position != null) {
      notices.push(t("notice.hand_raised", { name: d.changed.name }), "warn");
    }
    ui.roster.render();
    ui.toolbar.render();
    ui.stage.render();
    ui.chat.renderRecipients();
  });
  on("lobby", (d) => {
    ui.roster.render();
    for (const g of d.arrived) notices.push(t("notice.lobby_arrival", { name: g.name }));
  });
  on("chat", ({ message }) => {
    ui.chat.append(message);
    if (message.to === conf.myId) notices.push(t("notice.private_message", { name: message.from_name }));
    if (message.from !== conf.myId) flag("chat");
  });
  on("polls", ({ poll, opened }) => {
    ui.polls.render();
    if (!conf.isHost && opened) {
      notices.push(t("notice.poll_opened", { question: poll.question }), "good");
      flag("polls");
    }
  });
  on("files", ({ added }) => {
    ui.files.render();
    if (added && added.uploader !== conf.me?.name) {
      notices.push(t("notice.file_added", { name: added.name }));
      flag("files");
    }
  });
  on("notice", ({ code }) => {
    const good = code.endsWith("_granted");
    notices.push(t(`notice.${code}`), good ? "good" : "warn");
  });
  on("media", () => ui.stage.render());
  on("content-state", () => { ui.stage.render(); ui.toolbar.render(); });
  on("publish-state", () => { ui.stage.render(); ui.toolbar.render(); });
  on("refused", (d) => {
    const text = errorText(d.code, d.message);
    if (d.request === "chat") ui.chat.refused(text);
    else notices.push(text, "error");
  });
  on("problem", (d) => notices.push(t("status.media_problem", d), "error"));
  on("ended", ({ reason }) => { ui.ended = reason; });
  on("restarting", () => {
    ui.restarting = true;
    notices.push(t("notice.restarting"));
  });
  on("closed", ({ byUs }) => {
    if (!conf.myId) return;  // never got in: enter() tells why
    if (ui.ended || byUs) ended(ui.ended || "left");
    else if (conf.token) reconnect();  // a drop: take the same seat again
    else ended("disconnected");
  });
  return ui;
}

async function enter(way) {
  setStatus("status.connecting");
  const conf = new Conference(wsUrl, room);
  build(conf);
  watchLayers(conf);
  try {
    await conf.connect();
    await conf.join(way);
  } catch (e) {
    conf.close();
    setStatus("");
    throw e;
  }
  seat(conf.token);
}

async function reconnect() {
  const token = ui?.conf.token;
  const waiting = ui.restarting ? "status.restarting" : "status.reconnecting";
  ui.my.stopAll();
  setStatus(waiting);
  const giveUpAt = Date.now() + RECONNECT_FOR_MS;
  for (let i = 0; token && Date.now() < giveUpAt; i++) {
    // Backoff with jitter: a whole school reconnecting to a restarted bridge spreads out.
    const delay = Math.min(5000, 500 * 2 ** i) * (0.5 + Math.random() / 2);
    await new Promise((r) => setTimeout(r, delay));
    try {
      await enter({ token });
      return;
    } catch (e) {
      if (e.code && !RETRYABLE.includes(e.code)) break;
      setStatus(waiting);
    }
  }
  ended("disconnected");
}

const ENDINGS = ["left", "denied", "removed", "replaced", "meeting_ended"];
const SENT_AWAY = ["denied", "removed"];  // by the host: joining again cannot work

function ended(reason) {
  if (ui) ui.my.stopAll();
  seat(null);
  const known = ENDINGS.includes(reason) ? reason : "disconnected";
  $("ended-reason").dataset.i18n = `ended.${known}`;
  $("ended-reason").textContent = t($("ended-reason").dataset.i18n);
  const final = SENT_AWAY.includes(known);
  $("ended-again").hidden = final;
  showView("ended");
  setStatus(`status.${known}`);
  (final ? $("ended-heading") : $("ended-again")).focus();
}

async function leave() {
  if (!ui) return;
  ui.ended = "left";
  ui.my.stopAll();
  await ui.conf.leave();
  ended("left");
}

// ---- start -------------------------------------------------------------------------

new Entry(enter).describe(room);
$("lobby-leave").addEventListener("click", leave);
$("ended-again").addEventListener("click", () => {
  showView("entry");
  setStatus("");
  $("name").focus();
});
$("language").addEventListener("click", () => setLanguage(language() === "tr" ? "en" : "tr"));
onLanguageChange(() => {
  renderLanguageButton();
  $("entry-address").textContent = t("entry.address", { address: `/${room}` });
  if (statusKey) setStatus(statusKey);
  if (ui && ui.conf.admitted && document.body.dataset.view === "meeting") renderAll();
});
translate();
renderLanguageButton();
$("entry-address").textContent = t("entry.address", { address: `/${room}` });
document.title = `/${room} – Salon`;

const token = savedSeat();
if (token) {
  // A reload: take the same seat again (a lobby guest keeps its place in the queue).
  showView("connecting");
  enter({ token }).catch(() => { seat(null); showView("entry"); });
} else {
  showView("entry");
}

window.salon = {  // for the console and tests
  get conference() { return ui?.conf || null; },
  get media() { return ui?.my || null; },
};
