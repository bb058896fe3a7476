// Sohbet: to everyone (Herkes) or privately to one participant. Late joiners get the
// history in the welcome. Every message is shown as text, never as markup.
import { h } from "./dom.js";
import { formatTime, t } from "./i18n.js";

export const CHAT_MAX_CHARS = 2000;  // the bridge's limit (bridge/meetings/context.py Limits)

export class ChatPane {
  constructor(conf, pane) {
    this.conf = conf;
    this.pane = pane;
    this.lastText = "";
    this.build();
  }

  build() {
    this.log = h("ol", { class: "chat-log", role: "log", "aria-live": "polite", tabindex: "0" });
    this.empty = h("p", { class: "hint empty" });
    this.to = h("select", { id: "chat-to" });
    this.text = h("textarea", { id: "chat-text", rows: 2, maxlength: CHAT_MAX_CHARS, required: true,
      "aria-describedby": "chat-count chat-error" });
    this.count = h("span", { id: "chat-count", class: "count" });
    this.error = h("p", { id: "chat-error", class: "form-error", role: "alert" });
    this.toLabel = h("label", { for: "chat-to" });
    this.textLabel = h("label", { for: "chat-text", class: "visually-hidden" });
    this.sendButton = h("button", { type: "submit", class: "primary" });
    this.form = h("form", { class: "chat-form" },
      this.textLabel, this.text,
      h("div", { class: "row chat-send" }, this.toLabel, this.to, this.count, this.sendButton),
      this.error);
    this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
    this.text.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.submit();
      }
    });
    this.text.addEventListener("input", () => this.renderCount());
    this.pane.replaceChildren(this.empty, this.log, this.form);
    // Follow the newest message unless the reader scrolled up to read older ones; the
    // log may be hidden (another tab) or resized (the participant list grows) meanwhile.
    this.following = true;
    this.log.addEventListener("scroll", () => {
      if (this.log.clientHeight) this.following = this.distanceFromBottom() < 40;
    });
    new ResizeObserver(() => this.follow()).observe(this.log);
  }

  distanceFromBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight;
  }

  follow(force = false) {
    if (force) this.following = true;
    if (this.following) this.log.scrollTop = this.log.scrollHeight;
  }

  submit() {
    const text = this.text.value;
    if (!text.trim()) return;
    this.error.textContent = "";
    this.lastText = text;
    this.conf.sendChat(text, this.to.value || null);
    this.text.value = "";
    this.renderCount();
  }

  /** The bridge refused the last message (too fast, too long...): give the text back. */
  refused(text) {
    this.error.textContent = text;
    if (!this.text.value) this.text.value = this.lastText;
    this.renderCount();
  }

  renderCount() {
    this.count.textContent = t("chat.count", { n: this.text.value.length, max: CHAT_MAX_CHARS });
  }

  renderRecipients() {
    const keep = this.to.value;
    const others = [...this.conf.participants.values()].filter((p) => p.id !== this.conf.myId);
    const options = [h("option", { value: "" }, t("chat.everyone")),
      ...others.map((p) => h("option", { value: p.id }, p.name))];
    this.to.replaceChildren(...options);
    this.to.value = others.some((p) => p.id === keep) ? keep : "";
  }

  message(m) {
    const mine = m.from === this.conf.myId;
    let privacy = null;
    if (m.to) {
      const name = this.conf.participants.get(m.to)?.name || "?";
      privacy = h("span", { class: "private-tag" }, mine ? t("chat.private_to", { name }) : t("chat.private_from"));
    }
    return h("li", { class: `msg${m.to ? " private" : ""}${mine ? " mine" : ""}`, dataset: { messageId: m.id } },
      h("div", { class: "msg-head" },
        h("span", { class: "from" }, m.from_name),
        privacy,
        h("time", { datetime: m.at }, formatTime(m.at))),
      h("p", { class: "text" }, m.text));
  }

  append(m) {
    // Where the reader is now, read from the layout: the scroll event that would update
    // `following` comes a frame later and a message may arrive in between.
    if (this.log.clientHeight) this.following = this.distanceFromBottom() < 40;
    this.log.append(this.message(m));
    this.empty.hidden = true;
    this.follow(m.from === this.conf.myId);  // one's own message: back to the newest
  }

  render() {
    this.toLabel.textContent = t("chat.to");
    this.textLabel.textContent = t("chat.message");
    this.text.placeholder = t("chat.message");
    this.sendButton.textContent = t("chat.send");
    this.empty.textContent = t("chat.empty");
    this.empty.hidden = this.conf.chat.length > 0;
    this.log.replaceChildren(...this.conf.chat.map((m) => this.message(m)));
    this.follow();
    this.renderRecipients();
    this.renderCount();
  }
}
