"""The provisioning loader: broken files, secrets, search order, last known good."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tracemalloc
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from appliance.provisioning import words
from appliance.provisioning.loader import (
    MAX_CONFIG_BYTES,
    ConfigError,
    ConfigProblem,
    LastGoodStore,
    check_config_main,
    config_hash,
    find_config_file,
    format_problems,
    load_config,
    load_with_fallback,
    validate_text,
)
from appliance.provisioning.report import KeyLines
from appliance.provisioning.schema import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "appliance.example.toml"
BROKEN = Path(__file__).parent / "broken_configs"
SECRET = "s3cret-Parola-42"

MINIMAL = """\
[room]
name = "TOPLANTI ODASI 1 – ANKARA MEM"

[bridge]
url = "https://salon.example.org"
room = "testbim"
"""

DEVICE = MINIMAL + """
[join]
mode = "device"
user = "ankara-mem-oda1"
password_file = "device-password"
"""

# file -> (field path, line, words in the message, words in expected/hint)
CASES: dict[str, tuple[str, int | None, str, str]] = {
    "syntax_unquoted_string": ("room.name", 3, "TOML syntax error", "need double quotes"),
    "syntax_unclosed_table": ("", 5, "Expected ']'", "close the table name"),
    "syntax_python_boolean": ("camera.hflip", 14, "Invalid value", "lower case"),
    "syntax_duplicate_table": ("camera", 16, "twice", "appears twice"),
    "not_utf8": ("", 7, "not UTF-8 (byte 0xde)", "save it as UTF-8"),
    "missing_room_table": ("room", None, "the [room] table is missing", "with name"),
    "missing_room_name": ("room.name", 2, "required key name is missing", "a quoted string"),
    "fps_as_string": ("camera.fps", 15, '"30" is a string', "write 30 without quotes"),
    "width_as_float": ("camera.width", 14, "1280.0 is a number",
                       "without the decimal point"),
    "bool_as_string": ("display.self_view", 14, '"yes" is a string',
                       "true or false without quotes"),
    "unknown_key_typo": ("camera.fsp", 15, "unknown key fsp", "did you mean fps?"),
    "unknown_table": ("camra", 13, "unknown key camra", "did you mean camera?"),
    "key_in_wrong_table": ("bridge.language", 8, "unknown key language",
                           "belongs in [room]"),
    "key_above_tables": ("name", 2, "unknown key name", "belongs in [room]"),
    "table_written_as_string": ("camera", 2, "must be a table, not a string", "[camera]"),
    "language_upper_case": ("room.language", 4, '"TR" is not one of the allowed',
                            'did you mean "tr"?'),
    "pin_out_of_range": ("buttons.hand.pin", 17, "40 is out of range", "from 2 to 27"),
    "pin_used_twice": ("leds.hand.pin", 23,
                       "GPIO 5 is already used by buttons.hand.pin (line 17)", "free pin"),
    "mic_led_single_and_rgb": ("leds.mic.pin", 14, "both a single pin and colour pins",
                               "either pin or red/green/blue"),
    "button_pull_up_active_high": ("buttons.mute.active_low", 16,
                                   "pulled-up button is pressed when low", "pull = \"off\""),
    "device_without_user": ("join.user", 10, "needs the device account's user name",
                            "user = "),
    "missing_secret_file": ("join.password_file", 12, "password file not found",
                            "--offline"),
    "world_readable_secret": ("join.password_file", 12, "readable by every user (mode 0644)",
                              "chmod 600"),
    "both_passwords": ("join.password", 13, "both password and password_file",
                       "remove the inline password"),
    "password_wrong_type": ("join.password", 12, "the value is an integer", "quoted string"),
    "url_bad_scheme": ("bridge.url", 6, '"ftp://salon.example.org" is not an http',
                       "https://"),
    "url_without_scheme": ("bridge.url", 6, "is not an http or https URL",
                           'url = "https://salon.example.org"'),
    "room_is_full_url": ("bridge.room", 7, "not a full URL", 'room = "testbim"'),
    "pin_not_sha256": ("bridge.pin_sha256", 8, "is not a SHA-256 pin", "44 characters"),
    "pin_with_http_url": ("bridge.pin_sha256", 6, "an http:// bridge has none",
                          'use https://salon.example.org'),
    "fps_out_of_range": ("camera.fps", 14, "120 is out of range", "from 1 to 60"),
    "bitrate_min_above_max": ("camera.bitrate_min_kbps", 14, "minimum bitrate exceeds",
                              "at most bitrate_max_kbps (2500)"),
    "odd_width": ("camera.width", 14, "1279 is odd", "width = 1280"),
    "rotation_not_right_angle": ("camera.rotation", 14, "45 is not one of",
                                 "one of 0, 90, 180, 270"),
    "picamera2_rotation_90": ("camera.rotation", 15, "cannot turn its picture 90 degrees",
                              "rotation = 0 or 180"),
    "content_fps_out_of_range": ("content.fps", 15, "60 is out of range", "from 1 to 30"),
    "content_device_is_camera": ("content.device", 19, "is the room's camera",
                                 "skips the camera's device"),
    "content_device_not_a_path": ("content.device", 15, '"video2" is neither "auto" nor',
                                  "/dev/v4l/by-id/"),
    "content_backend_unknown": ("content.backend", 14, '"hdmi" is not one of the allowed',
                                '"v4l2"'),
    "mic_channel_missing": ("audio.mic_channels_used[1]", 15, "channel 2 does not exist",
                            "from 0 to 1"),
    "schedule_unknown_zone": ("schedule.time_zone", 15,
                              '"Europe/Istambul" is not a known time zone', "Europe/Istanbul"),
    "health_public_host": ("health.host", 14, '"0.0.0.0" is not a loopback address',
                           "127.0.0.1"),
    "wav_speaker_without_file": ("audio.speaker_wav", 14, "needs a file to record to",
                                 "speaker_wav = "),
    "damaged_nul_tail": ("", 8, "the file has 512 NUL bytes, from line 8 on: it is damaged",
                         "copy a good provisioning file onto the card again"),
    "damaged_all_nul": ("", 1, "the file has 4096 NUL bytes, from line 1 on",
                        "copy a good provisioning file onto the card again"),
    "nested_too_deep": ("camera.fps", 10, "values are nested more than 32 levels deep",
                        "at most 32 levels deep"),
    "url_with_password": ("bridge.url", 6, '"https://***@salon.example.org" has a user name '
                          "or password in it", "[join] user and password_file"),
}
# Extra errors some files rightly produce besides the one under test.
EXTRA_ERRORS = {"key_above_tables": 1}
# Secret files the test creates next to the copied config: name -> mode.
SECRETS = {"world_readable_secret": 0o644, "both_passwords": 0o600,
           "device_without_user": 0o600}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _secret(directory: Path, mode: int = 0o600, content: str = SECRET + "\n") -> Path:
    path = directory / "device-password"
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return path


def _problems(path: Path, **kwargs: bool) -> list[ConfigProblem]:
    text = path.read_bytes().decode("utf-8-sig")
    _, problems = validate_text(text, file=str(path), base_dir=path.parent, **kwargs)
    return problems


def _only(problems: list[ConfigProblem], path: str) -> ConfigProblem:
    found = [p for p in problems if p.field_path == path]
    assert len(found) == 1, format_problems(problems)
    return found[0]


def test_every_broken_file_is_covered() -> None:
    files = {p.stem for p in BROKEN.glob("*.toml")}
    assert files == set(CASES)
    assert len(files) >= 20


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_config_reports_field_line_and_fix(name: str, tmp_path: Path) -> None:
    field_path, line, message, advice = CASES[name]
    config = tmp_path / "salon.toml"
    shutil.copyfile(BROKEN / f"{name}.toml", config)
    if name in SECRETS:
        _secret(tmp_path, SECRETS[name])
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    problems = caught.value.problems
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1 + EXTRA_ERRORS.get(name, 0), format_problems(problems)
    problem = _only(errors, field_path)
    assert problem.file == str(config)
    assert problem.line == line
    assert message in problem.message
    assert advice in problem.expected + " " + problem.suggestion
    text = str(caught.value)
    assert f"{config}:{line}: error:" in text if line else f"{config}: error:" in text


def test_example_config_is_valid_and_clean() -> None:
    settings, problems = validate_text(EXAMPLE.read_text(encoding="utf-8"), file=str(EXAMPLE))
    assert problems == []
    assert settings is not None
    assert settings.room.name == "TOPLANTI ODASI 1 – ANKARA MEM"
    assert settings.buttons.configured().keys() == {"hand", "mute", "camera"}
    assert settings.leds.mic is not None and settings.leds.mic.is_rgb


def test_defaults_make_a_minimal_file_a_guest_room() -> None:
    settings, problems = validate_text(MINIMAL)
    assert problems == [] and settings is not None
    assert settings.join.mode == "guest" and settings.join.policy == "power-on"
    assert settings.display_name == "TOPLANTI ODASI 1 – ANKARA MEM"
    assert settings.bridge.url == "https://salon.example.org"
    assert settings.camera.backend == "picamera2" and settings.buttons.configured() == {}


def test_every_problem_in_a_file_is_reported_together() -> None:
    text = MINIMAL + "\n[camera]\nfps = 0\nwidth = \"wide\"\n\n[buttons.hand]\npin = 99\n"
    _, problems = validate_text(text, file="multi.toml")
    assert {(p.field_path, p.line) for p in problems} == {
        ("camera.fps", 9), ("camera.width", 10), ("buttons.hand.pin", 13)}


def test_secret_never_appears_in_repr_or_problems(tmp_path: Path) -> None:
    inline = MINIMAL + f'\n[join]\nmode = "device"\nuser = "oda1"\npassword = "{SECRET}"\n'
    settings, problems = validate_text(inline, file="inline.toml")
    assert settings is not None
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())
    warning = _only(problems, "join.password")
    assert warning.severity == "warning" and "SD card" in warning.message
    assert SECRET not in format_problems(problems)
    assert settings.join.read_password() is not None
    assert settings.join.read_password().get_secret_value() == SECRET  # type: ignore[union-attr]

    broken = tmp_path / "wrong-type.toml"
    shutil.copyfile(BROKEN / "password_wrong_type.toml", broken)
    with pytest.raises(ConfigError) as caught:
        load_config(broken)
    assert "918273645" not in str(caught.value)

    unquoted = MINIMAL + f"\n[join]\nmode = \"device\"\npassword = {SECRET}\n"
    _, problems = validate_text(unquoted, file="unquoted.toml")
    assert problems[0].line == 10 and problems[0].field_path == "join.password"
    assert SECRET not in format_problems(problems)


def test_a_url_with_a_user_name_and_password_is_refused_and_never_quoted() -> None:
    secret = "Gizli-Parola-77"
    site, room = '"https://salon.example.org"', '"testbim"'
    texts = {
        "https": MINIMAL.replace(site, f'"https://oda1:{secret}@salon.example.org"'),
        "ftp": MINIMAL.replace(site, f'"ftp://oda1:{secret}@salon.example.org"'),
        "no scheme": MINIMAL.replace(site, f'"oda1:{secret}@salon.example.org"'),
        "unclosed": MINIMAL.replace(site, f'"https://oda1:{secret}@salon.example.org'),
        "in room": MINIMAL.replace(room, f'"https://oda1:{secret}@salon.example.org/x?a=1"'),
    }
    for name, text in texts.items():
        settings, problems = validate_text(text, file="salon.toml")
        assert settings is None, name
        said = format_problems(problems) + " ".join(
            words.phrase(p.text, "tr") for p in problems)
        assert secret not in said and "oda1" not in said, (name, said)
    _, problems = validate_text(texts["https"], file="salon.toml")
    assert [p.message for p in problems] == [
        '"https://***@salon.example.org" has a user name or password in it']


def test_a_huge_file_is_refused_without_reading_it_whole(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge = tmp_path / "salon.toml"
    with huge.open("wb") as handle:  # 100 MB, sparse: nothing to write
        handle.write(MINIMAL.encode())
        handle.truncate(100 * 1000 * 1000)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as caught:
            load_config(huge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MAX_CONFIG_BYTES + 1_000_000, f"{peak} bytes held reading it"
    assert str(caught.value).startswith(
        f"{huge}: error: the file has 100000000 bytes, more than the 64 KiB a provisioning "
        "file may have")
    assert check_config_main([str(huge)]) == 1
    assert "100000000 bytes, more than the 64 KiB" in capsys.readouterr().out
    huge.write_text(MINIMAL + "#" * (MAX_CONFIG_BYTES - len(MINIMAL.encode()) - 1) + "\n")
    assert load_config(huge).bridge.room == "testbim"  # the cap itself is fine


def test_nesting_is_bounded_where_the_parser_would_overflow(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for value in ("[" * 5000 + "]" * 5000, "{ a = " * 5000 + "1" + " }" * 5000,
                  "[\n" * 5000 + "]\n" * 5000):
        config = _write(tmp_path / "deep.toml", MINIMAL + "\n[camera]\nfps = " + value)
        assert check_config_main([str(config)]) == 1
        out = capsys.readouterr().out
        assert f"{config}:" in out and "values are nested more than 32 levels deep" in out
    fine = MINIMAL + "\n[audio]\nmic_channels_used = " + "[" * 30 + "1" + "]" * 30 + "\n"
    _, problems = validate_text(fine)
    assert [p.field_path for p in problems] == ["audio.mic_channels_used[0]"]  # just wrong


@pytest.mark.parametrize("name", ["damaged_nul_tail", "damaged_all_nul", "nested_too_deep",
                                  "url_with_password"])
def test_a_damaged_file_runs_the_last_good_copy(name: str, tmp_path: Path) -> None:
    config, state = _write(tmp_path / "salon.toml", MINIMAL), tmp_path / "state"
    assert load_with_fallback(config, state).ok
    shutil.copyfile(BROKEN / f"{name}.toml", config)
    result = load_with_fallback(config, state)
    assert result.settings is not None and result.using_last_good
    assert result.settings.bridge.room == "testbim"
    assert [p.field_path for p in result.problems] == [CASES[name][0]]


def test_password_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    _secret(tmp_path)
    settings = load_config(_write(tmp_path / "salon.toml", DEVICE))
    assert settings.join.password_file == str(tmp_path / "device-password")
    password = settings.join.read_password()
    assert password is not None and password.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


def test_group_readable_secret_is_a_warning(tmp_path: Path) -> None:
    _secret(tmp_path, 0o640)
    config = _write(tmp_path / "salon.toml", DEVICE)
    warning = _only(_problems(config), "join.password_file")
    assert warning.severity == "warning" and "mode 0640" in warning.message
    assert load_config(config).join.user == "ankara-mem-oda1"


def test_empty_secret_is_an_error(tmp_path: Path) -> None:
    _secret(tmp_path, content="\n")
    problem = _only(_problems(_write(tmp_path / "salon.toml", DEVICE)), "join.password_file")
    assert problem.severity == "error" and "is empty" in problem.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_secret_is_an_error(tmp_path: Path) -> None:
    _secret(tmp_path, 0o000)
    problem = _only(_problems(_write(tmp_path / "salon.toml", DEVICE)), "join.password_file")
    assert "not readable by this user" in problem.message


def test_systemd_credentials_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = DEVICE.replace('"device-password"', '"${CREDENTIALS_DIRECTORY}/salon-password"')
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    problem = _only(validate_text(text)[1], "join.password_file")
    assert "CREDENTIALS_DIRECTORY is not set" in problem.message
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "salon-password").write_text(SECRET)
    (creds / "salon-password").chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    settings, problems = validate_text(text)
    assert problems == [] and settings is not None
    assert settings.join.read_password().get_secret_value() == SECRET  # type: ignore[union-attr]


def test_offline_check_skips_files_on_this_disk(tmp_path: Path) -> None:
    config = _write(tmp_path / "salon.toml", DEVICE)
    assert _problems(config, local_files=False) == []
    assert _only(_problems(config), "join.password_file").severity == "error"


def test_warnings_do_not_stop_the_room() -> None:
    text = MINIMAL.replace("TOPLANTI ODASI 1 – ANKARA MEM", "Toplantı odası – Ankara") + (
        "\n[audio]\narray_has_aec = true\necho_cancellation = true\n"
        "\n[leds.hand]\npin = 18\n")
    settings, problems = validate_text(text, file="w.toml")
    assert settings is not None and not settings.audio.software_aec
    assert {p.severity for p in problems} == {"warning"}
    name = _only(problems, "room.name")
    assert name.line == 2 and '"TOPLANTI ODASI – ANKARA"' in name.suggestion
    assert _only(problems, "audio.echo_cancellation").line == 10
    assert "I2S" in _only(problems, "leds.hand.pin").message


def test_plain_http_with_a_password_is_a_warning(tmp_path: Path) -> None:
    _secret(tmp_path)
    text = DEVICE.replace("https://salon.example.org", "http://salon.example.org")
    warning = _only(_problems(_write(tmp_path / "salon.toml", text)), "bridge.url")
    assert warning.severity == "warning" and "unencrypted" in warning.message
    local = DEVICE.replace("https://salon.example.org", "http://127.0.0.1:8080")
    assert _problems(_write(tmp_path / "local.toml", local)) == []


def test_bom_and_crlf_from_windows_editors_are_fine(tmp_path: Path) -> None:
    config = tmp_path / "salon.toml"
    config.write_bytes(b"\xef\xbb\xbf" + MINIMAL.replace("\n", "\r\n").encode())
    assert load_config(config).bridge.room == "testbim"


def test_key_lines_follow_toml_structure() -> None:
    text = (
        'title = """\n[not.a.table]\nfps = 1\n"""\n'
        "[camera]\n"
        "list = [\n  1,\n  2,\n]\n"
        "fps = 30  # comment\n"
        'leds.mic = { red = 17, green = 27 }\n'
        '"quoted key" = 1\n'
        "[buttons.hand]\npin = 5\n"
    )
    lines = KeyLines(text)
    assert lines.line_of("not.a.table") is None
    assert lines.line_of("camera") == 5
    assert lines.line_of("camera.fps") == 10
    assert lines.line_of("camera.leds.mic.red") == 11
    assert lines.line_of("camera.quoted key") == 12
    assert lines.line_of("buttons.hand.pin") == 14
    assert lines.line_of("buttons.hand.pull") == 13
    assert lines.line_of("camera.list[1]") == 6
    assert lines.path_at(10) == "camera.fps"


# --- search order -------------------------------------------------------------------


def test_search_order(tmp_path: Path) -> None:
    boot, etc = tmp_path / "boot" / "salon.toml", tmp_path / "etc" / "appliance.toml"
    search = (boot, etc)
    with pytest.raises(ConfigError) as caught:
        find_config_file(None, search)
    assert "no provisioning file found" in str(caught.value) and str(boot) in str(caught.value)
    etc.parent.mkdir()
    _write(etc, MINIMAL.replace("testbim", "from-etc"))
    assert find_config_file(None, search) == etc
    boot.parent.mkdir()
    _write(boot, MINIMAL.replace("testbim", "from-boot"))
    assert find_config_file(None, search) == boot
    assert load_config(search_path=search).bridge.room == "from-boot"
    explicit = _write(tmp_path / "explicit.toml", MINIMAL.replace("testbim", "explicit"))
    assert load_config(explicit, search_path=search).bridge.room == "explicit"


def test_explicit_missing_path_does_not_fall_through(tmp_path: Path) -> None:
    boot = _write(tmp_path / "salon.toml", MINIMAL)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "typo.toml", search_path=(boot,))
    assert caught.value.problems[0].message == "file not found"


# --- last known good ------------------------------------------------------------------


def test_last_good_is_kept_and_used_when_the_file_breaks(tmp_path: Path) -> None:
    config, state = tmp_path / "salon.toml", tmp_path / "state"
    _write(config, MINIMAL)
    first = load_with_fallback(config, state)
    assert first.ok and first.config_hash == config_hash(MINIMAL) and first.problems == []
    stored = state / LastGoodStore.TEXT
    assert stored.read_text(encoding="utf-8") == MINIMAL
    assert stat_mode(stored) == 0o600 and stat_mode(state) == 0o700

    _write(config, MINIMAL + "\n[camera]\nfps = 500\n")
    second = load_with_fallback(config, state)
    assert second.settings is not None and second.using_last_good and not second.ok
    assert second.config_hash == first.config_hash
    assert [(p.field_path, p.line) for p in second.problems] == [("camera.fps", 9)]
    assert stored.read_text(encoding="utf-8") == MINIMAL  # the bad file was not kept

    config.unlink()
    third = load_with_fallback(config, state)
    assert third.using_last_good and third.problems[0].message == "file not found"


def test_without_last_good_an_invalid_file_gives_problems_not_exceptions(
        tmp_path: Path) -> None:
    config = _write(tmp_path / "salon.toml", "[room\n")
    result = load_with_fallback(config, tmp_path / "state")
    assert result.settings is None and not result.using_last_good
    assert result.problems[0].line == 1 and result.config_hash == config_hash("[room\n")
    assert load_with_fallback(tmp_path, tmp_path / "state").settings is None  # a directory
    nothing = load_with_fallback(None, tmp_path / "state", search_path=(tmp_path / "x",))
    assert nothing.settings is None and "no provisioning file" in nothing.problems[0].message


def test_damaged_last_good_is_ignored(tmp_path: Path) -> None:
    config, state = _write(tmp_path / "salon.toml", MINIMAL), tmp_path / "state"
    load_with_fallback(config, state)
    (state / LastGoodStore.TEXT).write_text(MINIMAL.replace("testbim", "tampered"))
    _write(config, "not toml at all")
    assert load_with_fallback(config, state).settings is None


def test_last_good_that_no_longer_validates_reports_both(tmp_path: Path) -> None:
    state = tmp_path / "state"
    old = MINIMAL + "\n[camera]\nold_key = 1\n"  # e.g. a key an upgrade removed
    LastGoodStore(state).save(old, tmp_path / "salon.toml")
    config = _write(tmp_path / "salon.toml", "[room\n")
    result = load_with_fallback(config, state)
    assert result.settings is None
    assert {p.field_path for p in result.problems} == {"", "camera.old_key"}
    assert any("last good copy" in p.file for p in result.problems)


def test_last_good_is_not_rewritten_when_unchanged(tmp_path: Path) -> None:
    config, state = _write(tmp_path / "salon.toml", MINIMAL), tmp_path / "state"
    load_with_fallback(config, state)
    stored = state / LastGoodStore.TEXT
    os.utime(stored, (1, 1))
    load_with_fallback(config, state)
    assert stored.stat().st_mtime == 1


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


# --- check-config -----------------------------------------------------------------------


def test_check_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_config_main([str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK {EXAMPLE} sha256:") and "TOPLANTI ODASI 1" in out

    assert check_config_main([str(BROKEN / "fps_out_of_range.toml")]) == 1
    out = capsys.readouterr().out
    assert "fps_out_of_range.toml:14: error: camera.fps: 120 is out of range" in out

    config = _write(tmp_path / "salon.toml", DEVICE)
    assert check_config_main([str(config)]) == 1
    assert "password file not found" in capsys.readouterr().out
    assert check_config_main(["--offline", str(config)]) == 0
    inline = _write(tmp_path / "inline.toml", MINIMAL + '\n[join]\npassword = "x"\n')
    assert check_config_main([str(inline)]) == 0
    assert check_config_main(["--strict", str(inline)]) == 1
    assert check_config_main(["--no-such-flag"]) == 2


def test_a_pi_camera_turned_a_quarter_is_refused_but_a_usb_camera_turns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The default back-end is picamera2: rotation alone names it.
    config = _write(tmp_path / "salon.toml", MINIMAL + "\n[camera]\nrotation = 270\n")
    assert check_config_main([str(config)]) == 1
    out = capsys.readouterr().out
    assert (f"{config}:9: error: camera.rotation: a Pi camera module (backend \"picamera2\") "
            "cannot turn its picture 270 degrees") in out
    assert "expected: rotation = 0 or 180" in out and 'backend = "v4l2"' in out
    for ok in ('rotation = 180\nvflip = true', 'backend = "v4l2"\nrotation = 90',
               'backend = "simulated"\nrotation = 270'):
        settings, problems = validate_text(MINIMAL + f"\n[camera]\n{ok}\n")
        assert settings is not None and problems == [], format_problems(problems)


def test_check_config_needs_only_pydantic_and_the_standard_library() -> None:
    heavy = ["gpiozero", "aiortc", "av", "numpy", "pygame", "aiohttp", "alsaaudio", "livekit"]
    code = (
        "import sys; from appliance.provisioning.loader import check_config_main\n"
        f"assert check_config_main([{str(EXAMPLE)!r}]) == 0\n"
        f"print([m for m in sys.modules if m.split('.')[0] in {heavy!r}])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip().endswith("[]")


def test_docs_describe_every_key() -> None:
    docs = (ROOT / "docs" / "provisioning.md").read_text(encoding="utf-8")
    for section, info in Settings.model_fields.items():
        part = docs.split(f"### [{section}]", 1)[1].split("\n### ", 1)[0]
        for key in _keys(info.annotation):
            assert f"`{key}`" in part, f"{section}.{key} is not documented"


def _keys(annotation: object) -> set[str]:
    """Field names of a table and of its sub-tables."""
    models = [a for a in (annotation, *typing.get_args(annotation))
              if isinstance(a, type) and issubclass(a, BaseModel)]
    keys: set[str] = set()
    for model in models:
        for name, field in model.model_fields.items():
            sub = _keys(field.annotation)
            keys |= sub if sub else {name}
    return keys
