// The landing page: go to a meeting by its address (a meeting is a room at an address).
document.getElementById("go").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const room = document.getElementById("room").value.trim().toLowerCase();
  location.href = `/r/${encodeURIComponent(room)}`;
});
