// Anket: the host writes a question and options, opens and closes the poll and sees
// live results; participants answer with one click and may change it while it is open.
import { button, h } from "./dom.js";
import { t } from "./i18n.js";
import { keepFocus } from "./roster.js";

const MAX_OPTIONS = 10;  // the bridge's limit (Limits.poll_max_options)

export class PollsPane {
  constructor(conf, pane) {
    this.conf = conf;
    this.pane = pane;
    this.question = h("input", { id: "poll-question", maxlength: 500, required: true });
    this.options = h("textarea", { id: "poll-options", rows: 4, required: true, "aria-describedby": "poll-error" });
    this.error = h("p", { id: "poll-error", class: "form-error", role: "alert" });
    this.createForm = h("form", { class: "poll-create" });
    this.createForm.addEventListener("submit", (ev) => { ev.preventDefault(); this.create(); });
    this.list = h("div", { class: "poll-list" });
  }

  create() {
    const question = this.question.value.trim();
    const options = this.options.value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (!question || options.length < 2 || options.length > MAX_OPTIONS) {
      this.error.textContent = t("polls.options_error");
      return;
    }
    this.error.textContent = "";
    this.conf.createPoll(question, options);
    this.question.value = "";
    this.options.value = "";
  }

  render() {
    const host = this.conf.isHost;
    const polls = [...this.conf.polls.values()].sort((a, b) => b.id - a.id);
    if (host && !this.createForm.isConnected) {
      // Built once: a live result arriving must not disturb a poll being written.
      this.labels = [h("h3"), h("label", { for: "poll-question" }), h("label", { for: "poll-options" }),
        h("button", { type: "submit", class: "primary" })];
      const [title, q, o, submit] = this.labels;
      this.createForm.replaceChildren(title, q, this.question, o, this.options, this.error, submit);
      this.pane.replaceChildren(this.createForm, this.list);
    } else if (!this.list.isConnected) {
      this.pane.replaceChildren(this.list);
    }
    if (host) {
      const [title, q, o, submit] = this.labels;
      title.textContent = t("polls.new");
      q.textContent = t("polls.question");
      o.textContent = t("polls.options");
      submit.textContent = t("polls.create");
    }
    keepFocus(this.list, () => {
      this.list.replaceChildren(...polls.map((p) => this.card(p, host)));
      if (!polls.length) this.list.append(h("p", { class: "hint empty" }, t("polls.none")));
    });
  }

  card(poll, host) {
    const headingId = `poll-q-${poll.id}`;
    const body = [];
    if (!host && poll.state !== "draft") body.push(this.answerForm(poll, headingId));
    const seeCounts = Array.isArray(poll.counts) && (host || (poll.state === "closed" && poll.results_visible));
    if (seeCounts) body.push(this.results(poll));
    if (host) body.push(this.hostButtons(poll, headingId));
    return h("article", { class: `poll poll-${poll.state}`, dataset: { pollId: poll.id }, "aria-labelledby": headingId },
      h("header", {},
        h("h3", { id: headingId }, poll.question),
        h("span", { class: `badge state-${poll.state}` }, t(`polls.state.${poll.state}`))),
      body);
  }

  answerForm(poll, headingId) {
    const open = poll.state === "open";
    const choices = poll.options.map((text, i) => {
      const id = `poll-${poll.id}-opt-${i}`;
      const input = h("input", { type: "radio", id, name: `poll-${poll.id}`, value: String(i),
        checked: poll.my_answer === i, disabled: !open, dataset: { key: id } });
      input.addEventListener("change", () => { if (input.checked) this.conf.answerPoll(poll.id, i); });
      return h("div", { class: "choice" }, input, h("label", { for: id }, text));
    });
    const note = open ? t(poll.my_answer != null ? "polls.saved" : "polls.pick") : t("polls.closed_note");
    return h("fieldset", { class: "choices", "aria-labelledby": headingId },
      choices, h("p", { class: "hint" }, note));
  }

  results(poll) {
    const total = poll.counts.reduce((a, b) => a + b, 0);
    return h("div", { class: "results" },
      poll.options.map((text, i) => {
        const n = poll.counts[i] || 0;
        const id = `poll-${poll.id}-res-${i}`;
        return h("div", { class: "result" },
          h("div", { class: "row spread" }, h("span", { id }, text), h("span", { class: "votes" }, t("polls.votes", { n }))),
          h("progress", { max: Math.max(total, 1), value: n, "aria-labelledby": id }));
      }),
      h("p", { class: "hint total" }, t("polls.total", { n: total })));
  }

  hostButtons(poll, headingId) {
    const conf = this.conf;
    const act = (key, text, fn, cls = "small") => {
      const b = button(text, fn, { className: cls, describedBy: headingId });
      b.dataset.key = `poll-${poll.id}:${key}`;
      return b;
    };
    const buttons = [];
    if (poll.state === "draft") buttons.push(act("state", t("polls.open"), () => conf.openPoll(poll.id), "small primary"));
    if (poll.state === "open") buttons.push(act("state", t("polls.close"), () => conf.closePoll(poll.id)));
    if (poll.state === "closed") {
      buttons.push(act("show", t(poll.results_visible ? "polls.hide" : "polls.show"),
        () => conf.showPollResults(poll.id, !poll.results_visible)));
    }
    return h("div", { class: "row" }, buttons);
  }
}
