"""The provisioning file's schema: one frozen pydantic model per TOML table.

Strict on purpose: TOML already has types, so `fps = "30"` is an admin's
mistake worth reporting, not something to coerce. Every table forbids unknown
keys so a typo never silently falls back to a default. Cross-field rules
(pins used twice, secrets, ranges that depend on each other) live in
`appliance.provisioning.checks`, which can point at the exact key's line.

Only pydantic and the standard library are imported here: `salon-appliance
check-config` runs on an admin's laptop with a plain `pip install salon`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from appliance.provisioning.report import say
from appliance.provisioning.words import Language, Phrase

JoinMode = Literal["device", "guest"]
JoinPolicy = Literal["power-on", "button", "schedule"]
CameraBackend = Literal["simulated", "packets", "picamera2", "v4l2", "none"]
ContentBackend = Literal["none", "simulated", "v4l2"]
MicBackend = Literal["simulated", "alsa"]
SpeakerBackend = Literal["wav", "alsa", "null"]
DisplayBackend = Literal["headless", "pygame"]
PinFactoryName = Literal["native", "lgpio", "rpigpio", "mock", "keyboard"]
Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]

#: BCM GPIO numbers usable on the 40-pin header (0 and 1 are the HAT EEPROM bus).
Pin = Annotated[int, Field(ge=2, le=27)]
SampleRate = Literal[16000, 32000, 44100, 48000]

#: Set in the validation context by the loader: the directory of the file being
#: read, so relative paths mean "next to the config file".
BASE_DIR_KEY = "base_dir"


def invalid(text: Phrase, expected: str, suggestion: str = "") -> PydanticCustomError:
    """A validation error the loader turns into a ConfigProblem with these parts (`text`
    a phrase of the screen's catalogue, appliance.screen.i18n_config)."""
    return PydanticCustomError(
        "salon_invalid", text.key,
        {"phrase": text, "expected": expected, "suggestion": suggestion},
    )


def quoted(value: str) -> str:
    """A string as TOML writes it, for messages."""
    return json.dumps(value, ensure_ascii=False)


def resolve_path(value: str, info: ValidationInfo) -> str:
    """Expand ${CREDENTIALS_DIRECTORY} (systemd LoadCredential=) and make relative paths
    relative to the config file's directory."""
    if "$CREDENTIALS_DIRECTORY" in value or "${CREDENTIALS_DIRECTORY}" in value:
        creds = os.environ.get("CREDENTIALS_DIRECTORY")
        if creds:
            value = value.replace("${CREDENTIALS_DIRECTORY}", creds)
            value = value.replace("$CREDENTIALS_DIRECTORY", creds)
        return value  # left unexpanded: the file check reports it when it matters
    path = Path(value).expanduser()
    base = (info.context or {}).get(BASE_DIR_KEY)
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return str(path)


class Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)


class RoomSettings(Section):
    """[room] — who this box is in the meeting."""

    name: str = Field(min_length=1, max_length=80)
    """Display name shown to the host and on the room's screen,
    e.g. "TOPLANTI ODASI 1 – ANKARA MEM"."""
    language: Language = "tr"
    """Language of the room's screen and notices."""

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.strip() or any(ord(c) < 32 for c in value):
            raise invalid(say("room_name_invisible"),
                          "a non-empty quoted string without line breaks")
        return value.strip()


class BridgeSettings(Section):
    """[bridge] — where the meeting service is and which room to enter."""

    url: str
    """Base URL of the Salon bridge, http:// or https:// (https outside a lab)."""
    room: str
    """The meeting room's address on the bridge, e.g. "testbim" for /testbim."""
    ca_file: str | None = None
    """PEM file of a private CA that signed the bridge's certificate (instead of the
    system's CAs)."""
    pin_sha256: list[str] = Field(default=[], max_length=8)
    """Accepted public keys of the bridge's certificate: base64 SHA-256 of its
    SubjectPublicKeyInfo (`openssl x509 -pubkey -noout | openssl pkey -pubin -outform
    der | openssl dgst -sha256 -binary | base64`). Without ca_file a matching key is
    trusted on its own (a self-signed certificate); with it, both must hold."""
    connect_timeout_s: float = Field(default=10.0, ge=1, le=120)
    reconnect_initial_s: float = Field(default=1.0, ge=0.1, le=60)
    """First reconnect delay; doubles with jitter after every failed attempt."""
    reconnect_max_s: float = Field(default=30.0, ge=1, le=600)
    """Ceiling of the reconnect delay."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        expected = "an http:// or https:// URL with a host, e.g. \"https://salon.example.org\""
        parts = urlsplit(value.strip())
        url = quoted(value)  # the loader masks any user name and password in it
        if parts.scheme not in ("http", "https"):
            hint = f"url = {quoted('https://' + value.strip())}" if "://" not in value else ""
            raise invalid(say("url_not_http", url=url), expected, hint)
        if not parts.hostname:
            raise invalid(say("url_no_host", url=url), expected)
        if parts.username is not None or parts.password is not None:
            raise invalid(say("url_credentials", url=url), expected,
                          "remove them: a device account signs in with [join] user and "
                          "password_file")
        if parts.query or parts.fragment:
            raise invalid(say("url_query", url=url), expected,
                          f"url = {quoted(f'{parts.scheme}://{parts.netloc}{parts.path}')}")
        try:
            _ = parts.port
        except ValueError:
            raise invalid(say("url_bad_port", url=url), expected) from None
        return value.strip().rstrip("/")

    @field_validator("room")
    @classmethod
    def _room_address(cls, value: str) -> str:
        expected = "the room's address: letters, digits, '-' or '_', e.g. \"testbim\""
        slug = value.strip()
        if "://" in slug:
            tail = urlsplit(slug).path.strip("/").split("/")[-1]
            raise invalid(say("room_full_url"), expected,
                          f"put the site in url and room = \"{tail}\"")
        if slug.startswith("/"):
            raise invalid(say("room_leading_slash"), expected,
                          f"room = \"{slug.strip('/')}\"")
        ok = slug and len(slug) <= 64 and slug[0].isalnum() and all(
            c.isascii() and (c.isalnum() or c in "-_") for c in slug)
        if not ok:
            raise invalid(say("room_bad_address", value=quoted(value)), expected)
        return slug

    @field_validator("ca_file")
    @classmethod
    def _ca_path(cls, value: str, info: ValidationInfo) -> str:
        return resolve_path(value, info)

    @field_validator("pin_sha256")
    @classmethod
    def _pins(cls, value: list[str]) -> list[str]:
        expected = "base64 of a 32-byte SHA-256, 44 characters ending in \"=\""
        for pin in value:
            try:
                raw = base64.b64decode(pin.removeprefix("sha256/"), validate=True)
            except (ValueError, binascii.Error):
                raw = b""
            if len(raw) != 32:
                raise invalid(say("pin_not_sha256", value=quoted(pin)), expected)
        return [pin.removeprefix("sha256/") for pin in value]


class JoinSettings(Section):
    """[join] — how the box signs in and when it joins."""

    mode: JoinMode = "guest"
    """"guest": join by name and wait for the host to admit the room; "device":
    sign in with the room's own account."""
    user: str | None = Field(default=None, min_length=1, max_length=128)
    """Device account's user name (device mode)."""
    password_file: str | None = None
    """File holding the device password, readable only by the service."""
    password: SecretStr | None = None
    """Inline password (discouraged: anyone holding the SD card can read it)."""
    guest_name: str | None = Field(default=None, min_length=1, max_length=80)
    """Name used in guest mode; defaults to [room] name."""
    policy: JoinPolicy = "power-on"
    """"power-on": join at start and stay; "button": long press on the hand
    button joins and leaves; "schedule": follow the room's schedule on the bridge
    ([schedule]), a long press still joins and leaves by hand."""

    @field_validator("password_file")
    @classmethod
    def _secret_path(cls, value: str, info: ValidationInfo) -> str:
        return resolve_path(value, info)

    def read_password(self) -> SecretStr | None:
        """The device password: inline, or read from password_file now (so a rotated
        file is picked up on the next join). Trailing newlines are not part of it."""
        if self.password is not None:
            return self.password
        if self.password_file is None:
            return None
        text = Path(self.password_file).read_text(encoding="utf-8")
        return SecretStr(text.rstrip("\r\n"))


class CameraSettings(Section):
    """[camera] — the room camera; bitrate follows the receiver within bounds."""

    backend: CameraBackend = "picamera2"
    device: str = "/dev/video0"
    """V4L2 device node (backend "v4l2")."""
    camera_index: int = Field(default=0, ge=0, le=7)
    """Which libcamera camera (backend "picamera2")."""
    v4l2_format: Literal["auto", "h264", "mjpeg", "yuyv"] = "auto"
    """Camera output to use with V4L2; "auto" prefers H.264, then MJPEG."""
    width: int = Field(default=1280, ge=160, le=3840)
    height: int = Field(default=720, ge=120, le=2160)
    fps: int = Field(default=30, ge=1, le=60)
    bitrate_min_kbps: int = Field(default=300, ge=50, le=20000)
    bitrate_max_kbps: int = Field(default=2500, ge=50, le=20000)
    min_height: int = Field(default=180, ge=90, le=2160)
    """On a congested link the camera sends smaller pictures (half, then a quarter of
    its size), never fewer lines than this; min_height = height keeps the size."""
    min_fps: int = Field(default=15, ge=1, le=60)
    """… and at half its frame rate, never below this; min_fps = fps keeps the rate."""
    keyframe_interval_s: float = Field(default=2.0, ge=0.5, le=10)
    rotation: Literal[0, 90, 180, 270] = 0
    hflip: bool = False
    vflip: bool = False
    exposure: Literal["normal", "short", "long"] = "normal"
    packet_clip: str | None = None
    """Backend "packets": a clip saved by `PacketClip.save` (encoded at start without one)."""
    start_on_grant: bool = False
    """true: the camera goes live as soon as the host grants camera rights; false: it
    waits for a press of the camera button in the room (nobody is put on camera unawares)."""

    @field_validator("packet_clip")
    @classmethod
    def _clip_path(cls, value: str, info: ValidationInfo) -> str:
        return resolve_path(value, info)


class ContentSettings(Section):
    """[content] — what the room presents: an HDMI input through a USB capture dongle."""

    backend: ContentBackend = "none"
    """"v4l2": a UVC HDMI capture dongle; "simulated": a slide deck (tests, make demo);
    "none": the room presents nothing of its own."""
    device: str = "auto"
    """The dongle's V4L2 node, best a stable name from /dev/v4l/by-id/; "auto": the
    first UVC capture device that is not [camera] device."""
    v4l2_format: Literal["auto", "mjpeg", "yuyv"] = "auto"
    """What to ask the dongle for; "auto" tries MJPEG, then YUYV."""
    width: int = Field(default=1920, ge=320, le=3840)
    height: int = Field(default=1080, ge=240, le=2160)
    fps: int = Field(default=5, ge=1, le=30)
    """Content is mostly still: a few frames a second keep text sharp at a low bitrate."""
    bitrate_min_kbps: int = Field(default=300, ge=50, le=20000)
    bitrate_max_kbps: int = Field(default=2000, ge=50, le=20000)
    keyframe_interval_s: float = Field(default=10.0, ge=1, le=60)
    encoder: Literal["auto", "v4l2m2m", "x264"] = "auto"
    """"auto": the Pi 4's hardware encoder where present, else x264; or either alone."""
    encoder_threads: int = Field(default=2, ge=1, le=4)
    """Threads x264 may use (the hardware encoder uses none of the ARM cores)."""
    present_on_plug: bool = True
    """Plugging a laptop in asks to present (a long press on the camera button always does)."""
    slide_s: float = Field(default=5.0, ge=0.5, le=600)
    """Backend "simulated": seconds per slide."""
    plug_cycle_s: float = Field(default=0.0, ge=0, le=3600)
    """Backend "simulated": plug and unplug by itself every this many seconds; 0 never
    (it stays plugged in)."""


class AudioSettings(Section):
    """[audio] — microphone array, speaker and the processing between them."""

    mic_backend: MicBackend = "alsa"
    mic_pcm: str = Field(default="default", min_length=1)
    mic_channels: int = Field(default=1, ge=1, le=16)
    """Channels the capture device delivers (e.g. 6 for a ReSpeaker USB array)."""
    mic_format: Literal["S16_LE", "S24_LE", "S32_LE"] = "S16_LE"
    mic_rate: SampleRate = 48000
    mic_channels_used: list[int] = Field(default_factory=list)
    """Channel indexes averaged into the mono signal sent; empty means all."""
    tone_hz: float = Field(default=440.0, ge=20, le=20000)
    """Simulated microphone: the tone's frequency."""
    mic_signal: Literal["tone", "ticks"] = "tone"
    """Simulated microphone: the tone steadily, or ticks (a 5 ms burst of it at every
    whole second of the wall clock, for measuring mouth-to-ear latency)."""
    mic_wav: str | None = None
    """Simulated microphone: loop this WAV file instead of the tone."""
    simulated_mic_processing: bool = False
    """Simulated microphone: pass it through the same processing an array gets
    (echo_cancellation, noise_suppression, high_pass), so a benchmark counts the whole
    appliance. Off by default: noise suppression removes a steady test tone."""
    speaker_backend: SpeakerBackend = "alsa"
    speaker_pcm: str = Field(default="default", min_length=1)
    speaker_rate: SampleRate = 48000
    speaker_wav: str | None = None
    """WAV file the "wav" speaker back-end records to."""
    volume: int = Field(default=80, ge=0, le=100)
    echo_cancellation: bool = True
    noise_suppression: bool = True
    high_pass: bool = True
    array_has_aec: bool = False
    """The array cancels echo itself: software echo cancellation is switched off."""

    @field_validator("mic_wav", "speaker_wav")
    @classmethod
    def _wav_path(cls, value: str, info: ValidationInfo) -> str:
        return resolve_path(value, info)

    @property
    def software_aec(self) -> bool:
        """Whether the appliance runs its own echo canceller."""
        return self.echo_cancellation and not self.array_has_aec


class DisplaySettings(Section):
    """[display] — the room's screen(s)."""

    backend: DisplayBackend = "pygame"
    width: int = Field(default=1920, ge=320, le=7680)
    height: int = Field(default=1080, ge=240, le=4320)
    fullscreen: bool = True
    layout: Literal["auto", "speaker", "grid"] = "auto"
    speaker_view_from: int = Field(default=10, ge=2, le=25)
    """With layout "auto": a grid for fewer remote people, the active speaker large with a
    filmstrip from this many on (a grid of many is unreadable across a room)."""
    self_view: bool = True
    self_view_position: Corner = "bottom-right"
    second_display: bool = False
    """Put chat, participants, polls and files on a second screen."""
    blank_after_min: int = Field(default=10, ge=0, le=1440)
    """In standby, blank the display (DPMS) after this many idle minutes; 0 never.
    A button press or the next meeting wakes it."""
    blanking: Literal["drm", "sysfs", "simulated", "none"] = "drm"
    """How the display is blanked: "drm" (DPMS through kernel mode setting, on the
    screen's own DRM file: the Pi), "sysfs" (the console framebuffer's blank switch, only
    while no program holds the screen), "simulated" (tests, make demo) or "none"."""


class ButtonPin(Section):
    """[buttons.hand|mute|camera] — one physical button."""

    pin: Pin
    pull: Literal["up", "down", "off"] = "up"
    """Internal resistor: "up" (button to ground, the usual wiring), "down", or
    "off" for an external resistor (then set active_low)."""
    active_low: bool | None = None
    """Only with pull = "off": true when pressing pulls the pin to ground."""


class ButtonsSettings(Section):
    """[buttons] — big buttons on GPIO; a table per button that exists."""

    pin_factory: PinFactoryName = "lgpio"
    debounce_ms: int = Field(default=30, ge=0, le=500)
    long_press_s: float = Field(default=2.0, ge=0.5, le=10)
    hand: ButtonPin | None = None
    mute: ButtonPin | None = None
    camera: ButtonPin | None = None

    def configured(self) -> dict[str, ButtonPin]:
        """The buttons present, by name."""
        found = {"hand": self.hand, "mute": self.mute, "camera": self.camera}
        return {name: spec for name, spec in found.items() if spec is not None}


class LedPin(Section):
    """A single-colour LED."""

    pin: Pin


class MicLedPins(Section):
    """[leds.mic] — either an RGB LED (red, green, optional blue) or a single
    red "muted" LED (pin)."""

    pin: Pin | None = None
    red: Pin | None = None
    green: Pin | None = None
    blue: Pin | None = None

    @property
    def is_rgb(self) -> bool:
        return self.red is not None


class LedsSettings(Section):
    """[leds] — indicator LEDs; a table per LED that exists."""

    active_high: bool = True
    """true when a high pin lights the LED (LED to ground through a resistor)."""
    mic: MicLedPins | None = None
    hand: LedPin | None = None
    camera: LedPin | None = None
    status: LedPin | None = None
    """Connection status; without it the hand LED shows it outside meetings."""


class LoggingSettings(Section):
    """[logging]"""

    level: Literal["debug", "info", "warning", "error"] = "info"


class HealthSettings(Section):
    """[health] — the local /healthz and metrics endpoint for admins."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1024, le=65535)

    @field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        try:
            loopback = ipaddress.ip_address(value).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise invalid(say("not_loopback", value=quoted(value)),
                          "a loopback address such as \"127.0.0.1\"",
                          "health is reached through SSH; keep host = \"127.0.0.1\"")
        return value


class ScheduleSettings(Section):
    """[schedule] — following the room's schedule ([join] policy = "schedule")."""

    lead_min: int = Field(default=30, ge=0, le=120)
    """Join this many minutes before a meeting starts (the guide asks for 30)."""
    grace_min: int = Field(default=10, ge=0, le=120)
    """After the end, stay at most this long while people are still talking."""
    quiet_s: int = Field(default=120, ge=10, le=900)
    """After the end, leave once nobody has talked for this long."""
    refresh_s: int = Field(default=300, ge=30, le=3600)
    """How often the schedule is fetched from the bridge."""
    time_zone: str = "Europe/Istanbul"
    """The room's time zone (IANA name): the standby screen's clock and "today"."""
    clock: Literal["systemd", "trusted", "simulated"] = "systemd"
    """How the room knows its clock is right: "systemd" (timesyncd says synchronised),
    "trusted" (an RTC or an admin's word), "simulated" (tests and make demo)."""
    self_test: bool = True
    """Check camera, microphone and speaker at boot and before each scheduled join."""

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid(say("unknown_time_zone", value=quoted(value)),
                          "an IANA time zone name such as \"Europe/Istanbul\"") from None
        return value


class CompanionSettings(Section):
    """[companion] — the phone companion (QR code on screen while in a meeting)."""

    enabled: bool = True


class Settings(Section):
    """The whole provisioning file, validated."""

    room: RoomSettings
    bridge: BridgeSettings
    join: JoinSettings = JoinSettings()
    camera: CameraSettings = CameraSettings()
    content: ContentSettings = ContentSettings()
    audio: AudioSettings = AudioSettings()
    display: DisplaySettings = DisplaySettings()
    buttons: ButtonsSettings = ButtonsSettings()
    leds: LedsSettings = LedsSettings()
    logging: LoggingSettings = LoggingSettings()
    health: HealthSettings = HealthSettings()
    companion: CompanionSettings = CompanionSettings()
    schedule: ScheduleSettings = ScheduleSettings()

    @property
    def display_name(self) -> str:
        """The name the room joins with."""
        if self.join.mode == "guest" and self.join.guest_name:
            return self.join.guest_name
        return self.room.name
