// Notices at the top right ("Ses Hakları Verildi" ...): each stays long enough to
// read; more than fit at once wait in a queue. The region is announced politely.
import { h } from "./dom.js";

const SHOW_MS = 6000;
const AT_ONCE = 3;

export class Notices {
  constructor(region) {
    this.region = region;
    this.queue = [];
    this.shown = 0;
  }

  /** kind: "info" | "good" | "warn" | "error" */
  push(text, kind = "info") {
    this.queue.push({ text, kind });
    this.pump();
  }

  pump() {
    while (this.shown < AT_ONCE && this.queue.length) {
      const { text, kind } = this.queue.shift();
      const el = h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : null }, text);
      this.region.append(el);
      this.shown++;
      setTimeout(() => {
        el.classList.add("leaving");
        setTimeout(() => {
          el.remove();
          this.shown--;
          this.pump();
        }, 300);
      }, SHOW_MS);
    }
  }
}
