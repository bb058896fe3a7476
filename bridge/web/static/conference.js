// The web client's conference: one WebSocket to the bridge (protocol v1, see
// salon/protocol.py and docs/protocol.md), a publisher PeerConnection and one
// receiving PeerConnection whose m-lines the bridge maps to participants.
// Non-trickle ICE both ways.
//
// Publishing: one PeerConnection with an audio and a video slot (transceivers) from the
// start; the microphone and the camera are put in and taken out with replaceTrack, so
// adding the camera never publishes anew. A publisher that does not reach "connected"
// within a bound (or loses its connection for that long) is torn down and published
// again by itself, at growing bounds; "publish-state" says idle, connecting or connected.
//
// The bridge decides everything (lobby, rights, polls...); this class keeps the room
// as the bridge last described it and emits an event whenever a part changes:
//   welcome, lobby-waiting, participants, lobby, chat, polls, files, notice,
//   media, refused {code, message, request}, problem {message}, ended {reason},
//   restarting (the bridge is restarting: the socket closes, resume the seat), closed.
// Requests other than join and publish are fire-and-forget here: their effect arrives
// as a room update (and an "ok"); a refusal arrives as an error carrying the request's id.

//
// Presenting (Ekranımı Paylaş): a second publishing PeerConnection for the content (a
// shared screen, window or tab, and the tab's sound), apart from the camera's, made
// after the bridge gave us the meeting's one presentation (present {active: true}).
// Content m-lines of the subscription are marked source "content": remoteContent()
// gives them, remoteStreams() only people.

export const PROTOCOL = 1;
const VIDEO_MAX_BITRATE = 1_200_000;  // a 720p camera well inside the guide's 4 Mbit/s
// Content: full resolution (no simulcast layers for a viewer to be given a small one of)
// at a low frame rate; 1080p text at this rate stays sharp.
const CONTENT_MAX_BITRATE = 2_500_000;
// Simulcast: three layers, highest first (Janus's default rid order, "hml"); each
// subscriber receives the one that fits the size it draws it at (layers.js).
const SIMULCAST = [
  { rid: "h", maxBitrate: VIDEO_MAX_BITRATE },
  { rid: "m", maxBitrate: 400_000, scaleResolutionDownBy: 2 },
  { rid: "l", maxBitrate: 120_000, scaleResolutionDownBy: 4 },
];
const KEEPALIVE_MS = 20000;
const PUBLISH_BOUNDS_MS = [12000, 20000, 30000];  // then the last, for every further try

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

export class RefusedError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Conference extends EventTarget {
  constructor(url, room) {
    super();
    this.url = url;
    this.room = room;
    this.token = null;
    this.myId = null;
    this.info = null;              // {address, title, policy, open_floor}
    this.meeting = null;
    this.admitted = false;
    this.participants = new Map(); // id -> participant, oneself included
    this.lobby = [];               // hosts: guests waiting, in arrival order
    this.chat = [];
    this.polls = new Map();        // id -> poll (with counts / my_answer when known)
    this.files = [];
    this.streams = [];             // [{mid, kind, participant}] of the latest offer
    this.layers = new Map();       // video mid -> simulcast layer last asked of the bridge
    this.outgoing = { audio: null, video: null };  // tracks we mean to send
    this.pubPc = null;
    this.pubSlots = null;          // {audio, video}: the publisher's transceivers
    this.publishState = "idle";    // idle | connecting | connected
    this.publishTries = 0;         // publishes since the last one that connected
    this.publishWatchdog = null;
    this.subPc = null;
    this.contentPc = null;         // our presentation's PeerConnection, while presenting
    this.iceServers = [];          // TURN with this seat's credentials, from the bridge
    this.nextId = 1;
    this.pending = new Map();      // request id -> {resolve, reject} (join, publish)
    this.sent = new Map();         // request id -> type (to name refusals)
    this.subChain = Promise.resolve();
    this.pubChain = Promise.resolve();
    this.closedByUs = false;
  }

  get me() { return this.participants.get(this.myId) || null; }
  get isHost() { return this.me?.role === "host"; }

  emit(type, detail = {}) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  // ---- the socket --------------------------------------------------------------

  async connect() {
    this.ws = new WebSocket(this.url);
    await new Promise((resolve, reject) => {
      this.ws.onopen = resolve;
      this.ws.onerror = () => reject(new RefusedError("unreachable", "cannot reach the bridge"));
    });
    this.ws.onmessage = (ev) => this.onMessage(JSON.parse(ev.data));
    this.ws.onclose = () => {
      clearInterval(this.keepalive);
      for (const { reject } of this.pending.values()) reject(new RefusedError("unreachable", "connection closed"));
      this.pending.clear();
      this.emit("closed", { byUs: this.closedByUs });
    };
    this.keepalive = setInterval(() => this.send({ type: "ping" }), KEEPALIVE_MS);
  }

  /** Send a request; its refusal (if any) comes back as a "refused" event. */
  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return null;
    const id = this.nextId++;
    this.sent.set(id, msg.type);
    if (this.sent.size > 200) this.sent.delete(this.sent.keys().next().value);
    this.ws.send(JSON.stringify({ ...msg, id }));
    return id;
  }

  /** A request whose direct reply we wait for (join, publish). */
  request(msg) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...msg, id }));
    });
  }

  /**
   * Enter the room: way = {name} (guest), {user, password} (Oturum Aç) or {token}
   * (resume). Resolves with the welcome or, for a guest, lobby_waiting.
   */
  async join(way) {
    const reply = await this.request({ type: "join", protocol: PROTOCOL, room: this.room, client: "browser", ...way });
    this.onEntry(reply);
    return reply;
  }

  onEntry(msg) {
    if (msg.token) this.token = msg.token;
    if (msg.type === "lobby_waiting") {
      this.myId = msg.you.id;
      this.admitted = false;
      this.emit("lobby-waiting", msg);
      return;
    }
    this.admitted = true;
    this.myId = msg.you.id;
    this.info = msg.room;
    this.meeting = msg.meeting;
    this.participants = new Map(msg.participants.map((p) => [p.id, p]));
    this.participants.set(msg.you.id, { ...this.participants.get(msg.you.id), ...msg.you });
    this.lobby = msg.lobby || [];
    this.chat = msg.chat || [];
    this.polls = new Map((msg.polls || []).map((p) => [p.id, p]));
    this.files = msg.files || [];
    this.iceServers = msg.ice_servers || [];
    this.emit("welcome", msg);
  }

  onMessage(msg) {
    if (msg.re != null && this.pending.has(msg.re)) {
      const { resolve, reject } = this.pending.get(msg.re);
      this.pending.delete(msg.re);
      if (msg.type === "error") reject(new RefusedError(msg.code, msg.message));
      else resolve(msg);
      return;
    }
    switch (msg.type) {
      case "welcome":  // a lobby guest admitted, or a seat taken again
      case "lobby_waiting":
        this.onEntry(msg);
        break;
      case "participant_joined":
      case "participant_updated":
        this.onParticipant(msg.participant);
        break;
      case "participant_left":
        this.participants.delete(msg.id);
        this.emit("participants", { left: msg.id, reason: msg.reason });
        break;
      case "lobby":
        this.onLobby(msg.waiting);
        break;
      case "chat":
        this.chat.push(msg);
        this.emit("chat", { message: msg });
        break;
      case "poll":
        this.onPoll(msg);
        break;
      case "poll_results":
        this.updatePoll(msg.id, { counts: msg.counts, total: msg.total });
        break;
      case "poll_answer":
        this.updatePoll(msg.id, { my_answer: msg.option });
        break;
      case "file_added":
        this.files.push(msg.file);
        this.emit("files", { added: msg.file });
        break;
      case "notice":
        this.emit("notice", { code: msg.code });
        break;
      case "denied":
        this.emit("ended", { reason: "denied" });
        break;
      case "meeting_ended":
        this.emit("ended", { reason: "meeting_ended" });
        break;
      case "bye":
        if (msg.reason === "restarting") {  // come back: the close that follows is a drop
          this.emit("restarting");
          break;
        }
        this.closedByUs = true;
        this.emit("ended", { reason: msg.reason });
        break;
      case "subscribe_offer":
        this.subChain = this.subChain.then(() => this.onSubscribeOffer(msg)).catch((e) =>
          this.emit("problem", { message: `receiving media: ${e.message}` }));
        break;
      case "media_reset":
        this.onMediaReset(msg.reason);
        break;
      case "ice_servers":  // fresh credentials: for PeerConnections made from now on
        this.iceServers = msg.servers;
        break;
      case "ok":  // a request was done; its effects arrive as their own messages
        this.sent.delete(msg.re);
        break;
      case "error":
        this.emit("refused", { code: msg.code, message: msg.message, request: this.sent.get(msg.re) || null });
        this.sent.delete(msg.re);
        break;
      default:
        break;
    }
  }

  onParticipant(p) {
    const before = this.participants.get(p.id);
    this.participants.set(p.id, p);
    this.emit("participants", { changed: p, before });
  }

  onLobby(waiting) {
    const known = new Set(this.lobby.map((g) => g.id));
    const arrived = waiting.filter((g) => !known.has(g.id));
    this.lobby = waiting;
    this.emit("lobby", { arrived });
  }

  onPoll(msg) {
    const before = this.polls.get(msg.id);
    this.polls.set(msg.id, { ...before, ...msg });
    const opened = msg.state === "open" && before?.state !== "open";
    this.emit("polls", { poll: this.polls.get(msg.id), opened });
  }

  updatePoll(id, fields) {
    const poll = this.polls.get(id);
    if (!poll) return;
    Object.assign(poll, fields);
    this.emit("polls", { poll });
  }

  // ---- meeting requests ----------------------------------------------------------

  setHand(raised) { return this.send({ type: "set_hand", raised }); }
  setMediaState(state) { return this.send({ type: "set_media_state", ...state }); }
  rename(name) { return this.send({ type: "rename", name }); }
  sendChat(text, to = null) { return this.send(to ? { type: "chat", text, to } : { type: "chat", text }); }
  answerPoll(poll, option) { return this.send({ type: "poll_answer", poll, option }); }
  admit(participant) { return this.send({ type: "admit", participant }); }
  deny(participant) { return this.send({ type: "deny", participant }); }
  lowerHand(participant) { return this.send({ type: "lower_hand", participant }); }
  setRight(participant, right, granted) { return this.send({ type: "set_right", participant, right, granted }); }
  mute(participant) { return this.send({ type: "mute", participant }); }
  remove(participant) { return this.send({ type: "remove", participant }); }
  createPoll(question, options) { return this.send({ type: "poll_create", question, options }); }
  openPoll(poll) { return this.send({ type: "poll_open", poll }); }
  closePoll(poll) { return this.send({ type: "poll_close", poll }); }
  showPollResults(poll, visible) { return this.send({ type: "poll_show_results", poll, visible }); }
  endMeeting() { return this.send({ type: "end_meeting" }); }

  // ---- publishing ------------------------------------------------------------------

  /**
   * Send exactly these tracks ({audio, video}, each a track or null). A kind that is
   * null is not sent (its slot sends nothing). Only the first publish, or one replacing
   * a dead PeerConnection, talks to the bridge; everything else is replaceTrack.
   */
  setOutgoing(tracks) {
    this.outgoing = { audio: tracks.audio || null, video: tracks.video || null };
    this.pubChain = this.pubChain.then(() => this.applyOutgoing()).catch((e) =>
      this.emit("problem", { message: `sending media: ${e.message}` }));
    return this.pubChain;
  }

  async applyOutgoing() {
    const alive = this.pubPc && !["failed", "closed"].includes(this.pubPc.connectionState);
    if (alive) {
      await this.pubSlots.audio.sender.replaceTrack(this.outgoing.audio);
      await this.pubSlots.video.sender.replaceTrack(this.outgoing.video);
      return;
    }
    if (!this.outgoing.audio && !this.outgoing.video) return;  // nothing to send yet
    await this.publish();
  }

  setPublishState(state) {
    if (this.publishState === state) return;
    this.publishState = state;
    this.emit("publish-state", { state });
  }

  async publish() {
    this.dropPublisher();
    const pc = this.newPeerConnection();
    this.pubPc = pc;
    this.setPublishState("connecting");
    this.watchPublisher(pc);
    const stream = new MediaStream();
    this.pubSlots = {
      audio: pc.addTransceiver("audio", { direction: "sendonly", streams: [stream] }),
      video: pc.addTransceiver("video", { direction: "sendonly", streams: [stream],
        sendEncodings: SIMULCAST.map((e) => ({ ...e })) }),
    };
    await this.pubSlots.audio.sender.replaceTrack(this.outgoing.audio);
    await this.pubSlots.video.sender.replaceTrack(this.outgoing.video);
    pc.addEventListener("connectionstatechange", () => this.onPublisherState(pc));
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    if (pc !== this.pubPc) return;  // superseded meanwhile
    // The kinds sent at once: a camera sent before its right comes is muted at Janus
    // only after its first packet, so that it can be shown once the right comes.
    const sending = ["audio", "video"].filter((kind) => this.outgoing[kind]);
    const answer = await this.request({ type: "publish", sdp: pc.localDescription.sdp, sending });
    if (pc !== this.pubPc) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  onPublisherState(pc) {
    if (pc !== this.pubPc) return;
    const state = pc.connectionState;
    if (state === "connected") {
      clearTimeout(this.publishWatchdog);
      this.publishTries = 0;
      this.setPublishState("connected");
    } else if (state === "failed") {
      this.republish("failed");
    } else if (state === "disconnected") {
      this.setPublishState("connecting");
      this.watchPublisher(pc);  // it may come back by itself; if not, publish anew
    }
  }

  /** Republish unless ``pc`` is connected within the current bound. */
  watchPublisher(pc) {
    clearTimeout(this.publishWatchdog);
    const bound = PUBLISH_BOUNDS_MS[Math.min(this.publishTries, PUBLISH_BOUNDS_MS.length - 1)];
    this.publishTries += 1;
    this.publishWatchdog = setTimeout(() => {
      if (pc === this.pubPc && pc.connectionState !== "connected") this.republish(`not connected after ${bound / 1000} s`);
    }, bound);
  }

  republish(why) {
    this.emit("problem", { message: `sending media: ${why}; publishing again` });
    this.dropPublisher();
    // Not behind the stuck attempt (its publish may never be answered): it finds
    // itself superseded when it wakes.
    this.pubChain = Promise.resolve();
    this.setOutgoing(this.outgoing);
  }

  dropPublisher() {
    clearTimeout(this.publishWatchdog);
    if (this.pubPc) this.pubPc.close();
    this.pubPc = null;
    this.pubSlots = null;
    this.setPublishState("idle");
  }

  // ---- presenting -------------------------------------------------------------------

  /**
   * Take the meeting's presentation and publish ``stream`` (one video track, and the
   * tab's audio track if it has one) on a PeerConnection of its own. Rejects with a
   * RefusedError (no_present_right, presentation_busy) if the bridge says no.
   */
  async startPresenting(stream) {
    await this.request({ type: "present", active: true });
    this.dropContent();
    const pc = this.newPeerConnection();
    this.contentPc = pc;
    const video = stream.getVideoTracks()[0];
    if (video && "contentHint" in video) video.contentHint = "detail";  // text stays sharp
    pc.addTransceiver(video, { direction: "sendonly", streams: [stream],
      sendEncodings: [{ maxBitrate: CONTENT_MAX_BITRATE }] });
    const audio = stream.getAudioTracks()[0];
    if (audio) pc.addTransceiver(audio, { direction: "sendonly", streams: [stream] });
    pc.addEventListener("connectionstatechange", () => {
      if (pc === this.contentPc) this.emit("content-state", { state: pc.connectionState });
    });
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    if (pc !== this.contentPc) return;
    const answer = await this.request({ type: "publish_content", sdp: pc.localDescription.sdp });
    if (pc !== this.contentPc) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  /** End one's presentation (tell = false: the bridge ended it already). */
  stopPresenting({ tell = true } = {}) {
    this.dropContent();
    if (tell) this.send({ type: "present", active: false });
  }

  stopPresentationOf(participant) { return this.send({ type: "stop_presenting", participant }); }

  dropContent() {
    if (this.contentPc) this.contentPc.close();
    this.contentPc = null;
  }

  // ---- receiving ---------------------------------------------------------------------

  async onSubscribeOffer(msg) {
    if (!this.subPc) {
      const pc = this.newPeerConnection();
      this.subPc = pc;
      pc.addEventListener("track", () => this.emit("media"));
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
    // Janus may give an m-line to another feed (or a new subscription starts on its
    // default layer): ask for every layer again.
    this.layers = new Map();
    await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForIceGathering(pc);
    this.send({ type: "subscribe_answer", sdp: pc.localDescription.sdp });
    this.emit("media");
  }

  /** Ask for the layers in ``wanted`` (mid -> "low" | "medium" | "high") that differ
   * from what was last asked on this subscription. */
  setVideoLayers(wanted) {
    const changed = {};
    for (const [mid, layer] of wanted) {
      if (this.layers.get(mid) !== layer) changed[mid] = layer;
    }
    if (!Object.keys(changed).length || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    for (const [mid, layer] of Object.entries(changed)) this.layers.set(mid, layer);
    this.send({ type: "video_layers", layers: changed });
  }

  async onMediaReset(reason) {
    this.emit("problem", { message: `media restarting: ${reason}` });
    if (this.contentPc) {  // the presentation stays ours: MyMedia publishes it again
      this.dropContent();
      this.emit("content-state", { state: "reset" });
    }
    if (this.subPc) this.subPc.close();
    this.subPc = null;
    this.subChain = Promise.resolve();
    this.dropPublisher();
    this.publishTries = 0;
    await this.setOutgoing(this.outgoing);
  }

  /** The bridge's TURN servers (if any) and nothing else: no public STUN server. */
  newPeerConnection() {
    return new RTCPeerConnection({ iceServers: this.iceServers });
  }

  // participant id -> [MediaStreamTrack] of what we receive from them: their camera and
  // microphone (source "camera"), or with source "content" what they present
  remoteStreams(source = "camera") {
    const byParticipant = new Map();
    if (!this.subPc) return byParticipant;
    const owner = new Map(this.streams.filter((s) => (s.source || "camera") === source)
      .map((s) => [s.mid, s.participant]));
    for (const t of this.subPc.getTransceivers()) {
      const pid = owner.get(t.mid);
      if (!pid || !t.receiver.track) continue;
      if (!byParticipant.has(pid)) byParticipant.set(pid, []);
      byParticipant.get(pid).push(t.receiver.track);
    }
    return byParticipant;
  }

  /** The presentation we receive: {participant, tracks}, or null. Only the presenter's
   * content while the bridge says they are presenting (a stopped one leaves nothing). */
  remoteContent() {
    for (const [pid, tracks] of this.remoteStreams("content")) {
      if (this.participants.get(pid)?.presenting) return { participant: pid, tracks };
    }
    return null;
  }

  async leave() {
    this.closedByUs = true;
    clearInterval(this.keepalive);
    try { this.send({ type: "leave" }); } catch (e) { /* already closed */ }
    this.close();
  }

  close() {
    this.closedByUs = true;
    clearInterval(this.keepalive);
    this.dropPublisher();
    this.dropContent();
    if (this.subPc) this.subPc.close();
    this.subPc = null;
    if (this.ws) this.ws.close();
  }
}
