// Takvim (hosts): the room's schedule — one-off and weekly meetings added, edited and
// removed, an .ics file imported, the coming meetings and the school's calendars the
// bridge reads. The bridge decides who may (only the room's host) and checks every field.
import { h } from "./dom.js";
import { errorText, formatDateTime, language, t } from "./i18n.js";

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "Europe/Istanbul";

function field(id, key, input) {
  return [h("label", { for: id }, t(key)), input];
}

export class SchedulePane {
  constructor(conf, pane) {
    this.conf = conf;
    this.pane = pane;
    this.data = null;
    this.editing = null;  // the entry being edited, or null: adding
    this.title = h("input", { id: "schedule-title", required: true, maxlength: "200" });
    this.start = h("input", { id: "schedule-start", type: "datetime-local", required: true });
    this.minutes = h("input", { id: "schedule-minutes", type: "number", min: "1", max: "1440", value: "40", required: true });
    this.weekly = h("input", { id: "schedule-weekly", type: "checkbox" });
    this.until = h("input", { id: "schedule-until", type: "date" });
    this.zone = h("input", { id: "schedule-zone", value: browserZone(), required: true, spellcheck: "false" });
    this.weekly.addEventListener("change", () => { this.until.disabled = !this.weekly.checked; });
    this.until.disabled = true;
    this.submit = h("button", { type: "submit", class: "primary" });
    this.cancel = h("button", { type: "button", hidden: true, onclick: () => this.edit(null) });
    this.error = h("p", { id: "schedule-error", class: "form-error", role: "alert" });
    this.form = h("form", { class: "schedule-form", "aria-describedby": "schedule-error" });
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.save(); });
    this.file = h("input", { id: "schedule-file", type: "file", accept: ".ics,text/calendar" });
    this.importButton = h("button", { type: "submit" });
    this.importForm = h("form", { class: "upload" });
    this.importForm.addEventListener("submit", (ev) => { ev.preventDefault(); this.importFile(); });
    this.result = h("p", { class: "hint", role: "status" });
    this.lists = h("div", { class: "schedule-lists" });
  }

  async api(method, path, body, contentType = "application/json") {
    const headers = { Authorization: `Bearer ${this.conf.token}` };
    if (body !== undefined) headers["Content-Type"] = contentType;
    const resp = await fetch(path, { method, headers, cache: "no-store",
      body: body === undefined ? undefined : (contentType === "application/json" ? JSON.stringify(body) : body) });
    const answer = await resp.json().catch(() => ({}));
    if (!resp.ok) throw Object.assign(new Error(answer.message || `HTTP ${resp.status}`), { code: answer.code });
    return answer;
  }

  /** Called when the tab is shown and after every change. */
  async refresh() {
    try {
      this.data = await this.api("GET", "/api/schedule");
    } catch (e) {
      this.error.textContent = errorText(e.code, e.message);
    }
    this.render();
  }

  formValue() {
    return { title: this.title.value, start: this.start.value, minutes: Number(this.minutes.value),
      weekly: this.weekly.checked, until: this.weekly.checked && this.until.value ? this.until.value : null,
      time_zone: this.zone.value.trim() };
  }

  async save() {
    this.error.textContent = "";
    try {
      if (this.editing) await this.api("PUT", `/api/schedule/entries/${this.editing.id}`, this.formValue());
      else await this.api("POST", "/api/schedule/entries", this.formValue());
    } catch (e) {
      this.error.textContent = e.code === "bad_schedule" ? t("schedule.bad", { message: e.message }) : errorText(e.code, e.message);
      return;
    }
    this.result.textContent = t(this.editing ? "schedule.saved" : "schedule.added", { title: this.title.value });
    this.edit(null);
    await this.refresh();
  }

  async remove(entry) {
    this.error.textContent = "";
    try {
      await this.api("DELETE", `/api/schedule/entries/${entry.id}`);
    } catch (e) {
      this.error.textContent = errorText(e.code, e.message);
      return;
    }
    if (this.editing && this.editing.id === entry.id) this.edit(null);
    this.result.textContent = t("schedule.removed", { title: entry.title });
    await this.refresh();
  }

  async importFile() {
    const file = this.file.files[0];
    this.error.textContent = "";
    if (!file) return;
    let summary;
    try {
      summary = await this.api("POST", `/api/schedule/import?name=${encodeURIComponent(file.name)}`,
        await file.arrayBuffer(), "text/calendar");
    } catch (e) {
      this.error.textContent = e.code === "bad_schedule" ? t("schedule.bad", { message: e.message }) : errorText(e.code, e.message);
      return;
    }
    this.file.value = "";
    this.result.textContent = t("schedule.imported", summary);
    await this.refresh();
  }

  /** Fill the form with an entry to change it (null: back to adding a new one). */
  edit(entry) {
    this.editing = entry;
    const typed = entry ? entry.typed : null;
    this.title.value = typed ? typed.title : "";
    this.start.value = typed ? typed.start : "";
    this.minutes.value = typed ? String(typed.minutes) : "40";
    this.weekly.checked = typed ? typed.weekly : false;
    this.until.value = typed && typed.until ? typed.until : "";
    this.until.disabled = !this.weekly.checked;
    this.zone.value = typed ? typed.time_zone : browserZone();
    this.render();
    if (entry) this.title.focus();
  }

  entryItem(entry) {
    const typed = entry.typed;
    const what = typed
      ? t(typed.weekly ? (typed.until ? "schedule.weekly_until" : "schedule.weekly") : "schedule.once", {
        start: typed.start.replace("T", " "), minutes: typed.minutes, until: typed.until || "", zone: typed.time_zone })
      : t("schedule.from", { source: entry.source.replace(/^upload: /, "") });
    return h("li", { class: "schedule-entry", dataset: { entryId: entry.id } },
      h("div", { class: "file-info" }, h("span", { class: "name" }, entry.title), h("span", { class: "hint" }, what)),
      h("div", { class: "row" },
        typed ? h("button", { type: "button", class: "small", onclick: () => this.edit(entry),
          "aria-label": t("schedule.edit_named", { title: entry.title }) }, t("schedule.edit")) : null,
        h("button", { type: "button", class: "small", onclick: () => this.remove(entry),
          "aria-label": t("schedule.remove_named", { title: entry.title }) }, t("schedule.remove"))));
  }

  comingItem(o) {
    const day = new Date(o.start).toLocaleDateString(language() === "tr" ? "tr-TR" : "en-GB",
      { weekday: "short", day: "2-digit", month: "2-digit" });
    const clock = (iso) => new Date(iso).toLocaleTimeString(language() === "tr" ? "tr-TR" : "en-GB",
      { hour: "2-digit", minute: "2-digit" });
    return h("li", { class: "schedule-occurrence" }, `${day} ${clock(o.start)}–${clock(o.end)} · ${o.title}`);
  }

  calendarItem(c) {
    const state = !c.last_attempt ? t("schedule.calendar_waiting")
      : c.error ? t("schedule.calendar_failed", { at: formatDateTime(c.last_attempt), error: c.error })
        : t("schedule.calendar_ok", { at: formatDateTime(c.last_ok), summary: t("schedule.counts", c.counts || {}) });
    return h("li", { class: c.error ? "calendar failed" : "calendar" },
      h("span", { class: "name" }, c.url), h("span", { class: c.error ? "form-error" : "hint" }, state));
  }

  render() {
    if (!this.conf.isHost) return;
    this.submit.textContent = t(this.editing ? "schedule.save" : "schedule.add");
    this.cancel.textContent = t("schedule.cancel");
    this.cancel.hidden = !this.editing;
    this.importButton.textContent = t("schedule.import");
    this.form.replaceChildren(
      h("h3", {}, t(this.editing ? "schedule.editing" : "schedule.new")),
      ...field("schedule-title", "schedule.title", this.title),
      ...field("schedule-start", "schedule.start", this.start),
      ...field("schedule-minutes", "schedule.minutes", this.minutes),
      h("div", { class: "row" }, this.weekly, h("label", { for: "schedule-weekly" }, t("schedule.repeat_weekly"))),
      ...field("schedule-until", "schedule.until", this.until),
      ...field("schedule-zone", "schedule.zone", this.zone),
      h("div", { class: "row" }, this.submit, this.cancel), this.error);
    this.importForm.replaceChildren(...field("schedule-file", "schedule.file", this.file),
      h("div", { class: "row" }, this.importButton));
    const d = this.data || { entries: [], occurrences: [], calendars: [] };
    const parts = [
      h("h3", {}, t("schedule.coming")),
      d.occurrences.length ? h("ul", { class: "schedule-coming" }, d.occurrences.map((o) => this.comingItem(o)))
        : h("p", { class: "hint" }, t("schedule.none_coming")),
      h("h3", {}, t("schedule.entries")),
      d.entries.length ? h("ul", { class: "file-list schedule-entries" }, d.entries.map((e) => this.entryItem(e)))
        : h("p", { class: "hint" }, t("schedule.no_entries")),
    ];
    if (d.calendars.length) {
      parts.push(h("h3", {}, t("schedule.calendars")),
        h("ul", { class: "schedule-calendars" }, d.calendars.map((c) => this.calendarItem(c))));
    }
    this.lists.replaceChildren(...parts);
    if (!this.form.isConnected) {
      this.pane.replaceChildren(this.form, this.importForm, this.result, this.lists);
    }
  }
}
