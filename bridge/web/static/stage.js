// The videos: one tile per participant whose media we receive (the caption is the
// name, as text), and one's own camera preview. A tile shows a picture only while
// one arrives and the bridge says the camera is on (what Janus receives, for a browser
// and a room alike: a stopped camera leaves no frozen last picture); otherwise the
// name's initials, with the audio still playing. One's own tile says "sharing" only
// once the publisher is connected.
//
// A presentation (someone's shared screen, or one's own) is shown large above everyone,
// whose tiles become a strip of small ones (#stage[data-layout="content"]).
import { $, h, mark } from "./dom.js";
import { t } from "./i18n.js";

function initials(name) {
  return name.split(/\s+/).filter((w) => /\p{L}/u.test(w)).slice(0, 2).map((w) => w[0]).join("").toLocaleUpperCase();
}

export class Stage {
  constructor(conf, my) {
    this.conf = conf;
    this.my = my;
    this.speakerOn = true;
    this.watched = new WeakSet();
  }

  setSpeaker(on) {
    this.speakerOn = on;
    for (const v of document.querySelectorAll("#tiles figure[data-participant] video")) v.muted = !on;
    if (!this.my.presenting) $("content").querySelector("video").muted = !on;
  }

  tileFor(pid) {
    let tile = $("tiles").querySelector(`figure[data-participant="${CSS.escape(pid)}"]`);
    if (!tile) {
      const video = h("video", { autoplay: true, playsInline: true });
      for (const ev of ["resize", "loadeddata", "emptied"]) video.addEventListener(ev, () => this.showPicture(tile));
      tile = h("figure", { class: "tile", dataset: { participant: pid } },
        video, h("div", { class: "avatar", "aria-hidden": "true" }), h("figcaption"), h("span", { class: "tile-marks" }));
      $("tiles").append(tile);
    }
    return tile;
  }

  showPicture(tile) {
    const video = tile.querySelector("video");
    const p = this.conf.participants.get(tile.dataset.participant);
    const track = video.srcObject ? video.srcObject.getVideoTracks()[0] : null;
    const showing = Boolean(p && p.camera_right && p.camera_on && track && !track.muted
      && video.videoWidth > 0);
    tile.classList.toggle("no-picture", !showing);
  }

  renderContent() {
    const figure = $("content");
    const video = figure.querySelector("video");
    const remote = this.conf.remoteContent();
    const own = this.my.presenting ? this.my.screen : null;
    let tracks = [];
    let caption = "";
    if (own) {
      tracks = own.getVideoTracks();  // one's own screen: the picture, never its sound back
      caption = t("stage.content_self");
    } else if (remote) {
      tracks = remote.tracks;
      caption = t("stage.content", { name: this.conf.participants.get(remote.participant)?.name || "" });
    }
    figure.hidden = tracks.length === 0;
    figure.dataset.participant = remote && !own ? remote.participant : "";
    $("stage").dataset.layout = tracks.length ? "content" : "people";
    figure.querySelector("figcaption").textContent = caption;  // text, never markup
    video.muted = Boolean(own) || !this.speakerOn;
    const current = video.srcObject ? video.srcObject.getTracks() : [];
    const same = current.length === tracks.length && tracks.every((tr) => current.includes(tr));
    if (!same) video.srcObject = tracks.length ? new MediaStream(tracks) : null;
  }

  render() {
    this.renderContent();
    const media = this.conf.remoteStreams();
    const tiles = $("tiles");
    for (const tile of tiles.querySelectorAll("figure[data-participant]")) {
      const pid = tile.dataset.participant;
      if (!media.has(pid) || !this.conf.participants.has(pid)) tile.remove();
    }
    for (const [pid, tracks] of media) {
      const p = this.conf.participants.get(pid);
      if (!p) continue;
      const tile = this.tileFor(pid);
      tile.querySelector("figcaption").textContent = p.name;   // text, never markup
      tile.querySelector(".avatar").textContent = initials(p.name);
      tile.classList.toggle("talking", Boolean(p.talking));
      const marks = [];
      if (p.audio_right) marks.push(mark(p.mic_muted ? "micOff" : "mic", t(p.mic_muted ? "mark.mic_off" : "mark.mic_on"), p.mic_muted ? "off" : "on"));
      tile.querySelector(".tile-marks").replaceChildren(...marks);
      const video = tile.querySelector("video");
      video.muted = !this.speakerOn;
      const current = video.srcObject ? video.srcObject.getTracks() : [];
      const same = current.length === tracks.length && tracks.every((tr) => current.includes(tr));
      if (!same) video.srcObject = tracks.length ? new MediaStream(tracks) : null;
      for (const track of tracks) {
        if (track.kind === "video" && !this.watched.has(track)) {
          this.watched.add(track);
          track.addEventListener("mute", () => this.showPicture(tile));
          track.addEventListener("unmute", () => this.showPicture(tile));
        }
      }
      this.showPicture(tile);
    }
    this.renderSelf();
    // The hint is about others' media: one's own preview does not count.
    $("stage-empty").hidden = Boolean(tiles.querySelector("figure[data-participant]"));
    tiles.dataset.count = String(tiles.querySelectorAll("figure").length);
  }

  renderSelf() {
    const tiles = $("tiles");
    let tile = tiles.querySelector("figure.self-tile");
    const camera = this.my.webcamOn ? this.my.devices.camera : null;
    if (!camera) {
      if (tile) tile.remove();
      return;
    }
    if (!tile) {
      tile = h("figure", { class: "tile self-tile" },
        h("video", { autoplay: true, playsInline: true, muted: true }), h("figcaption"));
      tiles.prepend(tile);
    }
    const video = tile.querySelector("video");
    if (!video.srcObject || video.srcObject.getVideoTracks()[0] !== camera) video.srcObject = new MediaStream([camera]);
    const sent = this.my.sharing && this.conf.publishState === "connected";
    tile.classList.toggle("sharing", sent);
    const caption = !this.my.sharing ? "tile.preview" : sent ? "tile.sharing" : "tile.connecting";
    tile.querySelector("figcaption").textContent = t(caption);
  }
}
