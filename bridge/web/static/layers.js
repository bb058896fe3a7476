// Simulcast layer choice: each remote video is received at the layer that fits the
// size it is drawn at (docs/protocol.md, "Simulcast and layers"). Every second, and
// whenever the window changes size, each video m-line of the receiving
// PeerConnection is matched to the <video> element showing its track, measured in
// device pixels, and the bridge is told of the layers that changed. A video not on
// the screen at all gets the low layer. Independent of how the stage lays tiles out.

const PERIOD_MS = 1000;

/** "low" up to 240 device pixels high, "medium" up to 480, "high" above. */
export function layerForHeight(px) {
  if (px <= 240) return "low";
  if (px <= 480) return "medium";
  return "high";
}

function drawnHeight(track) {
  for (const video of document.querySelectorAll("video")) {
    const stream = video.srcObject;
    if (stream && stream.getVideoTracks().includes(track)) {
      return video.getBoundingClientRect().height * (window.devicePixelRatio || 1);
    }
  }
  return 0;
}

export function wantedLayers(pc) {
  const wanted = new Map();
  if (!pc) return wanted;
  for (const t of pc.getTransceivers()) {
    const track = t.receiver && t.receiver.track;
    if (t.mid === null || !track || track.kind !== "video" || t.currentDirection === "inactive") continue;
    wanted.set(t.mid, layerForHeight(drawnHeight(track)));
  }
  return wanted;
}

export function watchLayers(conf) {
  const update = () => conf.setVideoLayers(wantedLayers(conf.subPc));
  const timer = setInterval(update, PERIOD_MS);
  window.addEventListener("resize", update);
  conf.addEventListener("media", () => setTimeout(update, 0));
  const stop = () => { clearInterval(timer); window.removeEventListener("resize", update); };
  conf.addEventListener("closed", stop);  // a reconnect makes a new Conference
  return stop;
}
