// Downloads with no secret in any URL. The seat's token (or a phone's companion code)
// goes only in a header, to ask the bridge for a single-use ticket for one path; the
// browser then fetches the ticketed link, which opens nothing once used or a minute old.
// So a shared school PC's history and download list keep nothing that resumes a seat.

export async function downloadWithTicket(path, authorization, filename = "") {
  const resp = await fetch("/api/tickets", {
    method: "POST",
    headers: { Authorization: authorization, "Content-Type": "application/json" },
    body: JSON.stringify({ path }),
    cache: "no-store",
  });
  if (!resp.ok) {
    const text = await resp.text().catch(() => "");
    throw Object.assign(new Error(text || `HTTP ${resp.status}`), { code: resp.status === 401 ? "bad_token" : "unknown" });
  }
  const { url } = await resp.json();
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.rel = "noreferrer";
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
}

/** Make a plain link (href: the resource, no secret) download through a ticket. */
export function ticketLink(anchor, path, authorization, filename, onError) {
  anchor.addEventListener("click", (ev) => {
    ev.preventDefault();
    downloadWithTicket(path, authorization(), filename).catch(onError);
  });
  return anchor;
}
