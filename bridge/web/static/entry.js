// Entering a meeting: Oturum Aç (user name + Parola) or Misafir olarak katıl (a name,
// Odaya Gir), and the device check the guide asks for before entering.
import { $ } from "./dom.js";
import { errorText, onLanguageChange, t } from "./i18n.js";
import { LocalDevices, playTestTone, watchLevel } from "./media.js";

export class Entry {
  /** enter(way) -> Promise; rejects with {code, message} when the bridge refuses. */
  constructor(enter) {
    this.enter = enter;
    this.devices = new LocalDevices();
    this.stopLevel = null;
    $("signin-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit("signin", { user: $("signin-user").value.trim(), password: $("signin-password").value });
    });
    $("join-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit("join", { name: $("name").value.trim() });
    });
    $("device-test").addEventListener("click", () => this.toggleDeviceTest());
    $("device-speaker").addEventListener("click", () => this.testSpeaker());
    this.room = null;  // {address, title, policy, open_floor}, once known
    onLanguageChange(() => this.renderRoom());
  }

  /** The room's public facts: its title, and what a guest can expect (no lobby in an
   *  open-floor room; no guests at all in a private one). */
  async describe(address) {
    try {
      const reply = await fetch(`/api/rooms/${encodeURIComponent(address)}`);
      this.room = reply.ok ? await reply.json() : null;
    } catch (e) {
      this.room = null;  // the bridge will say what it must at entry
    }
    this.renderRoom();
  }

  renderRoom() {
    const room = this.room;
    if (!room) return;
    $("lobby-room").textContent = room.title;
    if (document.body.dataset.view !== "meeting") {
      $("room-title").textContent = room.title;
      document.title = `${room.title} – Salon`;
    }
    const guests = room.policy === "public";
    $("join-form").hidden = !guests;
    $("entry-private").hidden = guests;
    $("guest-note").textContent = t(room.open_floor ? "entry.guest.note_open" : "entry.guest.note");
  }

  async submit(form, way) {
    const error = $(`${form}-error`);
    const buttons = document.querySelectorAll("#signin-form button, #join-form button");
    error.textContent = "";
    buttons.forEach((b) => { b.disabled = true; });
    this.stopDeviceTest();
    try {
      await this.enter(way);
    } catch (e) {
      error.textContent = errorText(e.code, e.message);
      const field = form === "join" ? $("name") : $("signin-password");
      field.setAttribute("aria-invalid", "true");
      field.focus();
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  show(visible) {
    $("entry").hidden = !visible;
    if (!visible) this.stopDeviceTest();
  }

  // ---- test camera, speaker and microphone before entering ---------------------------

  async toggleDeviceTest() {
    if (this.stopLevel) {
      this.stopDeviceTest();
      return;
    }
    const message = $("device-message");
    message.textContent = "";
    try {
      await Promise.all([this.devices.openCamera(), this.devices.openMic()]);
    } catch (e) {
      message.textContent = t("entry.devices.failed", { message: e.message || e.name });
      this.devices.closeAll();
      return;
    }
    const preview = $("device-preview");
    preview.srcObject = new MediaStream([this.devices.camera]);
    preview.hidden = false;
    this.stopLevel = watchLevel(this.devices.mic, (level) => { $("device-level").value = level; });
    $("device-test").textContent = t("entry.devices.stop");
    $("device-test").dataset.i18n = "entry.devices.stop";
  }

  stopDeviceTest() {
    if (this.stopLevel) this.stopLevel();
    this.stopLevel = null;
    this.devices.closeAll();
    const preview = $("device-preview");
    preview.srcObject = null;
    preview.hidden = true;
    $("device-level").value = 0;
    $("device-test").dataset.i18n = "entry.devices.test";
    $("device-test").textContent = t("entry.devices.test");
  }

  async testSpeaker() {
    $("device-message").textContent = t("entry.devices.speaker_playing");
    await playTestTone();
  }
}
