"""Back-ends by the names the provisioning file uses: the one place that maps a name to
a device class, like gpiozero's pin factories (`[camera] backend = "v4l2"`,
`[buttons] pin_factory = "mock"`). Each kind has a real back-end and a simulated one
shipped in the package.

Real back-ends touch their hardware libraries (picamera2, libasound, SDL, the GPIO
chip) only when a device opens, so every configuration can be built on any machine; a
device that cannot open reports it (camera health, microphone/speaker `fault`) instead
of stopping the appliance. A name the provisioning schema allows but this table lacks
is a build without that back-end: `DeviceUnavailable` names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from appliance.devices.alsa import AlsaMicrophone, AlsaSpeaker
from appliance.devices.audio import (
    Microphone,
    NullSpeaker,
    SimulatedMicrophone,
    Speaker,
    WavSpeaker,
)
from appliance.devices.blanking import Blanker, DrmBlanker, SimulatedBlanker, SysfsBlanker
from appliance.devices.camera import BitrateBounds, Camera
from appliance.devices.camera_packets import PacketReplayCamera
from appliance.devices.camera_picamera2 import Picamera2Camera
from appliance.devices.camera_simulated import SimulatedCamera
from appliance.devices.camera_v4l2 import V4l2Camera
from appliance.devices.clock import (
    UNSYNCED_FLAG,
    ClockCheck,
    SimulatedClock,
    SystemdClock,
    TrustedClock,
)
from appliance.devices.content import ContentSource, SimulatedContentSource
from appliance.devices.content_v4l2 import V4l2ContentSource
from appliance.devices.display import HeadlessDisplay, PygameDisplay
from appliance.provisioning.schema import AudioSettings, CameraSettings, ContentSettings


class DeviceUnavailable(RuntimeError):
    """A back-end named in the config cannot be used on this machine or in this build."""


class PinFactoryError(DeviceUnavailable):
    """The configured GPIO library cannot be used on this machine."""


# -- cameras ------------------------------------------------------------------------------


def _bounds(c: CameraSettings) -> BitrateBounds:
    return BitrateBounds(c.bitrate_min_kbps * 1000, c.bitrate_max_kbps * 1000)


def _simulated_camera(c: CameraSettings) -> Camera:
    b = _bounds(c)
    return SimulatedCamera(c.width, c.height, c.fps, b.maximum,
                           keyframe_interval=c.keyframe_interval_s, bounds=b)


def _packets(c: CameraSettings) -> Camera:
    """A simulated hardware encoder: pre-encoded H.264 handed over, nothing encoded."""
    b = _bounds(c)
    return PacketReplayCamera(
        c.width, c.height, c.fps, b.maximum, bounds=b, keyframe_interval=c.keyframe_interval_s,
        clip_path=Path(c.packet_clip) if c.packet_clip else None)


def _picamera2(c: CameraSettings) -> Camera:
    b = _bounds(c)
    return Picamera2Camera(
        c.width, c.height, c.fps, b.maximum, bounds=b,
        keyframe_interval=c.keyframe_interval_s, camera_index=c.camera_index,
        rotation=c.rotation, hflip=c.hflip, vflip=c.vflip, exposure=c.exposure)


def _v4l2(c: CameraSettings) -> Camera:
    b = _bounds(c)
    return V4l2Camera(
        c.device, c.width, c.height, c.fps, b.maximum, bounds=b,
        keyframe_interval=c.keyframe_interval_s, input_format=c.v4l2_format,
        rotation=c.rotation, hflip=c.hflip, vflip=c.vflip)


def _adapting(make: Callable[[CameraSettings], Camera]) -> Callable[[CameraSettings], Camera]:
    """The back-end, with the ladder of sizes and rates it may step down to."""
    def build(c: CameraSettings) -> Camera:
        camera = make(c)
        camera.set_ladder(min(c.min_height, c.height), min(c.min_fps, c.fps))
        return camera
    return build


CAMERAS: Mapping[str, Callable[[CameraSettings], Camera | None]] = {
    "none": lambda c: None,
    "simulated": _adapting(_simulated_camera),
    "packets": _adapting(_packets),
    "picamera2": _adapting(_picamera2),
    "v4l2": _adapting(_v4l2),
}

# -- content inputs (what the room presents) ---------------------------------------------


def _content_bounds(c: ContentSettings) -> BitrateBounds:
    return BitrateBounds(c.bitrate_min_kbps * 1000, c.bitrate_max_kbps * 1000)


def _simulated_content(c: ContentSettings, camera: CameraSettings) -> ContentSource:
    b = _content_bounds(c)
    return SimulatedContentSource(
        c.width, c.height, c.fps, b.maximum, b, slide_s=c.slide_s, plug_cycle_s=c.plug_cycle_s,
        keyframe_interval=c.keyframe_interval_s, encoder=c.encoder,
        encoder_threads=c.encoder_threads)


def _v4l2_content(c: ContentSettings, camera: CameraSettings) -> ContentSource:
    b = _content_bounds(c)
    return V4l2ContentSource(
        c.device, c.width, c.height, c.fps, b.maximum, b, input_format=c.v4l2_format,
        keyframe_interval=c.keyframe_interval_s, encoder=c.encoder,
        encoder_threads=c.encoder_threads,
        exclude=[camera.device] if camera.backend == "v4l2" else [])


CONTENT: Mapping[str, Callable[[ContentSettings, CameraSettings], ContentSource | None]] = {
    "none": lambda c, camera: None,
    "simulated": _simulated_content,
    "v4l2": _v4l2_content,
}

# -- microphones and speakers -----------------------------------------------------------

MICROPHONES: Mapping[str, Callable[[AudioSettings], Microphone]] = {
    # a test signal (tone, ticks or a WAV file) standing for the room
    "simulated": lambda a: SimulatedMicrophone(
        tone_hz=None if a.mic_wav else a.tone_hz, wav_path=a.mic_wav,
        ticks=a.mic_signal == "ticks"),
    "alsa": lambda a: AlsaMicrophone(
        a.mic_pcm, channels=a.mic_channels, sample_format=a.mic_format, rate=a.mic_rate,
        channels_used=a.mic_channels_used),
}

SPEAKERS: Mapping[str, Callable[[AudioSettings, Path], Speaker]] = {
    "null": lambda a, state_dir: NullSpeaker(),
    "wav": lambda a, state_dir: WavSpeaker(a.speaker_wav or state_dir / "speaker.wav"),
    "alsa": lambda a, state_dir: AlsaSpeaker(a.speaker_pcm, rate=a.speaker_rate),
}

# -- displays -----------------------------------------------------------------------------

Display = HeadlessDisplay | PygameDisplay

DISPLAYS: Mapping[str, Callable[[tuple[int, int] | None, int, bool | None], Display]] = {
    "headless": lambda size, index, fullscreen: HeadlessDisplay(size or (1920, 1080)),
    "pygame": lambda size, index, fullscreen: PygameDisplay(size, index, fullscreen),
}

# -- GPIO pin factories (shared by the buttons and the LEDs) ----------------------------


def _mock_factory() -> Any:
    from gpiozero.pins.mock import MockFactory
    return MockFactory()


def _lgpio_factory() -> Any:
    from gpiozero.pins.lgpio import LGPIOFactory
    return LGPIOFactory()


def _rpigpio_factory() -> Any:
    from gpiozero.pins.rpigpio import RPiGPIOFactory
    return RPiGPIOFactory()


def _native_factory() -> Any:
    from gpiozero.pins.native import NativeFactory
    return NativeFactory()


PIN_FACTORIES: Mapping[str, Callable[[], Any]] = {
    "mock": _mock_factory,
    "keyboard": _mock_factory,  # the mock factory driven from the demo's keyboard
    "lgpio": _lgpio_factory,
    "rpigpio": _rpigpio_factory,
    "native": _native_factory,
}


# -- the display's blanking and the clock's trust (a schedule's standby) --------------------

BLANKERS: Mapping[str, Callable[[], Blanker]] = {
    "drm": DrmBlanker,  # the Pi's default: DPMS on the screen SDL has open
    "sysfs": SysfsBlanker,
    "simulated": SimulatedBlanker,
    "none": Blanker,  # blanks nothing
}

CLOCKS: Mapping[str, Callable[[Path], ClockCheck]] = {
    "systemd": lambda state_dir: SystemdClock(),
    "trusted": lambda state_dir: TrustedClock(),
    "simulated": lambda state_dir: SimulatedClock(state_dir / UNSYNCED_FLAG),
}


# -- picking ------------------------------------------------------------------------------


T = TypeVar("T")


def _pick(table: Mapping[str, T], name: str, what: str) -> T:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(repr(n) for n in table)
        raise DeviceUnavailable(
            f"{what} back-end {name!r} is not available in this build (known: {known})"
        ) from None


def camera(settings: CameraSettings) -> Camera | None:
    """The room's camera, None when the provisioning file says it has none."""
    return _pick(CAMERAS, settings.backend, "camera")(settings)


def content_source(settings: ContentSettings, camera: CameraSettings) -> ContentSource | None:
    """The room's content input, None without one; `camera` so that "auto" never takes
    the room's own USB camera for an HDMI dongle."""
    return _pick(CONTENT, settings.backend, "content")(settings, camera)


def microphone(settings: AudioSettings) -> Microphone:
    """The bare microphone device (echo cancellation is wired on top: appliance.wiring)."""
    return _pick(MICROPHONES, settings.mic_backend, "microphone")(settings)


def speaker(settings: AudioSettings, state_dir: Path) -> Speaker:
    return _pick(SPEAKERS, settings.speaker_backend, "speaker")(settings, state_dir)


def display(backend: str, size: tuple[int, int] | None = None, display_index: int = 0,
            fullscreen: bool | None = None) -> Display:
    """A screen by back-end name: "pygame" (KMS/DRM or a desktop window) or "headless"."""
    return _pick(DISPLAYS, backend, "display")(size, display_index, fullscreen)


def blanker(backend: str) -> Blanker:
    """How the display is blanked in standby ([display] blanking)."""
    return _pick(BLANKERS, backend, "display blanking")()


def clock(backend: str, state_dir: Path) -> ClockCheck:
    """Whether the wall clock can be trusted ([schedule] clock)."""
    return _pick(CLOCKS, backend, "clock")(state_dir)


def pin_factory(name: str) -> Any:
    """A gpiozero pin factory by config name. Share one between the buttons and the LEDs."""
    build = _pick(PIN_FACTORIES, name, "GPIO pin factory")
    try:
        return build()
    except Exception as exc:  # ImportError, or the library failing to open the chip
        raise PinFactoryError(
            f"GPIO pin factory {name!r} is unavailable here: {exc}; "
            "set [buttons] pin_factory to \"mock\" or \"keyboard\" on a non-Pi machine"
        ) from exc
