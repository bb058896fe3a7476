// The top menu: Söz Hakkı İste, Sesimi Bağla (active only with audio rights), Web
// Kameramı Başlat and Paylaşımı Başlat (only with camera rights), Ekranımı Paylaş (only
// with the right to present), the speaker, leaving.
import { $, h, icon } from "./dom.js";
import { t } from "./i18n.js";
import { keepFocus } from "./roster.js";

export class Toolbar {
  constructor(conf, my, stage, { onLeave }) {
    this.conf = conf;
    this.my = my;
    this.stage = stage;
    this.onLeave = onLeave;
    this.confirmEnd = false;
  }

  tool(key, text, iconName, onclick, { disabled = false, pressed = null, cls = "" } = {}) {
    return h("button", { type: "button", class: `tool ${cls}`.trim(), disabled, onclick,
      "aria-pressed": pressed == null ? null : String(pressed), dataset: { key } },
    icon(iconName), h("span", {}, text));
  }

  render() {
    const my = this.my;
    const me = this.conf.me || {};
    const hand = me.hand_position != null;
    const tools = [
      // The host holds the floor: asking for it is for everyone else.
      this.conf.isHost ? null : this.tool("hand", t(hand ? "hand.lower" : "hand.raise"), "hand",
        () => this.conf.setHand(!hand), { cls: hand ? "active" : "" }),
      this.tool("mic", t(my.micOn ? "mic.mute" : "mic.connect"), my.micOn ? "mic" : "micOff",
        () => (my.micOn ? my.muteMic() : my.connectMic()), { disabled: !me.audio_right, cls: my.micOn ? "live" : "" }),
      this.tool("webcam", t(my.webcamOn ? "cam.stop" : "cam.start"), my.webcamOn ? "camera" : "cameraOff",
        () => (my.webcamOn ? my.stopWebcam() : my.startWebcam()), { disabled: !me.camera_right, cls: my.webcamOn ? "active" : "" }),
      this.tool("share", t(my.sharing ? "share.stop" : "share.start"), "share",
        () => (my.sharing ? my.stopSharing() : my.startSharing()),
        { disabled: !me.camera_right || !my.webcamOn, cls: my.sharing ? "live" : "" }),
      // Shown once the host allows presenting (hosts always): a screen share is not
      // something most of a class does, so it takes no room in their menu before that.
      me.present_right || my.presenting ? this.tool("present", t(my.presenting ? "present.stop" : "present.start"), "screen",
        () => (my.presenting ? my.stopPresenting() : my.startPresenting()),
        { cls: my.presenting ? "live" : "" }) : null,
      this.tool("speaker", t(this.stage.speakerOn ? "speaker.off" : "speaker.on"),
        this.stage.speakerOn ? "speaker" : "speakerOff", () => { this.stage.setSpeaker(!this.stage.speakerOn); this.render(); },
        { cls: this.stage.speakerOn ? "" : "warn" }),
    ];
    const end = [];
    if (this.conf.isHost) {
      end.push(this.tool("end", t(this.confirmEnd ? "end.confirm" : "end.meeting"), "leave", () => {
        if (this.confirmEnd) { this.conf.endMeeting(); return; }
        this.confirmEnd = true;
        this.render();
        setTimeout(() => { this.confirmEnd = false; this.render(); }, 5000);
      }, { cls: this.confirmEnd ? "danger" : "danger-quiet" }));
    }
    end.push(this.tool("leave", t("leave"), "leave", () => this.onLeave(), { cls: "danger-quiet" }));
    $("mybar").replaceChildren(...[
      h("span", { class: `chip ${me.audio_right ? "yes" : "no"}` }, icon(me.audio_right ? "mic" : "micOff"),
        t(me.audio_right ? "rights.audio.yes" : "rights.audio.no")),
      h("span", { class: `chip ${me.camera_right ? "yes" : "no"}` }, icon(me.camera_right ? "camera" : "cameraOff"),
        t(me.camera_right ? "rights.camera.yes" : "rights.camera.no")),
      me.present_right ? h("span", { class: "chip yes" }, icon("screen"), t("rights.present.yes")) : null,
      hand ? h("span", { class: "chip hand" }, icon("hand"), t("hand.place", { n: me.hand_position })) : null,
      !me.audio_right && !hand ? h("span", { class: "hint rights-hint" }, t("rights.hint")) : null,
      me.present_right && !this.conf.isHost && !my.presenting && !me.presenting
        ? h("span", { class: "hint rights-hint" }, t("present.hint")) : null,
    ].filter(Boolean));
    keepFocus($("toolbar"), () => {
      $("toolbar").replaceChildren(
        h("div", { class: "tools" }, tools.filter(Boolean)),
        h("div", { class: "tools end" }, end));
    });
  }
}
