// Building the page from data: elements with text content only (user data is never
// parsed as markup), and a few line icons drawn here (no icon font, no inline styles).

export const $ = (id) => document.getElementById(id);

/**
 * h("button", {type: "button", class: "x", onclick: fn, dataset: {id: 1}}, "text", child...)
 * Strings become text nodes; null/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG = "http://www.w3.org/2000/svg";

// 24x24 strokes, drawn for this page.
const ICONS = {
  mic: ["M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z", "M5 11a7 7 0 0 0 14 0",
    "M12 18v3", "M8 21h8"],
  micOff: ["M12 3a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z", "M5 11a7 7 0 0 0 14 0",
    "M12 18v3", "M8 21h8", "M3 3l18 18"],
  camera: ["M3 7h12v10H3z", "M15 10l6-3v10l-6-3"],
  cameraOff: ["M3 7h12v10H3z", "M15 10l6-3v10l-6-3", "M2 3l19 18"],
  hand: ["M8 12V5.5a1.5 1.5 0 0 1 3 0V11", "M11 10.5V4a1.5 1.5 0 0 1 3 0v7",
    "M14 10.5V5.5a1.5 1.5 0 0 1 3 0V13", "M8 12l-1.6-1.6a1.6 1.6 0 0 0-2.3 2.3L8 17a6 6 0 0 0 9-2v-2"],
  speaker: ["M4 9h4l5-4v14l-5-4H4z", "M16 9a4 4 0 0 1 0 6", "M18.5 6.5a8 8 0 0 1 0 11"],
  speakerOff: ["M4 9h4l5-4v14l-5-4H4z", "M16 9l5 6", "M21 9l-5 6"],
  share: ["M3 5h18v12H3z", "M12 14V8", "M9 11l3-3 3 3", "M8 21h8"],
  screen: ["M3 4h18v12H3z", "M8 20h8", "M12 16v4"],
  leave: ["M10 4H5v16h5", "M14 8l4 4-4 4", "M18 12H9"],
  host: ["M4 18h16", "M4 18l-1-10 5 4 4-7 4 7 5-4-1 10"],
  file: ["M6 3h8l4 4v14H6z", "M14 3v4h4"],
  download: ["M12 4v11", "M7 10l5 5 5-5", "M5 20h14"],
  talking: ["M4 12h2", "M8 8v8", "M12 5v14", "M16 8v8", "M20 12h-2"],
};

export function icon(name, extraClass = "") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon ${extraClass}`.trim());
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** A mark beside a name: an icon whose meaning is given as hidden text to screen readers. */
export function mark(name, label, extraClass = "") {
  return h("span", { class: `mark ${extraClass}`.trim(), title: label },
    icon(name), h("span", { class: "visually-hidden" }, label));
}

/** A button whose accessible name is exactly its visible text (the icon is decoration). */
export function button(text, onclick, { iconName = null, className = "", disabled = false, describedBy = null } = {}) {
  return h("button", { type: "button", class: className, onclick, disabled, "aria-describedby": describedBy },
    iconName ? icon(iconName) : null, h("span", {}, text));
}

export function clear(el) { el.replaceChildren(); return el; }
