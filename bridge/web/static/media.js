// One's own microphone and camera, and what of them goes out, within the rights the
// host granted. The guide's order: Sesimi Bağla connects the microphone; Web Kameramı
// Başlat shows a preview only to oneself; Paylaşımı Başlat makes it visible to others.
// Without a right the kind is not sent at all (the bridge also mutes it at Janus).

const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
// Ekranımı Paylaş: a screen, window or tab up to 1080p at a low frame rate (slides), with
// the tab's own sound if it has any (the browser offers it for tabs).
const DISPLAY = {
  video: { width: { max: 1920 }, height: { max: 1080 }, frameRate: { ideal: 15, max: 15 } },
  audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
};
const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };

function firstTrack(stream, kind) {
  let kept = null;
  for (const track of stream.getTracks()) {
    if (track.kind === kind && !kept) kept = track;
    else track.stop();
  }
  return kept;
}

export class LocalDevices {
  constructor() {
    this.mic = null;
    this.camera = null;
  }

  live(track) { return track && track.readyState === "live"; }

  async openMic() {
    if (!this.live(this.mic)) this.mic = firstTrack(await navigator.mediaDevices.getUserMedia({ audio: AUDIO }), "audio");
    return this.mic;
  }

  async openCamera() {
    if (!this.live(this.camera)) this.camera = firstTrack(await navigator.mediaDevices.getUserMedia({ video: VIDEO }), "video");
    return this.camera;
  }

  /** Both at once (one permission prompt), for rooms where everyone may speak and show. */
  async openBoth() {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: AUDIO, video: VIDEO });
    this.mic = stream.getAudioTracks()[0] || null;
    this.camera = stream.getVideoTracks()[0] || null;
  }

  closeMic() { if (this.mic) this.mic.stop(); this.mic = null; }
  closeCamera() { if (this.camera) this.camera.stop(); this.camera = null; }
  closeAll() { this.closeMic(); this.closeCamera(); }
}

/** Calls onLevel(0..1) about ten times a second with the track's loudness; returns stop(). */
export function watchLevel(track, onLevel) {
  const ctx = new AudioContext();
  const source = ctx.createMediaStreamSource(new MediaStream([track]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 2048;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const db = 10 * Math.log10(sum / samples.length + 1e-12);  // dBFS
    onLevel(Math.max(0, Math.min(1, (db + 60) / 60)));
  }, 100);
  return () => { clearInterval(timer); ctx.close(); };
}

/** A short, quiet tone through the speakers (the guide: test the speaker first). */
export async function playTestTone(ms = 900, hz = 440) {
  const ctx = new AudioContext();
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = hz;
  gain.gain.value = 0.15;
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  await new Promise((r) => setTimeout(r, ms));
  osc.stop();
  await ctx.close();
}

/**
 * What one's own media does, given the rights in the bridge's latest view of oneself.
 * Emits "change" whenever the buttons should be redrawn.
 */
export class MyMedia extends EventTarget {
  constructor(conf, devices = new LocalDevices()) {
    super();
    this.conf = conf;
    this.devices = devices;
    this.micOn = false;     // Sesimi Bağla pressed (and not muted since)
    this.webcamOn = false;  // Web Kameramı Başlat: local preview
    this.sharing = false;   // Paylaşımı Başlat: others see it
    this.screen = null;     // Ekranımı Paylaş: the shared screen's stream, while presenting
    conf.addEventListener("content-state", (ev) => {
      if (ev.detail.state === "reset" && this.screen) this.publishScreen();
    });
  }

  get presentRight() { return Boolean(this.me.present_right); }
  get presenting() { return this.screen !== null; }

  /** Ekranımı Paylaş: pick a screen, window or tab and present it. */
  async startPresenting() {
    if (!this.presentRight || this.screen) return;
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia(DISPLAY);
    } catch (e) {
      if (e.name !== "NotAllowedError") this.problem(e);  // cancelled: nothing to say
      return;
    }
    this.screen = stream;
    // The browser's own "stop sharing" bar ends the presentation too.
    for (const track of stream.getVideoTracks()) track.addEventListener("ended", () => this.stopPresenting());
    this.changed();
    await this.publishScreen();
  }

  async publishScreen() {
    const stream = this.screen;
    try {
      await this.conf.startPresenting(stream);
    } catch (e) {
      if (this.screen === stream) this.endScreen();
      this.dispatchEvent(new CustomEvent("refused", { detail: { code: e.code, message: e.message } }));
    }
    this.changed();
  }

  async stopPresenting({ tell = true } = {}) {
    if (!this.screen) return;
    this.endScreen();
    this.conf.stopPresenting({ tell });
    this.changed();
  }

  endScreen() {
    if (this.screen) for (const track of this.screen.getTracks()) track.stop();
    this.screen = null;
  }

  get me() { return this.conf.me || {}; }
  get audioRight() { return Boolean(this.me.audio_right); }
  get cameraRight() { return Boolean(this.me.camera_right); }

  changed() { this.dispatchEvent(new Event("change")); }

  sync() {
    return this.conf.setOutgoing({
      audio: this.audioRight && this.micOn ? this.devices.mic : null,
      video: this.cameraRight && this.sharing ? this.devices.camera : null,
    });
  }

  /** Admitted: start as the room wants. An open floor is a plain call: mic and camera on. */
  async start() {
    if (this.conf.info?.open_floor && this.audioRight && this.cameraRight) {
      try {
        await this.devices.openBoth();
        this.micOn = Boolean(this.devices.mic);
        this.webcamOn = this.sharing = Boolean(this.devices.camera);
      } catch (e) {
        this.problem(e);
      }
      this.conf.setMediaState({ mic_muted: !this.micOn, camera_on: this.sharing });
      this.changed();
      return this.sync();
    }
    // Nobody hears a microphone that is not connected: say so to the room.
    if (this.me.mic_muted === false) this.conf.setMediaState({ mic_muted: true });
    this.changed();
    return undefined;
  }

  problem(e) {
    this.dispatchEvent(new CustomEvent("problem", { detail: { message: e.message || String(e) } }));
  }

  async connectMic() {
    if (!this.audioRight) return;
    try {
      await this.devices.openMic();
    } catch (e) {
      this.problem(e);
      return;
    }
    this.micOn = true;
    this.conf.setMediaState({ mic_muted: false });
    this.changed();
    await this.sync();
  }

  async muteMic({ tell = true } = {}) {
    this.micOn = false;
    this.devices.closeMic();
    if (tell && this.me.mic_muted === false) this.conf.setMediaState({ mic_muted: true });
    this.changed();
    await this.sync();
  }

  async startWebcam() {
    if (!this.cameraRight) return;
    try {
      await this.devices.openCamera();
    } catch (e) {
      this.problem(e);
      return;
    }
    this.webcamOn = true;
    this.changed();
  }

  async stopWebcam() {
    const wasSharing = this.sharing;
    this.webcamOn = this.sharing = false;
    this.devices.closeCamera();
    if (wasSharing || this.me.camera_on) this.conf.setMediaState({ camera_on: false });
    this.changed();
    await this.sync();
  }

  async startSharing() {
    if (!this.cameraRight || !this.webcamOn) return;
    this.sharing = true;
    this.conf.setMediaState({ camera_on: true });
    this.changed();
    await this.sync();
  }

  async stopSharing() {
    this.sharing = false;
    this.conf.setMediaState({ camera_on: false });
    this.changed();
    await this.sync();
  }

  /** The bridge's view of oneself changed: follow rights taken back and a host's mute. */
  async follow(before, after) {
    if (!after) return;
    if (this.micOn && (!after.audio_right || (after.mic_muted && before && !before.mic_muted))) {
      await this.muteMic({ tell: !after.mic_muted });
    }
    if ((this.webcamOn || this.sharing) && !after.camera_right) await this.stopWebcam();
    // The host stopped the presentation or took the right back: the bridge ended it.
    if (this.screen && before?.presenting && !after.presenting) await this.stopPresenting({ tell: false });
    this.changed();
  }

  stopAll() {
    this.micOn = this.webcamOn = this.sharing = false;
    this.endScreen();
    this.devices.closeAll();
  }
}
