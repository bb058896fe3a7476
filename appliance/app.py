"""The one place that wires the appliance together and runs its loop.

Data walks one way: a press, a bridge event or a device event becomes a room event;
the pure state machine (appliance.room) decides; this module carries out the
commands (messages to the bridge, media switches, LEDs, notices) and draws the
screen from the resulting state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC
from pathlib import Path
from typing import Any

import pygame
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver

from appliance import day as day_mod
from appliance import room, view
from appliance.conference import client as conf
from appliance.conference.adapter import ConferenceAdapter
from appliance.conference.ice import IceChoice
from appliance.conference.link import LinkMonitor, report_to
from appliance.conference.trust import client_context, turn_context
from appliance.content import watch_link
from appliance.content_wiring import RoomContentInput
from appliance.devices import registry
from appliance.devices.buttons import ButtonName, TerminalKeys
from appliance.devices.camera import CameraHealth
from appliance.devices.controls import ControlPanel
from appliance.devices.display import QUIT_KEY
from appliance.diagnostics import DiagnosedScreenDriver
from appliance.local_media import RoomMedia, SelfView
from appliance.media.audio import RemoteAudioMixer
from appliance.media.audio_health import audio_report, watch_audio_faults
from appliance.media.decode_backlog import guard_decoder_backlog
from appliance.media.jitter import hand_audio_packets_on
from appliance.media.layers import DrawnSize, Layer, LayerChooser
from appliance.media.metrics import MediaMetrics
from appliance.media.slots import FrameSlot, PictureBell, receiver_keyframe_requester
from appliance.provisioning.loader import Settings
from appliance.provisioning.schema import DisplaySettings
from appliance.screen.layout import LayoutSettings
from appliance.screen.model import (
    ConfigProblem,
    NoticeQueue,
    Phase,
    ScreenModel,
    ScreenRole,
    content_key,
)
from appliance.screen.render import Renderer, ScreenDriver
from appliance.service.looplag import LoopLag
from appliance.service.runtime import ServiceRuntime
from appliance.standby import DayRunner
from appliance.wiring import build_room_audio
from salon import protocol as p

log = logging.getLogger("salon.appliance")
FRAME_INTERVAL_S = 1 / 30  # at the latest: clocks, notices and the self-view move
REFRESH_INTERVAL_S = 1 / 60  # at the soonest: a display shows no more than this
LOOP_SHOWN_INTERVAL_S = 1 / 40  # at the soonest, for a display shown from the event loop
COMPANION_REFRESH_S = 10 * 60  # at the latest; links live 15 minutes unless the bridge says
CONFIG_PROBLEMS_SHOWN_S = 30.0  # running on the last good config: the problem screen first


def layout_settings(d: DisplaySettings) -> LayoutSettings:
    """The provisioning file's layout choice as the renderer's threshold."""
    threshold = {"auto": d.speaker_view_from, "speaker": 0, "grid": 10_000}[d.layout]
    return LayoutSettings(speaker_view_from=threshold)


def retire(slot: FrameSlot) -> None:
    asyncio.get_running_loop().create_task(slot.stop())


@dataclass
class Receivers:
    """Remote media: one newest-frame slot per video track, the mixer for audio.

    Keyed by the track objects themselves: a rebuilt PeerConnection brings new tracks
    that carry the same ids (Janus names them after their m-line).
    """

    mixer: RemoteAudioMixer
    slots: dict[MediaStreamTrack, FrameSlot] = field(default_factory=dict)
    owner: dict[MediaStreamTrack, str] = field(default_factory=dict)  # track -> participant
    mids: dict[MediaStreamTrack, str] = field(default_factory=dict)  # video track -> m-line
    retired_video_frames: int = 0  # received by slots that have gone
    content_receiver: RTCRtpReceiver | None = None  # a presentation's video, if any
    bell: PictureBell = field(default_factory=PictureBell)  # any tile's new picture

    def update(self, streams: list[conf.RemoteStream]) -> None:
        current = {s.track: s for s in streams}
        self.content_receiver = next((s.receiver for s in streams if s.source == "content"
                                      and s.kind == "video"), None)
        for track in [t for t in self.slots if t not in current]:
            slot = self.slots.pop(track)
            self.retired_video_frames += slot.frames_received
            retire(slot)
        for track in [t for t in self.owner if t not in current]:
            self.owner.pop(track)
            self.mixer.remove_track(mixer_key(track))
        for track, s in current.items():
            # frames are keyed by whose they are: a presentation apart from the camera
            key = content_key(s.participant) if s.source == "content" else s.participant
            if s.kind == "video" and track not in self.slots:
                slot = FrameSlot(track, name=key, bell=self.bell,
                                 request_keyframe=receiver_keyframe_requester(s.receiver))
                slot.decoder_guard = guard_decoder_backlog(s.receiver, key)
                slot.start()
                self.slots[track] = slot
            elif s.kind == "audio" and track not in self.owner:
                hand_audio_packets_on(s.receiver)  # the mixer's jitter buffer does it right
                self.mixer.add_track(track, key=mixer_key(track))
            self.owner[track] = key
        self.mids = {t: s.mid for t, s in current.items() if s.kind == "video"}

    async def stop(self) -> None:
        """Stop the mixer and every slot. The slots are listed first: while one stops,
        the closing PeerConnections can still change them (``update``)."""
        with contextlib.suppress(Exception):
            await self.mixer.stop()
        for slot in list(self.slots.values()):
            await slot.stop()

    def drawn_by_mid(self) -> dict[str, DrawnSize]:
        return {self.mids[t]: slot.drawn for t, slot in self.slots.items() if t in self.mids}

    def frames_received(self) -> dict[str, int]:
        """Decoded frames since start, by kind, over every track the room has had."""
        video = self.retired_video_frames + sum(s.frames_received for s in self.slots.values())
        return {"video": video, "audio": self.mixer.totals.frames_in}

    def frames_by_participant(self) -> dict[str, FrameSlot]:
        return {self.owner[t]: slot for t, slot in self.slots.items() if t in self.owner}

    def report(self, names: dict[str, str]) -> dict[str, Any]:
        video = {
            names.get(pid, pid): {"frames": slot.frames_received, "size": slot.size}
            for pid, slot in self.frames_by_participant().items()
        }
        return {"video": video, "audio_sources": len(self.mixer.sources),
                "audio_underruns": self.mixer.underruns,
                "audio_chunks_played": self.mixer.chunks_played}


def mixer_key(track: MediaStreamTrack) -> str:
    return f"track-{id(track):x}"


class Appliance:
    def __init__(
        self, settings: Settings, state_dir: Path, *, version: str = "0",
        config_problems: tuple[ConfigProblem, ...] = (), using_last_good: bool = False,
        config_hash: str = "", runtime: ServiceRuntime | None = None,
        pin_factory: Any = None,
    ) -> None:
        self.s = settings
        self.state_dir = state_dir
        self.version = version
        self.config_problems = config_problems
        self.using_last_good = using_last_good
        self.config_hash = config_hash
        self.runtime = runtime or ServiceRuntime(
            version, health_port=settings.health.port if settings.health.enabled else None,
            health_host=settings.health.host, state_dir=state_dir,
        )
        # The room's state machine inside its day (the schedule); for every other policy
        # the day only passes events through.
        self.day = day_mod.Day()
        self.notices = NoticeQueue()
        # Bridge messages become room events there; room commands, bridge messages.
        self.conference = ConferenceAdapter(
            self.dispatch, self.runtime.health, show_notice=self._show_meeting_notice,
            streams_changed=self._streams_changed,
            trust_changed=self.report_meeting_state)
        self.companion_url: str | None = None
        self._client_task: asyncio.Task[None] | None = None
        self.pin_factory = pin_factory  # None: the one named by [buttons] pin_factory
        self.controls: ControlPanel | None = None
        self.terminal_keys: TerminalKeys | None = None
        self._config_screen_until = 0.0
        self.on_command: Callable[[room.Command], None] | None = None  # tests, LEDs, buttons
        self.day_runner: DayRunner | None = None  # [join] policy = "schedule"

    @property
    def state(self) -> room.RoomState:
        return self.day.room

    @property
    def client(self) -> conf.BridgeClient | None:
        return self.conference.client

    # ---- the state machine's road ------------------------------------------------

    def dispatch(self, event: room.Event) -> None:
        self.day, commands = day_mod.step(self.day, event)
        for command in commands:
            self.execute(command)
        if self.day_runner is not None:
            if isinstance(event, room.ButtonPressed):
                self.day_runner.touch()
            self.day_runner.after_change()
        self.report_meeting_state()

    def report_meeting_state(self) -> None:
        """/healthz and the unit's status; a bridge whose certificate is refused needs an
        admin: "error" (503) until the room is in again."""
        untrusted = (self.conference.untrusted_bridge is not None
                     and self.state.connection != "in_meeting")
        standby = day_mod.standby(self.day)
        self.runtime.health.set_meeting_state(
            "error" if untrusted else "standby" if standby else self.state.connection,
            room=self.s.bridge.room, name=self.s.display_name)
        self.runtime.status(self.status_line())

    def status_line(self) -> str:
        c = self.state.connection
        if day_mod.standby(self.day):
            return f"standby: {self.s.bridge.room}"
        if c == "in_meeting":
            return f"in meeting {self.s.bridge.room} as {self.s.display_name}"
        if self.conference.untrusted_bridge is not None:
            return f"bridge certificate refused: {self.conference.untrusted_bridge}"
        return f"{c.replace('_', ' ')}: {self.s.bridge.room}"

    def execute(self, command: room.Command) -> None:
        if isinstance(command, room.JoinMeeting):
            self.start_client()
        elif isinstance(command, room.LeaveMeeting):
            self.stop_client()
        elif isinstance(command, room.BridgeRequest):
            self.conference.carry_out(command)
        elif isinstance(command, room.SetMicLive):
            self.media.set_mic_live(command.live)
        elif isinstance(command, room.SetCameraSending):
            self.media.set_camera_sending(command.sending)
        elif isinstance(command, room.SetContentSending):
            self.content.set_sending(command.sending, self.client)
        elif isinstance(command, room.ShowNotice):
            self.notices.push(command.key, time.monotonic(), level=command.level)
        elif isinstance(command, room.LedCommand):
            self._show_led(command)
        if self.on_command is not None:
            self.on_command(command)

    def _show_led(self, c: room.LedCommand) -> None:
        if self.controls is None:
            return
        leds = self.controls.leds
        if isinstance(c, room.MicLed):
            leds.set_mic(c.color)
        elif isinstance(c, room.HandLed):
            leds.set_hand(c.pattern)
        elif isinstance(c, room.CameraLed):
            leds.set_camera(c.on)
        elif isinstance(c, room.StatusLed):
            leds.set_status(c.pattern)

    def _show_meeting_notice(self, key: str, args: tuple[tuple[str, str], ...]) -> None:
        self.notices.push(key, time.monotonic(), args=args)

    # ---- the conference ----------------------------------------------------------

    async def companion_loop(self) -> None:
        """Keep a fresh phone-companion link (shown as a QR code) while in the meeting."""
        while True:
            link: str | None = None
            refresh = 2.0
            if self.client is not None and self.state.connection == "in_meeting":
                try:
                    reply = await self.client.companion_link()
                    link = self.s.bridge.url.rstrip("/") + reply.path
                    # A fresh code well before this one expires (the bridge sets how long).
                    refresh = min(COMPANION_REFRESH_S, reply.expires_in_s * 2 / 3)
                except (TimeoutError, conf.SessionLost, ConnectionError) as exc:
                    log.info("no companion link: %s", exc)
            self.companion_url = link
            await asyncio.sleep(refresh)

    # ---- lifecycle ---------------------------------------------------------------

    def start_client(self) -> None:
        if self._client_task is not None and not self._client_task.done():
            return
        j = self.s.join
        secret = j.read_password() if j.mode == "device" else None
        credentials = (
            conf.Credentials(user=j.user, password=secret.get_secret_value() if secret else "")
            if j.mode == "device" else conf.Credentials(name=self.s.display_name)
        )
        b = self.s.bridge
        client = self.conference.client = conf.BridgeClient(
            b.url, b.room, credentials, self.media, self.conference.on_event,
            backoff=conf.Backoff(base_s=b.reconnect_initial_s, cap_s=b.reconnect_max_s),
            connect_timeout_s=b.connect_timeout_s,
            tls=client_context(b.ca_file, b.pin_sha256), pins=tuple(b.pin_sha256),
            ice=IceChoice(turn_context(b.ca_file)),
        )
        self.runtime.health.sections["media_path"] = \
            lambda: self.client.media_paths() if self.client else None
        self._client_task = asyncio.get_running_loop().create_task(client.run())

    def stop_client(self) -> None:
        if self._client_task is not None:
            self._client_task.cancel()
        self._client_task = None
        self.conference.client = None

    def screen_inputs(self) -> view.ViewInputs:
        state = self.state
        if self.using_last_good and time.monotonic() < self._config_screen_until:
            state = replace(state, connection="config_error")  # what to fix, then the room
        meeting = self.conference
        return view.ViewInputs(
            state=state, room_name=self.s.room.name, meeting_title=meeting.meeting_title,
            version=self.version, language=self.s.room.language, me=meeting.me,
            others=meeting.others, notices=self.notices.visible(time.monotonic()),
            self_view=self.s.display.self_view,
            self_view_position=self.s.display.self_view_position,
            config_problems=self.config_problems,
            running_last_good_config=self.using_last_good,
            reconnect_reason=meeting.reconnect_reason, now=time.time(),
            meeting=meeting.meeting,
            companion_url=self.companion_url if self.state.connection == "in_meeting" else None,
            day=self.day if self.day_runner is not None else None,
            zone=self.day_runner.zone if self.day_runner is not None else UTC,
            checks=self.day_runner.checks if self.day_runner is not None else (),
        )

    async def render_loop(self, driver: ScreenDriver) -> None:
        """Each remote picture drawn as it comes (at most 60 a second, 40 where the loop
        shows them, at least 30), on the screen thread (tiles' YUV→RGB and scaling, text,
        blits) so the event loop keeps the network and the audio moving; a window is
        shown from here, the display's thread. The screen thread waits for the next
        picture itself, so a picture costs the loop one wake-up (a busy loop wakes late;
        two a picture halved the rate on a Pi's budget), and drawing time does not lower
        the rate. A fixed 30 Hz grid showed 22–27 of a 30 fps stream's pictures a second,
        the bell 29 (`bench_pi_call.py`, docs/performance.md)."""
        loop = asyncio.get_running_loop()
        show_there = bool(getattr(self.display, "thread_safe", False))
        # A display shown from the loop (a window, KMS) costs the loop each picture: at
        # most 40 a second there (25 ms apart: a 30 fps stream's pictures still each get
        # their own, with 8 ms of jitter to spare).
        soonest = REFRESH_INTERVAL_S if show_there else LOOP_SHOWN_INTERVAL_S
        bell = self.receivers.bell

        def draw(last: float, seen: int, model: ScreenModel,
                 frames: dict[str, Any]) -> tuple[pygame.Surface | None, float, int]:
            wait = last + soonest - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            seen = bell.wait_after(seen, last + FRAME_INTERVAL_S)
            at = time.monotonic()
            surface = driver.render(model, frames)
            if surface is not None and show_there:
                driver.show(surface, frames)
                return None, at, seen
            return surface, at, seen

        with ThreadPoolExecutor(1, thread_name_prefix="screen") as screen_thread:
            last, seen = 0.0, bell.rings
            while self.read_keys():
                frames: dict[str, Any] = {**self.receivers.frames_by_participant(),
                                          view.SELF_ID: self.self_view}
                model = view.screen_model(self.screen_inputs())
                try:
                    surface, last, seen = await loop.run_in_executor(
                        screen_thread, draw, last, seen, model, frames)
                    if surface is not None:
                        driver.show(surface, frames)
                except Exception:
                    if model.phase is not Phase.CONFIG_ERROR:
                        raise
                    # A bad file must never stop the room: on to its own screen.
                    log.exception("cannot draw the configuration problems")
                    self._config_screen_until = 0.0
                    last = time.monotonic()
                if self.panels is not None:
                    self.panels.update(model, frames)
                self.runtime.watchdog.beat("screen")

    def read_keys(self) -> bool:
        """Display keys stand in for the buttons (make demo); False once the window closes."""
        for key in self.display.keys():  # noqa: SIM118 (a method, not a dict)
            if key == QUIT_KEY:
                return False
            if self.controls is not None:
                self.controls.key(key)
        return True

    def _camera_health(self, health: CameraHealth) -> None:
        self.runtime.health.set_device(
            "camera", "ok" if health.ok else "error", backend=self.s.camera.backend,
            detail=health.detail)
        if not health.ok:
            self.runtime.health.record_error(f"camera: {health.detail}")
        self.dispatch(room.CameraRecovered() if health.ok else room.CameraFailed(
            detail=health.detail))

    def open_controls(self) -> None:
        """Buttons and LEDs on one pin factory; a press reaches the room as an event on
        the loop (gpiozero calls from its own threads)."""
        loop = asyncio.get_running_loop()

        def pressed(name: ButtonName, long: bool) -> None:
            with contextlib.suppress(RuntimeError):  # a press as the loop closes
                loop.call_soon_threadsafe(self.dispatch, room.ButtonPressed(name, long))

        self.controls = ControlPanel(
            self.s.buttons, self.s.leds, pressed, pin_factory=self.pin_factory,
            hand_long_press=self.s.join.policy in ("button", "schedule"),
            camera_long_press=self.content.source is not None)
        state = self.controls.health()
        health = self.runtime.health
        health.set_device("buttons", state.state, backend=state.backend, detail=state.detail)
        health.sections["leds"] = self.controls.report
        health.sections["room"] = self.room_report
        for command in room.snapshot_commands(self.state):
            self.execute(command)
        if self.s.buttons.pin_factory == "keyboard" and self.controls.keyboard is not None:
            self.terminal_keys = TerminalKeys(self.controls.keyboard)
            self.terminal_keys.start(loop)

    def room_report(self) -> dict[str, Any]:
        """/healthz "room": what the room believes, why it is not in the meeting, and
        what its screen says."""
        s = self.state
        return {**asdict(s), "mic_live": room.mic_live(s), "camera_sending": room.camera_sending(s),
                "reason": self.conference.reconnect_reason or s.last_error,
                "screen": [t.text for t in self.renderer.texts]}

    def open_devices(self) -> None:
        d = self.s.display
        self.display = registry.display(d.backend, (d.width, d.height), fullscreen=d.fullscreen)
        self.renderer = Renderer((d.width, d.height), self.s.room.language,
                                 settings=layout_settings(d),
                                 role=ScreenRole.PEOPLE if d.second_display else ScreenRole.SINGLE)
        self.panels: ScreenDriver | None = None
        if d.second_display:  # chat, participants, poll and files on the second screen
            second = registry.display(d.backend, (d.width, d.height), display_index=1,
                                  fullscreen=d.fullscreen)
            self.panels = ScreenDriver(
                Renderer((d.width, d.height), self.s.room.language, role=ScreenRole.PANELS),
                second)
        camera = registry.camera(self.s.camera)
        if camera is not None:  # a failing camera puts the room into audio only, and back
            camera.add_health_listener(self._camera_health, asyncio.get_running_loop())
        # The echo canceller's reference is wired in: exactly the PCM the speaker is handed.
        microphone, mixer = build_room_audio(self.s, self.state_dir)
        self.media = RoomMedia(camera, microphone)
        self.content = RoomContentInput(
            registry.content_source(self.s.content, self.s.camera), self.dispatch)
        self.self_view = SelfView(camera)
        self.receivers = Receivers(mixer)
        self.layers = LayerChooser(self.receivers.drawn_by_mid, self._ask_layers)
        h = self.runtime.health
        simulated = self.s.camera.backend in ("simulated", "packets")
        h.set_device("camera", "simulated" if simulated else "ok",
                     backend=self.s.camera.backend)
        h.set_device("microphone", "ok", backend=self.s.audio.mic_backend)
        h.set_device("speaker", "ok", backend=self.s.audio.speaker_backend)
        watch_audio_faults(h, microphone, mixer)  # an ALSA device is "error" while it fails
        h.set_device("display", "ok", backend=d.backend)
        h.registry.register(MediaMetrics(self.media.frames_sent, self.receivers.frames_received,
                                         mixer))

    async def run(self) -> None:
        async with self.runtime as svc:
            svc.health.set_config(digest=self.config_hash, valid=not self.config_problems,
                                  source="last-known-good" if self.using_last_good else "boot",
                                  error="; ".join(f"{x.file}:{x.line}: {x.field}: {x.message}"
                                                  for x in self.config_problems)[:500])
            self.open_devices()
            if svc.server is not None:
                svc.server.screen_png = self.display.snapshot_png
            names = lambda: {pid: x.name for pid, x in self.conference.others.items()}  # noqa: E731
            svc.health.sections["media"] = lambda: self.receivers.report(names())
            svc.health.sections["send"] = self.media.send_report
            svc.health.sections["audio"] = lambda: audio_report(
                self.media.microphone, self.receivers.mixer, self.s.audio)
            # On the appliance's own loopback only: lets an admin open the phone page too.
            svc.health.sections["companion"] = lambda: {"url": self.companion_url}
            driver = DiagnosedScreenDriver(self.renderer, self.display)
            svc.health.sections["diagnostics"] = lambda: driver.report(names())
            svc.watchdog.register_heartbeat("screen", max_age_s=5.0)
            self.receivers.mixer.start()
            self.open_controls()
            if self.config_problems:  # logged by the CLI, which read the file
                self._config_screen_until = time.monotonic() + CONFIG_PROBLEMS_SHOWN_S
                self.dispatch(room.ConfigFailed(using_last_good=self.using_last_good))
            following = self.start_day() if self.s.join.policy == "schedule" else []
            self.dispatch(room.Started(policy=self.s.join.policy,
                                       camera_on_grant=self.s.camera.start_on_grant,
                                       present_on_plug=self.s.content.present_on_plug))
            self.content.open(asyncio.get_running_loop())  # a laptop already plugged in asks now
            svc.health.sections["content"] = self.content.report
            svc.ready(self.status_line())
            companion = (asyncio.create_task(self.companion_loop())
                         if self.s.companion.enabled else None)
            link = asyncio.create_task(
                LinkMonitor().run(self.peer_connections, report_to(svc.health)))
            lag = LoopLag()
            svc.health.sections["loop"] = lag.report
            lag_task = asyncio.create_task(lag.run())
            content_link = asyncio.create_task(watch_link(
                lambda: self.receivers.content_receiver,
                lambda enough: self.dispatch(room.ContentBandwidth(enough=enough))))
            layers_task = asyncio.create_task(self.layers.run())
            try:
                await self.render_loop(driver)
            finally:
                for task in following:
                    task.cancel()
                link.cancel()
                lag_task.cancel()
                content_link.cancel()
                layers_task.cancel()
                if companion is not None:
                    companion.cancel()
                await self.shutdown()

    def start_day(self) -> list[asyncio.Task[None]]:
        """Follow the schedule: the clock, the bridge's schedule and standby (standby.py)."""
        sch = self.s.schedule
        self.day_runner = runner = DayRunner(
            self.s, self.state_dir, self.dispatch, lambda: self.day, self.media,
            self.receivers.mixer, self.runtime.health, self.someone_talking,
            registry.clock(sch.clock, self.state_dir), registry.blanker(self.s.display.blanking),
            screens=lambda: (self.display, *((self.panels.display,) if self.panels else ())))
        self.day = replace(self.day, settings=runner.settings())
        self.runtime.health.sections["schedule"] = runner.report
        return [asyncio.create_task(runner.run()), asyncio.create_task(runner.fetch_loop())]

    def _streams_changed(self, streams: list[conf.RemoteStream]) -> None:
        self.receivers.update(streams)
        self.layers.forget()  # m-lines may be new or carry other feeds: ask again

    def _ask_layers(self, layers: dict[str, Layer]) -> None:
        if self.client is not None:
            self.client.send_soon(p.VideoLayers(type="video_layers", layers=layers))

    def someone_talking(self) -> bool:
        me, others = self.conference.me, self.conference.others
        return (me is not None and me.talking) or any(x.talking for x in others.values())

    def peer_connections(self) -> tuple[RTCPeerConnection | None, RTCPeerConnection | None]:
        """The bridge client's (publishing, receiving) PeerConnections, while it has them."""
        return self.client.peer_connections() if self.client is not None else (None, None)

    async def shutdown(self) -> None:
        self.stop_client()
        await self.receivers.stop()
        self.media.close()
        self.content.close()
        self.display.close()
        if self.panels is not None:
            self.panels.display.close()  # type: ignore[attr-defined]
        if self.terminal_keys is not None:
            self.terminal_keys.close()
        if self.controls is not None:
            self.controls.close()
