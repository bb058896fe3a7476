// Turkish or English (texts in strings.js): from a saved choice, else the browser's
// languages. Formatting of times, sizes and durations follows the language.

import { en, tr } from "./strings.js";

export const GUEST_NAME_EXAMPLE = "BEHİÇ ÇELEBİ – ANKARA MEM";
const TABLES = { tr, en };
export const LANGUAGES = { tr: "Türkçe", en: "English" };
const KEY = "salon.language";
const listeners = new Set();

function initial() {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved in TABLES) return saved;
  } catch (e) { /* storage may be off */ }
  const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  for (const tag of wanted) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    if (base in TABLES) return base;
  }
  return "en";
}

let current = initial();

export function language() { return current; }

export function t(key, vars = {}) {
  const text = TABLES[current][key] ?? TABLES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

export function has(key) { return key in TABLES[current]; }

/** A refusal's code in words the user reads; the bridge's English message otherwise. */
export function errorText(code, message) {
  const key = `err.${code}`;
  if (has(key)) return t(key, { example: GUEST_NAME_EXAMPLE });
  return t("err.unknown", { message: message || code });
}

/** Fill every element marked data-i18n (text) or data-i18n-placeholder below root. */
export function translate(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

export function setLanguage(lang) {
  if (!(lang in TABLES) || lang === current) return;
  current = lang;
  try { localStorage.setItem(KEY, lang); } catch (e) { /* storage may be off */ }
  translate();
  for (const fn of listeners) fn(lang);
}

export function onLanguageChange(fn) { listeners.add(fn); }

export function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString(current === "tr" ? "tr-TR" : "en-GB",
    { hour: "2-digit", minute: "2-digit" });
}

export function formatClock(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString(current === "tr" ? "tr-TR" : "en-GB");
}

export function formatDateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleString(current === "tr" ? "tr-TR" : "en-GB",
    { dateStyle: "short", timeStyle: "medium" });
}

export function formatBytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  const num = v.toLocaleString(current === "tr" ? "tr-TR" : "en-GB", { maximumFractionDigits: i ? 1 : 0 });
  return `${num} ${units[i]}`;
}

export function formatSeconds(s) {
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const pad = (x) => String(x).padStart(2, "0");
  return h ? `${h}:${pad(m % 60)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}
