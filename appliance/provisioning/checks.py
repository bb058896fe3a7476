"""Rules that span keys or look at the disk, run after each table's own validation.

Each check receives only the tables that validated, so one bad table does not
hide problems elsewhere in the file. Secrets are checked, never echoed.
"""

from __future__ import annotations

import os
import ssl
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from appliance.provisioning.report import Reporter, say
from appliance.provisioning.schema import (
    AudioSettings,
    BridgeSettings,
    ButtonsSettings,
    CameraSettings,
    ContentSettings,
    JoinSettings,
    LedsSettings,
    RoomSettings,
)

#: BCM pins of the I2S (PCM) bus that HAT microphones and DACs use.
I2S_PINS = frozenset({18, 19, 20, 21})
CREDENTIALS_VAR = "$CREDENTIALS_DIRECTORY"


def run_checks(raw: Mapping[str, Any], tables: Mapping[str, BaseModel], rep: Reporter,
               *, local_files: bool) -> None:
    """Add every cross-key and on-disk problem to `rep`."""
    buttons, leds = tables.get("buttons"), tables.get("leds")
    if isinstance(buttons, ButtonsSettings):
        check_button_wiring(buttons, rep)
    if isinstance(leds, LedsSettings):
        check_mic_led(leds, rep)
    check_pins(buttons if isinstance(buttons, ButtonsSettings) else None,
               leds if isinstance(leds, LedsSettings) else None, rep)
    room, join, bridge = tables.get("room"), tables.get("join"), tables.get("bridge")
    if isinstance(join, JoinSettings):
        check_join(join, room if isinstance(room, RoomSettings) else None, rep,
                   local_files=local_files)
    if isinstance(bridge, BridgeSettings):
        check_bridge(bridge, join if isinstance(join, JoinSettings) else None, rep,
                     local_files=local_files)
    if isinstance(camera := tables.get("camera"), CameraSettings):
        check_camera(camera, rep, local_files=local_files)
    if isinstance(content := tables.get("content"), ContentSettings):
        check_content(content, camera if isinstance(camera, CameraSettings) else None,
                      buttons if isinstance(buttons, ButtonsSettings) else None, rep)
    if isinstance(audio := tables.get("audio"), AudioSettings):
        check_audio(audio, raw.get("audio", {}), rep, local_files=local_files)


def check_pins(buttons: ButtonsSettings | None, leds: LedsSettings | None,
               rep: Reporter) -> None:
    """No BCM pin is used twice across buttons and LEDs."""
    used: list[tuple[str, int]] = []
    if buttons is not None:
        used += [(f"buttons.{name}.pin", spec.pin) for name, spec in buttons.configured().items()]
    if leds is not None:
        if leds.mic is not None:
            used += [(f"leds.mic.{colour}", pin) for colour in ("pin", "red", "green", "blue")
                     if (pin := getattr(leds.mic, colour)) is not None]
        used += [(f"leds.{name}.pin", led.pin) for name in ("hand", "camera", "status")
                 if (led := getattr(leds, name)) is not None]
    used.sort(key=lambda item: rep.lines.line_of(item[0]) or 0)
    first_use: dict[int, str] = {}
    for path, pin in used:
        if pin in first_use:
            other = first_use[pin]
            rep.add(path, say("pin_used_twice", pin=pin, other=other,
                              line=str(rep.lines.line_of(other))),
                    "a BCM pin used by one button or LED only",
                    "pick a free pin between 2 and 27")
            continue
        first_use[pin] = path
        if pin in I2S_PINS:
            rep.warn(path, say("pin_i2s", pin=pin), "a pin outside 18-21",
                     "fine unless a HAT microphone or DAC uses I2S; otherwise move it")


def check_button_wiring(buttons: ButtonsSettings, rep: Reporter) -> None:
    for name, spec in buttons.configured().items():
        base = f"buttons.{name}"
        if spec.pull == "off" and spec.active_low is None:
            rep.add(f"{base}.active_low", say("button_level_missing"),
                    "active_low = true or false", at=f"{base}.pull")
        elif spec.pull == "up" and spec.active_low is False:
            rep.add(f"{base}.active_low", say("button_pulled_up"),
                    "active_low = true (or leave it out)",
                    "use pull = \"off\" with an external resistor for an active-high button")
        elif spec.pull == "down" and spec.active_low is True:
            rep.add(f"{base}.active_low", say("button_pulled_down"),
                    "active_low = false (or leave it out)")


def check_mic_led(leds: LedsSettings, rep: Reporter) -> None:
    mic = leds.mic
    if mic is None:
        return
    colours = [c for c in ("red", "green", "blue") if getattr(mic, c) is not None]
    expected = "pin = N for a single LED, or red = N, green = N (blue = N) for an RGB LED"
    if mic.pin is not None and colours:
        rep.add("leds.mic.pin", say("mic_led_both"), expected,
                "keep either pin or red/green/blue")
    elif mic.pin is None and not colours:
        rep.add("leds.mic", say("mic_led_none"), expected)
    elif mic.pin is None and (mic.red is None or mic.green is None):
        missing = "red" if mic.red is None else "green"
        rep.add(f"leds.mic.{missing}", say("mic_led_colour", colour=missing), expected,
                at="leds.mic")


def check_join(join: JoinSettings, room: RoomSettings | None, rep: Reporter,
               *, local_files: bool) -> None:
    if join.mode == "device":
        if join.user is None:
            rep.add("join.user", say("device_needs_user"),
                    "user = \"...\"", "or use mode = \"guest\"", at="join.mode")
        if join.password is None and join.password_file is None:
            rep.add("join.password_file", say("device_needs_password"),
                    "password_file = \"/etc/salon/device-password\"", at="join.mode")
        if join.password is not None and join.password_file is not None:
            rep.add("join.password", say("both_passwords"),
                    "only one of them", "remove the inline password")
        elif join.password is not None:
            rep.warn("join.password", say("inline_password"), "password_file = \"...\"",
                     "put it in a file only the service can read (chmod 600) and use "
                     "password_file")
        if join.password_file is not None and local_files:
            check_secret_file(join.password_file, "join.password_file", rep)
    else:
        for key in ("user", "password", "password_file"):
            if getattr(join, key) is not None:
                rep.warn(f"join.{key}", say("ignored_for_guest", key=key))
        name = join.guest_name or (room.name if room is not None else "")
        if any(c.islower() for c in name):
            path = "join.guest_name" if join.guest_name else "room.name"
            rep.warn(path, say("guest_name_format"),
                     "e.g. \"BEHİÇ ÇELEBİ – ANKARA MEM\"",
                     f"\"{turkish_upper(name)}\"")


def turkish_upper(text: str) -> str:
    return text.replace("i", "İ").replace("ı", "I").upper()


def check_bridge(bridge: BridgeSettings, join: JoinSettings | None, rep: Reporter,
                 *, local_files: bool) -> None:
    if bridge.reconnect_initial_s > bridge.reconnect_max_s:
        rep.add("bridge.reconnect_initial_s", say("reconnect_delays"),
                f"at most reconnect_max_s ({bridge.reconnect_max_s:g})")
    host = bridge.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    if (bridge.url.startswith("http://") and join is not None and join.mode == "device"
            and host not in ("localhost", "127.0.0.1", "::1")):
        rep.warn("bridge.url", say("password_unencrypted"),
                 "an https:// URL", "use https://" + bridge.url.removeprefix("http://"))
    if bridge.url.startswith("http://"):
        for key in ("ca_file", "pin_sha256"):
            if getattr(bridge, key):
                rep.add(f"bridge.{key}", say("tls_check_needs_https", key=key), "an https:// url",
                        "use https://" + bridge.url.removeprefix("http://"), at="bridge.url")
    if bridge.ca_file is not None and local_files:
        check_plain_file(bridge.ca_file, "bridge.ca_file", rep)
        check_ca_file(bridge.ca_file, rep)


def check_ca_file(path: str, rep: Reporter) -> None:
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, ValueError) as exc:
        rep.add("bridge.ca_file", say("ca_file_unusable", path=path, detail=str(exc)),
                "a PEM file with -----BEGIN CERTIFICATE-----")
    except OSError:
        pass  # check_plain_file said why


def check_camera(camera: CameraSettings, rep: Reporter, *, local_files: bool = True) -> None:
    if camera.backend == "packets" and camera.packet_clip is not None and local_files:
        check_plain_file(camera.packet_clip, "camera.packet_clip", rep)
    if camera.bitrate_min_kbps > camera.bitrate_max_kbps:
        rep.add("camera.bitrate_min_kbps", say("bitrate_bounds"),
                f"at most bitrate_max_kbps ({camera.bitrate_max_kbps})")
    for key in ("width", "height"):
        value = getattr(camera, key)
        if value % 2:
            rep.add(f"camera.{key}", say("odd_size", value=value),
                    "an even number", f"{key} = {value + 1}")
    if camera.backend == "picamera2" and camera.rotation in (90, 270):
        # libcamera's Transform only flips (the ISP cannot turn a picture a quarter turn)
        # and Picamera2Camera refuses such a session: the room would stay audio-only.
        rep.add("camera.rotation", say("picamera_rotation", rotation=camera.rotation),
                "rotation = 0 or 180 (with hflip/vflip as needed)",
                "mount the camera upright or upside down (rotation = 180); for a camera "
                "mounted sideways use a USB camera (backend = \"v4l2\"), which turns "
                "its picture in software")


def check_content(content: ContentSettings, camera: CameraSettings | None,
                  buttons: ButtonsSettings | None, rep: Reporter) -> None:
    if content.bitrate_min_kbps > content.bitrate_max_kbps:
        rep.add("content.bitrate_min_kbps", say("bitrate_bounds"),
                f"at most bitrate_max_kbps ({content.bitrate_max_kbps})")
    for key in ("width", "height"):
        value = getattr(content, key)
        if value % 2:
            rep.add(f"content.{key}", say("odd_size", value=value),
                    "an even number", f"{key} = {value + 1}")
    if content.backend != "v4l2":
        return
    example = "\"auto\" or a path such as \"/dev/v4l/by-id/usb-…-video-index0\""
    if content.device != "auto" and not content.device.startswith("/dev/"):
        rep.add("content.device", say("content_device_path", value=f"\"{content.device}\""),
                example)
    elif (camera is not None and camera.backend == "v4l2"
          and os.path.normpath(content.device) == os.path.normpath(camera.device)):
        rep.add("content.device", say("content_device_is_camera",
                                      value=f"\"{content.device}\""), example,
                "\"auto\" skips the camera's device by itself")
    if not content.present_on_plug and (buttons is None or buttons.camera is None):
        rep.warn("content.present_on_plug", say("content_cannot_start"),
                 "present_on_plug = true, or a [buttons.camera] table")


def check_audio(audio: AudioSettings, raw: Any, rep: Reporter, *, local_files: bool) -> None:
    seen: set[int] = set()
    for index, channel in enumerate(audio.mic_channels_used):
        path = f"audio.mic_channels_used[{index}]"
        if not 0 <= channel < audio.mic_channels:
            rep.add(path, say("channel_missing", channel=channel),
                    f"a channel index from 0 to {audio.mic_channels - 1} (mic_channels = "
                    f"{audio.mic_channels})")
        elif channel in seen:
            rep.add(path, say("channel_twice", channel=channel), "each channel once")
        seen.add(channel)
    if audio.speaker_backend == "wav" and audio.speaker_wav is None:
        rep.add("audio.speaker_wav", say("wav_needs_file"),
                "speaker_wav = \"/path/to/out.wav\"", at="audio.speaker_backend")
    if audio.mic_backend == "simulated" and audio.mic_wav is not None and local_files:
        check_plain_file(audio.mic_wav, "audio.mic_wav", rep)
    explicit_aec = isinstance(raw, dict) and raw.get("echo_cancellation") is True
    if audio.array_has_aec and explicit_aec:
        rep.warn("audio.echo_cancellation", say("aec_ignored"), "echo_cancellation = false")


def check_plain_file(path: str, field: str, rep: Reporter) -> None:
    if not Path(path).is_file():
        rep.add(field, say("file_missing", path=path), "an existing file",
                "check-config --offline skips this check on another computer")


def check_secret_file(path: str, field: str, rep: Reporter) -> None:
    """The password file exists, only the service can read it, and it is not empty."""
    if CREDENTIALS_VAR in path.replace("{", "").replace("}", ""):
        rep.add(field, say("credentials_unset"), "running under systemd with "
                "LoadCredential=", "or point password_file at the file itself")
        return
    try:
        info = os.stat(path)
    except FileNotFoundError:
        rep.add(field, say("password_file_missing", path=path), "an existing file readable only "
                "by the service", "create it (chmod 600), or run check-config --offline "
                "on another computer")
        return
    except OSError as exc:
        rep.add(field, say("cannot_inspect", path=path, reason=str(exc.strerror)),
                "a readable file")
        return
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISREG(info.st_mode):
        rep.add(field, say("not_regular_file", path=path), "a file holding the password")
        return
    if mode & stat.S_IROTH:
        rep.add(field, say("readable_by_all", path=path, mode=f"{mode:04o}"),
                "a file only the service can read", f"chmod 600 {path}")
    elif mode & stat.S_IRGRP:
        rep.warn(field, say("readable_by_group", path=path, mode=f"{mode:04o}"),
                 "a file only the service can read", f"chmod 600 {path}")
    try:
        with open(path, "rb") as handle:
            content = handle.read(4096)
    except PermissionError:
        rep.add(field, say("unreadable", path=path, uid=os.geteuid()),
                "a file the service user owns", f"chown <service user> {path}; chmod 600 {path}")
        return
    if not content.strip():
        rep.add(field, say("empty_file", path=path), "the device password on the first line")
