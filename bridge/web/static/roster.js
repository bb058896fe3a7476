// The participant list: names with their hand (queue place), mic and camera marks;
// Bilgilerimi Düzenle on one's own row; the host's controls beside every other name;
// the lobby queue (hosts admit or deny each guest, live).
import { $, button, h, mark } from "./dom.js";
import { t } from "./i18n.js";

const byQueueThenArrival = (a, b) => {
  const ha = a.hand_position ?? Infinity;
  const hb = b.hand_position ?? Infinity;
  return ha !== hb ? ha - hb : Number(a.id) - Number(b.id);
};

/** Re-render inside container, giving focus back to the control with the same data-key. */
export function keepFocus(container, render) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.key : null;
  render();
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

export class Roster {
  constructor(conf) {
    this.conf = conf;
    this.editing = false;
    this.renameInput = null;
    this.confirmRemove = null;  // participant id whose removal awaits confirmation
  }

  render() {
    const conf = this.conf;
    const people = [...conf.participants.values()].sort(byQueueThenArrival);
    $("people-heading").textContent = t("people.title", { n: people.length });
    keepFocus($("participants"), () => {
      $("participants").replaceChildren(...people.map((p) => this.row(p)));
    });
    keepFocus($("lobby-queue"), () => this.renderQueue());
    if (this.editing && this.renameInput && !this.renameInput.isConnected) this.editing = false;
  }

  row(p) {
    const conf = this.conf;
    const mine = p.id === conf.myId;
    const nameId = `pname-${p.id}`;
    const marks = [];
    if (p.hand_position) {
      // The place is in the mark's text ("Söz istedi, sıra 1"); the digit beside the
      // hand is drawn by CSS from data-place, so nothing reads the number twice.
      marks.push(h("span", { class: "hand-mark" }, mark("hand", t("mark.hand", { n: p.hand_position })),
        h("span", { class: "hand-place", "aria-hidden": "true", dataset: { place: p.hand_position } })));
    }
    if (p.audio_right) {
      const live = !p.mic_muted;
      marks.push(mark(live ? "mic" : "micOff", t(live ? "mark.mic_on" : "mark.mic_off"),
        `${live ? "on" : "off"}${p.talking ? " talking" : ""}`));
    }
    if (p.camera_right) {
      marks.push(mark("camera", t(p.camera_on ? "mark.sharing" : "mark.camera"), p.camera_on ? "on" : "off"));
    }
    if (p.presenting) marks.push(mark("screen", t("mark.presenting"), "on"));
    const role = { host: "role.host", guest: "role.guest", device: "role.device" }[p.role];
    const line = h("div", { class: "person-line" },
      h("span", { class: "marks" }, marks),
      h("span", { class: "who" },
        h("span", { class: "name", id: nameId }, p.name),
        mine ? h("span", { class: "you" }, ` ${t("people.you")}`) : null,
        role ? h("span", { class: `role-tag role-${p.role}` }, t(role)) : null));
    const li = h("li", { class: `person${mine ? " me" : ""}${p.talking ? " talking" : ""}`, dataset: { participantId: p.id } }, line);
    if (mine) li.append(this.renameControls(p, nameId));
    else if (conf.isHost && p.role !== "host") li.append(this.hostControls(p, nameId));
    return li;
  }

  renameControls(p, nameId) {
    if (!this.editing) {
      const open = button(t("rename.open"), () => {
        this.editing = true;
        this.renameInput = h("input", { id: "rename-name", value: p.name, maxlength: 64, autocomplete: "name",
          dataset: { key: "rename-input" } });
        this.render();
        this.renameInput.focus();
        this.renameInput.select();
      }, { className: "small", describedBy: nameId });
      open.dataset.key = "rename";
      return h("div", { class: "person-actions" }, open);
    }
    const form = h("form", { class: "rename-form" },
      h("label", { for: "rename-name" }, t("rename.label")),
      this.renameInput,
      h("div", { class: "row" },
        h("button", { type: "submit", class: "small primary", dataset: { key: "rename-ok" } }, t("rename.ok")),
        h("button", { type: "button", class: "small", dataset: { key: "rename-cancel" },
          onclick: () => { this.editing = false; this.render(); this.focusKey("rename"); } }, t("rename.cancel"))));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = this.renameInput.value.trim();
      if (name && name !== p.name) this.conf.rename(name);
      this.editing = false;
      this.render();
      this.focusKey("rename");
    });
    return form;
  }

  focusKey(key) {
    const el = $("participants").querySelector(`[data-key="${key}"]`);
    if (el) el.focus();
  }

  hostControls(p, nameId) {
    const conf = this.conf;
    const act = (key, text, fn, extra = "") => {
      const b = button(text, fn, { className: `small ${extra}`.trim(), describedBy: nameId });
      b.dataset.key = `${p.id}:${key}`;
      return b;
    };
    const controls = [
      act("audio", t(p.audio_right ? "host.revoke_audio" : "host.grant_audio"),
        () => conf.setRight(p.id, "audio", !p.audio_right), p.audio_right ? "" : "grant"),
      act("camera", t(p.camera_right ? "host.revoke_camera" : "host.grant_camera"),
        () => conf.setRight(p.id, "camera", !p.camera_right), p.camera_right ? "" : "grant"),
      act("present", t(p.present_right ? "host.revoke_present" : "host.grant_present"),
        () => conf.setRight(p.id, "present", !p.present_right), p.present_right ? "" : "grant"),
    ];
    if (p.presenting) controls.push(act("stop-presenting", t("host.stop_presenting"), () => conf.stopPresentationOf(p.id)));
    if (p.audio_right && !p.mic_muted) controls.push(act("mute", t("host.mute"), () => conf.mute(p.id)));
    if (p.hand_position) controls.push(act("hand", t("host.lower_hand"), () => conf.lowerHand(p.id)));
    if (this.confirmRemove === p.id) {
      controls.push(act("remove", t("host.remove_confirm"), () => { this.confirmRemove = null; conf.remove(p.id); }, "danger"));
    } else {
      controls.push(act("remove", t("host.remove"), () => {
        this.confirmRemove = p.id;
        this.render();
        setTimeout(() => { if (this.confirmRemove === p.id) { this.confirmRemove = null; this.render(); } }, 5000);
      }, "danger-quiet"));
    }
    return h("div", { class: "person-actions host-actions" }, controls);
  }

  renderQueue() {
    const conf = this.conf;
    const box = $("lobby-queue");
    if (!conf.isHost || !conf.lobby.length) {
      box.replaceChildren();
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const items = conf.lobby.map((g) => {
      const nameId = `lname-${g.id}`;
      const admit = button(t("queue.admit"), () => conf.admit(g.id), { className: "small grant", describedBy: nameId });
      admit.dataset.key = `${g.id}:admit`;
      const deny = button(t("queue.deny"), () => conf.deny(g.id), { className: "small danger-quiet", describedBy: nameId });
      deny.dataset.key = `${g.id}:deny`;
      return h("li", { dataset: { guestId: g.id } }, h("span", { class: "name", id: nameId }, g.name),
        h("div", { class: "person-actions" }, admit, deny));
    });
    const all = conf.lobby.length > 1
      ? button(t("queue.admit_all"), () => conf.lobby.forEach((g) => conf.admit(g.id)), { className: "small grant" })
      : null;
    if (all) all.dataset.key = "admit-all";
    box.replaceChildren(...[
      h("h3", {}, t("queue.title", { n: conf.lobby.length })),
      h("ul", { class: "queue" }, items),
      all].filter(Boolean));
  }
}
