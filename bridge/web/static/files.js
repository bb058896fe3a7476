// Dosyalar: the host uploads presentations and pictures; everyone in the room lists
// them and saves them (Bilgisayarıma Kaydet) with their room session (through a
// single-use download ticket: no secret in any URL).
import { h, icon } from "./dom.js";
import { ticketLink } from "./download.js";
import { errorText, formatBytes, formatTime, t } from "./i18n.js";

export const FILE_MAX_BYTES = 50 * 1024 * 1024;  // the bridge's limit (Limits.file_max_bytes)

export class FilesPane {
  constructor(conf, pane) {
    this.conf = conf;
    this.pane = pane;
    this.input = h("input", { type: "file", id: "file-input", "aria-describedby": "file-error" });
    this.label = h("label", { for: "file-input" });
    this.uploadButton = h("button", { type: "submit", class: "primary" });
    this.progress = h("progress", { max: 1, value: 0, hidden: true });
    this.error = h("p", { id: "file-error", class: "form-error", role: "alert" });
    this.form = h("form", { class: "upload" }, this.label, this.input,
      h("div", { class: "row" }, this.uploadButton, this.progress), this.error);
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.upload(); });
    this.list = h("ul", { class: "file-list" });
    this.empty = h("p", { class: "hint empty" });
    this.saveError = h("p", { class: "form-error", role: "alert" });
  }

  upload() {
    const file = this.input.files[0];
    this.error.textContent = "";
    if (!file) return;
    if (file.size > FILE_MAX_BYTES) {
      this.error.textContent = t("files.too_large", { max: formatBytes(FILE_MAX_BYTES) });
      return;
    }
    const body = new FormData();
    body.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/files");
    xhr.setRequestHeader("Authorization", `Bearer ${this.conf.token}`);
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) this.progress.value = ev.loaded / ev.total;
    });
    xhr.addEventListener("loadend", () => {
      this.progress.hidden = true;
      this.uploadButton.disabled = false;
      if (xhr.status === 201) {
        this.input.value = "";
        this.error.textContent = "";
        return;
      }
      let refusal = { code: "unknown", message: `HTTP ${xhr.status}` };
      try { refusal = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      this.error.textContent = xhr.status === 0 ? errorText("unreachable") : errorText(refusal.code, refusal.message);
    });
    this.progress.value = 0;
    this.progress.hidden = false;
    this.uploadButton.disabled = true;
    xhr.send(body);
  }

  downloadPath(file) {
    return `/api/files/${encodeURIComponent(file.id)}`;
  }

  item(file) {
    const nameId = `file-name-${file.id}`;
    return h("li", { class: "file", dataset: { fileId: file.id } },
      icon("file", "file-icon"),
      h("div", { class: "file-info" },
        h("span", { class: "name", id: nameId }, file.name),
        h("span", { class: "hint" },
          `${formatBytes(file.size)} · ${t("files.by", { name: file.uploader })} · ${formatTime(file.uploaded_at)}`)),
      ticketLink(
        h("a", { class: "button small", href: this.downloadPath(file), download: file.name, "aria-describedby": nameId },
          icon("download"), h("span", {}, t("files.save"))),
        this.downloadPath(file), () => `Bearer ${this.conf.token}`, file.name,
        (e) => { this.saveError.textContent = errorText(e.code, e.message); }));
  }

  render() {
    const parts = [];
    if (this.conf.isHost) {
      this.label.textContent = t("files.choose");
      this.uploadButton.textContent = t("files.upload");
      parts.push(this.form);
    }
    this.list.replaceChildren(...this.conf.files.map((f) => this.item(f)));
    this.empty.textContent = t("files.none");
    this.empty.hidden = this.conf.files.length > 0;
    parts.push(this.list, this.empty, this.saveError);
    if (parts.some((p) => !p.isConnected) || this.pane.children.length !== parts.length) this.pane.replaceChildren(...parts);
  }
}
