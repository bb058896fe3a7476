"""The room's own media as the conference sees it: camera and microphone behind the
switches the room state machine flips. Each (re)publish gets fresh aiortc tracks over
the same devices, so a rebuilt PeerConnection starts clean while the camera's clock
and the mic keep running."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack, RTCRtpSender

from appliance.devices.audio import Microphone
from appliance.devices.camera import Camera
from appliance.media.audio import MicrophoneTrack
from appliance.media.audio_send import OpusMicrophoneTrack
from appliance.media.capture import ThreadedMicrophone
from appliance.media.video import EncodedVideoTrack

log = logging.getLogger("salon.media")


class SelfView:
    """The self-view tile's frame source: the camera's own preview, a few times a second
    (the screen converts nothing; the camera back-end draws at tile size)."""

    PERIOD_S = 0.2

    def __init__(self, camera: Camera | None) -> None:
        self.camera = camera
        self._version = 0
        self._at = 0.0

    @property
    def version(self) -> int:
        now = time.monotonic()
        if now - self._at >= self.PERIOD_S:
            self._at = now
            self._version += 1
        return self._version

    def rgb(self, width: int, height: int) -> npt.NDArray[np.uint8] | None:
        return self.camera.preview_rgb(width, height) if self.camera is not None else None


class RoomMedia:
    encoded_video = True

    def __init__(self, camera: Camera | None, microphone: Microphone | None) -> None:
        self.camera = camera
        self.microphone = microphone
        self.mic_live = False
        self.camera_sending = False
        self.video: EncodedVideoTrack | None = None
        self.audio: OpusMicrophoneTrack | MicrophoneTrack | None = None
        self._retired_frames = {"video": 0, "audio": 0}  # sent by tracks that have stopped

    def new_tracks(self) -> tuple[MediaStreamTrack | None, MediaStreamTrack | None]:
        self.stop_tracks()
        if self.camera is not None:
            self.video = EncodedVideoTrack(self.camera)
            self.video.set_sending(self.camera_sending)
        if isinstance(self.microphone, ThreadedMicrophone):  # Opus from the capture thread
            self.audio = OpusMicrophoneTrack(self.microphone, live=self.mic_live)
        elif self.microphone is not None:
            self.audio = MicrophoneTrack(self.microphone, live=self.mic_live)
        return self.video, self.audio

    def bind_video_sender(self, sender: RTCRtpSender) -> None:
        if self.video is not None:
            self.video.bind_sender(sender)

    def set_mic_live(self, live: bool) -> None:
        self.mic_live = live
        if self.audio is not None:
            self.audio.set_live(live)

    def set_camera_sending(self, sending: bool) -> None:
        self.camera_sending = sending
        if self.video is not None:
            self.video.set_sending(sending)

    def request_keyframe(self) -> None:
        if self.video is not None:
            self.video.request_keyframe()

    def send_report(self) -> dict[str, Any]:
        """What the room sends and why (/healthz "send"): the camera's target from the
        link, the picture it sends at that rate, the pacer keeping video behind voice."""
        out: dict[str, Any] = {}
        if self.camera is not None:
            rung = self.camera.rung
            out["camera"] = {"bitrate": self.camera.bitrate,
                             "size": [rung.width, rung.height], "fps": rung.fps,
                             "rung_changes": self.camera.rung_changes}
        if self.video is not None:
            out["rate"] = dataclasses.asdict(self.video.rate.report())
            pacer = self.video.pacer
            if pacer is not None:
                out["pacer"] = {"rate_bps": pacer.rate_bps,
                                "queued_ms": round(pacer.queued_ms, 1),
                                "sent_paced": pacer.sent_paced,
                                "sent_direct": pacer.sent_direct, "dropped": pacer.dropped,
                                "overflows": pacer.overflows}
        return out

    def frames_sent(self) -> dict[str, int]:
        """Frames handed to aiortc since start, by kind (every publish's tracks)."""
        now = self._track_frames()
        return {kind: self._retired_frames[kind] + now[kind] for kind in now}

    def _track_frames(self) -> dict[str, int]:
        video = self.video.frames_sent if self.video is not None else 0
        audio = self.audio.frames_sent if self.audio is not None else 0
        return {"video": video, "audio": audio}

    def stop_tracks(self) -> None:
        self._retired_frames = self.frames_sent()
        for track in (self.video, self.audio):
            if track is not None:
                track.stop()
        self.video = self.audio = None

    def release(self) -> None:
        """Standby: no track, and the camera and the microphone closed at their back-ends
        (a closed device delivers nothing, whatever a switch says)."""
        self.mic_live = self.camera_sending = False
        self.stop_tracks()
        if self.camera is not None and self.camera.running:
            self.camera.stop()
        if self.microphone is not None and self.microphone.running:
            self.microphone.stop()

    @property
    def devices_open(self) -> dict[str, bool]:
        return {"camera": self.camera is not None and self.camera.running,
                "microphone": self.microphone is not None and self.microphone.running}

    def close(self) -> None:
        self.stop_tracks()
        if self.camera is not None:
            self.camera.stop()
