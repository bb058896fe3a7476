// Raporlar (hosts): a meeting's attendance and activity, downloaded as CSV or shown
// as a page.
import { $, h, icon } from "./dom.js";
import { ticketLink } from "./download.js";
import { errorText, formatClock, formatDateTime, formatSeconds, has, t } from "./i18n.js";

export class ReportsPane {
  constructor(conf, pane) {
    this.conf = conf;
    this.pane = pane;
    this.meetings = [];
    this.select = h("select", { id: "report-meeting" });
    this.select.addEventListener("change", () => this.renderLinks());
    this.label = h("label", { for: "report-meeting" });
    this.viewButton = h("button", { type: "button", class: "primary" });
    this.viewButton.addEventListener("click", () => this.view());
    this.links = h("div", { class: "report-links" });
    this.error = h("p", { class: "form-error", role: "alert" });
    $("report-close").addEventListener("click", () => $("report-dialog").close());
  }

  get which() { return this.select.value || "current"; }

  async api(path) {
    const resp = await fetch(path, { headers: { Authorization: `Bearer ${this.conf.token}` }, cache: "no-store" });
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw Object.assign(new Error(body.message || `HTTP ${resp.status}`), { code: body.code });
    return body;
  }

  /** Called when the pane is shown: the list of this room's meetings. */
  async refresh() {
    try {
      this.meetings = await this.api("/api/reports");
      this.error.textContent = "";
    } catch (e) {
      this.error.textContent = errorText(e.code, e.message);
    }
    this.render();
  }

  csvPath(kind) {  // no secret in it: the link downloads through a single-use ticket
    const q = new URLSearchParams({ format: "csv", kind });
    return `/api/reports/${encodeURIComponent(this.which)}?${q}`;
  }

  csvLink(kind, label) {
    const path = this.csvPath(kind);
    return ticketLink(h("a", { class: "button", href: path, download: "" }, icon("download"), h("span", {}, t(label))),
      path, () => `Bearer ${this.conf.token}`, "", (e) => { this.error.textContent = errorText(e.code, e.message); });
  }

  renderLinks() {
    this.links.replaceChildren(this.csvLink("attendance", "reports.attendance_csv"),
      this.csvLink("activity", "reports.activity_csv"));
  }

  render() {
    if (!this.conf.isHost) return;
    const keep = this.select.value;
    const options = [h("option", { value: "" }, t("reports.current"))];
    for (const m of this.meetings) {
      if (m.id === this.conf.meeting) continue;
      const item = m.scheduled
        ? t("reports.item_scheduled", { id: m.id, started: formatDateTime(m.started), title: m.scheduled.title })
        : t("reports.item", { id: m.id, started: formatDateTime(m.started) });
      options.push(h("option", { value: String(m.id) }, item));
    }
    this.select.replaceChildren(...options);
    this.select.value = [...this.select.options].some((o) => o.value === keep) ? keep : "";
    this.label.textContent = t("reports.meeting");
    this.viewButton.textContent = t("reports.view");
    this.renderLinks();
    if (!this.select.isConnected) {
      this.pane.replaceChildren(this.label, this.select, h("div", { class: "row" }, this.viewButton), this.links, this.error);
    }
  }

  async view() {
    let report;
    try {
      report = await this.api(`/api/reports/${encodeURIComponent(this.which)}?format=json`);
      this.error.textContent = "";
    } catch (e) {
      this.error.textContent = errorText(e.code, e.message);
      return;
    }
    // A scheduled occurrence is named after its entry ("Matematik 9-A"), the room after.
    const title = report.scheduled_title ? `${report.scheduled_title} · ${report.title}` : report.title;
    $("report-heading").textContent = t("reports.title", { title });
    const started = formatDateTime(report.started);
    const span = report.ended ? t("reports.span", { started, ended: formatDateTime(report.ended) })
      : t("reports.running", { started });
    const attendance = table(
      ["col.name", "col.kind", "col.first_joined", "col.last_left", "col.present", "col.speaking",
        "col.presenting", "col.hands", "col.chat", "col.polls", "col.downloads"],
      report.attendance.map((r) => [r.name, roleText(r), formatDateTime(r.first_joined),
        formatDateTime(r.last_left), formatSeconds(r.present_seconds), formatSeconds(r.speaking_seconds),
        formatSeconds(r.presenting_seconds), r.hands_raised, r.chat_messages, r.polls_answered, r.files_downloaded]));
    const activity = table(["col.at", "col.event", "col.actor", "col.subject", "col.details"],
      report.activity.map((r) => [formatClock(r.at), has(`event.${r.kind}`) ? t(`event.${r.kind}`) : r.kind,
        r.actor, r.subject, r.details]));
    $("report-body").replaceChildren(
      h("p", { class: "hint" }, span),
      h("h3", {}, t("reports.attendance")), attendance,
      h("h3", {}, t("reports.activity")), activity);
    $("report-dialog").showModal();
  }
}

function roleText(row) {
  if (row.host) return t("role.host");
  return { guest: t("role.guest"), device: t("role.device"), account: t("role.participant") }[row.kind]
    || row.kind;
}

function table(columns, rows) {
  return h("div", { class: "table-wrap", tabindex: "0" },
    h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(c))))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((cell) => h("td", {}, String(cell))))))));
}
