// The landing page: go to a meeting by its address (a meeting is a room at an address).
// The bridge also answers an address without a room with this page (status 404): it
// then says so at once and keeps the address to correct.
import { LANGUAGES, language, onLanguageChange, setLanguage, t, translate } from "./i18n.js";

function addressInPath() {
  let path = location.pathname;
  try { path = decodeURIComponent(path); } catch (e) { /* shown as it came */ }
  return path.replace(/^\/(r\/)?/, "").replace(/\/+$/, "");
}

const wrong = addressInPath();

function renderMissing() {
  const missing = document.getElementById("missing");
  missing.hidden = !wrong;
  if (!wrong) return;
  missing.textContent = t("index.missing", { address: `/${wrong}` });
  document.title = `${t("index.missing_title")} – Salon`;
}

function renderLanguageButton() {
  const other = language() === "tr" ? "en" : "tr";
  const b = document.getElementById("language");
  b.textContent = LANGUAGES[other];
  b.lang = other;
}

document.getElementById("go").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const room = document.getElementById("room").value.trim().replace(/^\/+/, "").toLowerCase();
  location.href = `/${encodeURIComponent(room)}`;
});
document.getElementById("language").addEventListener("click", () => setLanguage(language() === "tr" ? "en" : "tr"));
onLanguageChange(() => { renderLanguageButton(); renderMissing(); });
translate();
renderLanguageButton();
renderMissing();
if (wrong) {
  const input = document.getElementById("room");
  input.value = `/${wrong}`;
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", "missing");
}
