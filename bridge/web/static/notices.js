// Notices at the top right ("Ses Hakları Verildi" ...), in the top bar: side by side,
// the newest at the right, as many as fit beside the room's title and status; more wait
// in a queue. Each stays long enough to read. The region is announced politely.
import { h } from "./dom.js";

const SHOW_MS = 6000;
const WIDTH_REM = 22;  // a notice's width (room.css .notice)
const GAP_REM = 0.5;

export class Notices {
  constructor(region) {
    this.region = region;
    this.queue = [];
    this.shown = 0;
    this.atOnce = 1;
  }

  /** The top bar has `px` free beside the title and status: show as many as fit there. */
  fit(px) {
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    this.atOnce = Math.max(1, Math.floor((px + GAP_REM * rem) / ((WIDTH_REM + GAP_REM) * rem)));
    this.pump();
  }

  /** kind: "info" | "good" | "warn" | "error" */
  push(text, kind = "info") {
    this.queue.push({ text, kind });
    this.pump();
  }

  pump() {
    while (this.shown < this.atOnce && this.queue.length) {
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
