// The meeting page: join with a name, publish camera and mic, show everyone else.
import { Conference } from "./conference.js";

const $ = (id) => document.getElementById(id);
const room = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
let conf = null;

function setStatus(text) { $("status").textContent = text; }

function tileFor(pid) {
  let tile = document.querySelector(`figure[data-participant="${CSS.escape(pid)}"]`);
  if (!tile) {
    tile = document.createElement("figure");
    tile.dataset.participant = pid;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    const caption = document.createElement("figcaption");
    tile.append(video, caption);
    $("tiles").append(tile);
  }
  return tile;
}

function render() {
  const others = [...conf.participants.values()];
  const media = conf.remoteStreams();
  const keep = new Set(others.map((p) => p.id));
  for (const tile of document.querySelectorAll("figure[data-participant]")) {
    if (!keep.has(tile.dataset.participant)) tile.remove();
  }
  for (const p of others) {
    const tile = tileFor(p.id);
    tile.querySelector("figcaption").textContent = p.name;   // text, never markup
    const video = tile.querySelector("video");
    const tracks = media.get(p.id) || [];
    const current = video.srcObject ? video.srcObject.getTracks() : [];
    const same = current.length === tracks.length && tracks.every((t) => current.includes(t));
    if (!same) video.srcObject = tracks.length ? new MediaStream(tracks) : null;
  }
  const list = $("participants");
  list.replaceChildren(...[conf.me, ...others].map((p) => {
    const li = document.createElement("li");
    li.textContent = p.id === conf.me.id ? `${p.name} (you)` : p.name;
    return li;
  }));
}

async function join(name) {
  setStatus("Connecting…");
  conf = new Conference(wsUrl, room, name);
  conf.addEventListener("participants", render);
  conf.addEventListener("media", render);
  conf.addEventListener("problem", (e) => setStatus(e.detail.message));
  conf.addEventListener("closed", () => setStatus("Disconnected"));
  const welcome = await conf.connect();
  $("room-title").textContent = welcome.room.title;
  document.title = `${welcome.room.title} – Salon`;
  $("join-form").hidden = true;
  $("meeting").hidden = false;
  render();
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 1280, height: 720 } });
  await conf.publish(stream);
  setStatus("In the meeting");
}

$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  join($("name").value.trim()).catch((e) => setStatus(`Could not join: ${e.message}`));
});
$("leave").addEventListener("click", async () => {
  await conf.leave();
  $("meeting").hidden = true;
  $("join-form").hidden = false;
  setStatus("You left the meeting");
});
window.salon = { get conference() { return conf; } };  // for the console and tests
