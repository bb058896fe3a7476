// The landing page: go to a meeting by its address (a meeting is a room at an address).
import { LANGUAGES, language, onLanguageChange, setLanguage, translate } from "./i18n.js";

function renderLanguageButton() {
  const other = language() === "tr" ? "en" : "tr";
  const b = document.getElementById("language");
  b.textContent = LANGUAGES[other];
  b.lang = other;
}

document.getElementById("go").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const room = document.getElementById("room").value.trim().replace(/^\/+/, "").toLowerCase();
  location.href = `/r/${encodeURIComponent(room)}`;
});
document.getElementById("language").addEventListener("click", () => setLanguage(language() === "tr" ? "en" : "tr"));
onLanguageChange(renderLanguageButton);
translate();
renderLanguageButton();
