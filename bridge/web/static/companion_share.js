// Ekranımı Paylaş on the companion page opened on a laptop in the room: the laptop's
// screen (or a window or tab, with the tab's sound) is presented for the room's seat,
// under the room's right to present, as the meeting's one presentation. The bridge
// sends it on the seat's own content publisher at Janus, so the host's stop and a
// revoked right end it as they end any presentation; the room's screen shows it too.
// It ends when the laptop stops sharing, the host ends it, or the room leaves.

// As the web client's Ekranımı Paylaş (media.js): up to 1080p at a low frame rate.
const DISPLAY = {
  video: { width: { max: 1920 }, height: { max: 1080 }, frameRate: { ideal: 15, max: 15 } },
  audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
};
const MAX_BITRATE = 2_500_000;

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

export class LaptopShare {
  /** request(msg) resolves with the bridge's reply or rejects with its error's code;
   *  send(msg) needs no reply; changed() re-renders the page. */
  constructor(request, send, changed) {
    this.request = request;
    this.send = send;
    this.changed = changed;
    this.stream = null;
    this.pc = null;
  }

  /** Only a computer's browser can capture its screen (phones lack getDisplayMedia). */
  static possible() { return Boolean(navigator.mediaDevices?.getDisplayMedia); }

  get active() { return this.stream !== null; }

  /** Pick a screen, window or tab and present it for the room. Throws the bridge's code
   *  (presentation_busy, no_present_right) or "cancelled". */
  async start(iceServers) {
    if (this.stream) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia(DISPLAY);
    } catch {
      throw new Error("cancelled");
    }
    try {
      await this.request({ type: "present", active: true });
    } catch (e) {
      for (const track of stream.getTracks()) track.stop();
      throw e;
    }
    this.stream = stream;
    // The browser's own "stop sharing" bar ends the presentation too.
    for (const track of stream.getVideoTracks()) track.addEventListener("ended", () => this.stop());
    this.changed();
    const pc = new RTCPeerConnection({ iceServers });
    this.pc = pc;
    const video = stream.getVideoTracks()[0];
    if ("contentHint" in video) video.contentHint = "detail";  // text stays sharp
    pc.addTransceiver(video, { direction: "sendonly", streams: [stream],
      sendEncodings: [{ maxBitrate: MAX_BITRATE }] });
    const audio = stream.getAudioTracks()[0];
    if (audio) pc.addTransceiver(audio, { direction: "sendonly", streams: [stream] });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    if (pc !== this.pc) return;
    const answer = await this.request({ type: "publish_content", sdp: pc.localDescription.sdp });
    if (pc !== this.pc) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  /** Stop presenting (tell = false: the bridge ended it already, or the session ended). */
  stop({ tell = true } = {}) {
    if (!this.stream) return;
    for (const track of this.stream.getTracks()) track.stop();
    if (this.pc) this.pc.close();
    this.stream = this.pc = null;
    if (tell) this.send({ type: "present", active: false });
    this.changed();
  }
}
