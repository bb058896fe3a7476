// The web client's conference: one WebSocket to the bridge (protocol v1, see
// docs/protocol.md), a publisher PeerConnection and one receiving PeerConnection
// whose m-lines the bridge maps to participants. Non-trickle ICE both ways.

export const PROTOCOL = 1;

function waitForIceGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class Conference extends EventTarget {
  constructor(url, room, name) {
    super();
    this.url = url;
    this.room = room;
    this.name = name;
    this.me = null;
    this.participants = new Map(); // id -> participant
    this.streams = [];             // [{mid, kind, participant}] of the latest offer
    this.localStream = null;
    this.pubPc = null;
    this.subPc = null;
    this.nextId = 1;
    this.pending = new Map();      // request id -> {resolve, reject}
    this.subChain = Promise.resolve();
  }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  request(msg) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...msg, id }));
    });
  }

  send(msg) { this.ws.send(JSON.stringify(msg)); }

  async connect() {
    this.ws = new WebSocket(this.url);
    await new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = () => reject(new Error("cannot reach the bridge"));
    });
    this.ws.onmessage = (ev) => this.onMessage(JSON.parse(ev.data));
    this.ws.onclose = () => this.emit("closed", {});
    this.keepalive = setInterval(() => this.send({ type: "ping" }), 20000);
    const welcome = await this.request({
      type: "join", protocol: PROTOCOL, room: this.room, name: this.name, client: "browser",
    });
    this.me = welcome.you;
    for (const p of welcome.participants) this.participants.set(p.id, p);
    this.emit("participants", {});
    return welcome;
  }

  onMessage(msg) {
    if (msg.re != null && this.pending.has(msg.re)) {
      const { resolve, reject } = this.pending.get(msg.re);
      this.pending.delete(msg.re);
      if (msg.type === "error") reject(Object.assign(new Error(msg.message), { code: msg.code }));
      else resolve(msg);
      return;
    }
    switch (msg.type) {
      case "participant_joined":
      case "participant_updated":
        this.participants.set(msg.participant.id, msg.participant);
        this.emit("participants", {});
        break;
      case "participant_left":
        this.participants.delete(msg.id);
        this.emit("participants", {});
        break;
      case "subscribe_offer":
        this.subChain = this.subChain.then(() => this.onSubscribeOffer(msg)).catch((e) =>
          this.emit("problem", { message: `receiving media: ${e.message}` }));
        break;
      case "media_reset":
        this.onMediaReset(msg.reason);
        break;
      case "error":
        this.emit("problem", { message: msg.message, code: msg.code });
        break;
      default:
        break;
    }
  }

  async publish(stream) {
    this.localStream = stream;
    if (this.pubPc) this.pubPc.close();
    const pc = new RTCPeerConnection();
    this.pubPc = pc;
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    pc.addEventListener("connectionstatechange", () => {
      if (pc === this.pubPc && pc.connectionState === "failed") this.publish(this.localStream);
    });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    const answer = await this.request({ type: "publish", sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    this.send({
      type: "set_media_state",
      mic_muted: !stream.getAudioTracks().some((t) => t.enabled),
      camera_on: stream.getVideoTracks().some((t) => t.enabled),
    });
  }

  async onSubscribeOffer(msg) {
    if (!this.subPc) {
      const pc = new RTCPeerConnection();
      this.subPc = pc;
      pc.addEventListener("track", () => this.emit("media", {}));
      pc.addEventListener("connectionstatechange", () => {
        if (pc === this.subPc && pc.connectionState === "failed") {
          pc.close();
          this.subPc = null;
          this.send({ type: "resubscribe" });
        }
      });
    }
    const pc = this.subPc;
    this.streams = msg.streams;
    await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForIceGathering(pc);
    this.send({ type: "subscribe_answer", sdp: pc.localDescription.sdp });
    this.emit("media", {});
  }

  async onMediaReset(reason) {
    this.emit("problem", { message: `media restarting: ${reason}` });
    if (this.subPc) this.subPc.close();
    this.subPc = null;
    this.subChain = Promise.resolve();
    if (this.localStream) await this.publish(this.localStream);
  }

  // participant id -> MediaStream of what we receive from them
  remoteStreams() {
    const byParticipant = new Map();
    if (!this.subPc) return byParticipant;
    const owner = new Map(this.streams.map((s) => [s.mid, s.participant]));
    for (const t of this.subPc.getTransceivers()) {
      const pid = owner.get(t.mid);
      if (!pid || !t.receiver.track) continue;
      if (!byParticipant.has(pid)) byParticipant.set(pid, []);
      byParticipant.get(pid).push(t.receiver.track);
    }
    return byParticipant;
  }

  async leave() {
    clearInterval(this.keepalive);
    try { this.send({ type: "leave" }); } catch (e) { /* already closed */ }
    if (this.pubPc) this.pubPc.close();
    if (this.subPc) this.subPc.close();
    this.ws.close();
  }
}
