"""The one provisioning loader: find the TOML file, validate it as a whole, keep the
last good copy.

    settings = load_config("/boot/firmware/salon.toml")      # raises ConfigError
    result = load_with_fallback(None, "/var/lib/salon")      # never raises

Search order without an explicit path: /boot/firmware/salon.toml (editable from
any PC on the SD card), then /etc/salon/appliance.toml. Every problem names the
file, the line, the field path, what was expected and, for an unknown key, the
nearest known one. The schema lives in `appliance.provisioning.schema`, cross-key
rules in `appliance.provisioning.checks`. Standard library and pydantic only: the
`check-config` command runs on an admin's laptop.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from appliance.provisioning.checks import run_checks
from appliance.provisioning.report import ConfigError, ConfigProblem, Reporter, format_problems, say
from appliance.provisioning.schema import BASE_DIR_KEY, Settings

__all__ = [
    "DEFAULT_SEARCH_PATH",
    "MAX_CONFIG_BYTES",
    "ConfigError",
    "ConfigProblem",
    "LastGoodStore",
    "LoadResult",
    "Settings",
    "check_config_main",
    "config_hash",
    "find_config_file",
    "format_problems",
    "load_config",
    "load_with_fallback",
    "read_config_text",
    "validate_text",
]

log = logging.getLogger("appliance.provisioning.loader")

DEFAULT_SEARCH_PATH: tuple[Path, ...] = (
    Path("/boot/firmware/salon.toml"),
    Path("/etc/salon/appliance.toml"),
)
#: Nine times the fully commented example file: anything bigger is not a provisioning
#: file (or is damaged), and is never read whole.
MAX_CONFIG_BYTES = 64 * 1024


def config_hash(text: str) -> str:
    """sha256 of the file's text (UTF-8, without a byte-order mark)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_config_file(path: str | os.PathLike[str] | None = None,
                     search_path: Sequence[Path] = DEFAULT_SEARCH_PATH) -> Path:
    """An explicit path is used as is (missing is an error, never a fallback);
    otherwise the first existing file of the search path."""
    if path is not None:
        return Path(path)
    for candidate in search_path:
        if candidate.exists():
            return candidate
    searched = ", ".join(str(p) for p in search_path)
    raise ConfigError([ConfigProblem(
        searched, None, "", say("no_file"), f"one of: {searched}",
        "copy config/appliance.example.toml to /boot/firmware/salon.toml and edit it")])


def read_config_text(path: Path) -> str:
    """The file's text; unreadable, oversized or non-UTF-8 files raise ConfigError.
    At most MAX_CONFIG_BYTES (and one more, to tell) are read."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
            size = max(os.fstat(handle.fileno()).st_size, len(data))
    except FileNotFoundError:
        problem = ConfigProblem(str(path), None, "", say("file_not_found"), "an existing file")
        raise ConfigError([problem]) from None
    except OSError as exc:
        problem = ConfigProblem(str(path), None, "", say("cannot_read", reason=str(exc.strerror)),
                                "a file readable by the service")
        raise ConfigError([problem]) from None
    if len(data) > MAX_CONFIG_BYTES:
        limit = f"{MAX_CONFIG_BYTES // 1024} KiB"
        problem = ConfigProblem(
            str(path), None, "", say("too_large", size=size, limit=limit),
            f"a provisioning file of at most {limit}",
            "check the path; copy config/appliance.example.toml and edit it")
        raise ConfigError([problem])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = ConfigProblem(
            str(path), line, "", say("not_utf8", byte=f"0x{data[exc.start]:02x}"),
            "UTF-8 text", "save it as UTF-8 (Notepad: Save as, Encoding: UTF-8)")
        raise ConfigError([problem]) from None


def validate_text(text: str, *, file: str = "<config>", base_dir: Path | None = None,
                  local_files: bool = True) -> tuple[Settings | None, list[ConfigProblem]]:
    """Validate a whole provisioning file. Returns the settings (None if any error)
    and every problem, warnings included. `local_files=False` skips the checks of
    files on this disk (password_file, ca_file, mic_wav) for checking elsewhere."""
    rep = Reporter(file, text)
    if "\0" in text:  # what a power cut leaves at the end of a file on a FAT card
        line = text.count("\n", 0, text.index("\0")) + 1
        rep.add("", say("nul_bytes", count=text.count("\0"), line=line), "plain text",
                "copy a good provisioning file onto the card again (check-config it first)",
                line=line)
        return None, rep.problems
    if rep.too_deep():
        return None, rep.problems
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        rep.syntax_error(exc, text)
        return None, rep.problems
    context = {BASE_DIR_KEY: base_dir}
    tables: dict[str, BaseModel] = {}
    for key in raw:
        if key not in Settings.model_fields:
            rep.unknown_key(Settings, (key,))
    for name, info in Settings.model_fields.items():
        model = info.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        if name not in raw and info.is_required():
            needed = ", ".join(k for k, f in model.model_fields.items() if f.is_required())
            rep.add(name, say("table_missing", table=name), f"a [{name}] table with {needed}")
            continue
        try:
            tables[name] = model.model_validate(raw.get(name, {}), context=context)
        except ValidationError as exc:
            rep.validation_error(exc, (name,), Settings)
    run_checks(raw, tables, rep, local_files=local_files)
    if rep.has_errors:
        return None, rep.problems
    return Settings.model_validate(tables), rep.problems


def load_config(path: str | os.PathLike[str] | None = None, *,
                search_path: Sequence[Path] = DEFAULT_SEARCH_PATH,
                local_files: bool = True) -> Settings:
    """Find, read and validate the provisioning file. Raises ConfigError listing every
    error; warnings are logged."""
    source = find_config_file(path, search_path)
    text = read_config_text(source)
    settings, problems = validate_text(text, file=str(source), base_dir=source.parent,
                                       local_files=local_files)
    if settings is None:
        raise ConfigError(problems)
    for problem in problems:
        log.warning("%s", problem)
    return settings


# --- last known good --------------------------------------------------------------


@dataclass(frozen=True)
class LastGood:
    text: str
    hash: str
    source: Path


class LastGoodStore:
    """The last provisioning file that validated, kept in the service's state
    directory (never on the boot partition) with its hash and original path."""

    TEXT = "last-good.toml"
    META = "last-good.json"

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)

    def save(self, text: str, source: Path) -> str:
        """Store `text` (mode 0600: it may hold an inline password); returns its hash."""
        digest = config_hash(text)
        current = self.load()
        if current is not None and current.hash == digest and current.source == source:
            return digest  # spare the SD card a write at every boot
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._write(self.TEXT, text)
        self._write(self.META, json.dumps({"sha256": digest, "source": str(source)}))
        return digest

    def load(self) -> LastGood | None:
        """The stored copy, or None if absent or damaged (hash mismatch)."""
        try:
            text = (self.state_dir / self.TEXT).read_text(encoding="utf-8")
            meta = json.loads((self.state_dir / self.META).read_text(encoding="utf-8"))
            digest, source = str(meta["sha256"]), Path(str(meta["source"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if config_hash(text) != digest:
            log.warning("last good config in %s is damaged; ignoring it", self.state_dir)
            return None
        return LastGood(text, digest, source)

    def _write(self, name: str, content: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.state_dir / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class LoadResult:
    """What start-up runs with. `problems` are those of the file on disk (plus the
    last good copy's, if that failed too); `config_hash` is of the config in use,
    or of the rejected file when nothing is usable."""

    settings: Settings | None
    problems: list[ConfigProblem] = field(default_factory=list)
    using_last_good: bool = False
    config_hash: str | None = None
    source: Path | None = None

    @property
    def ok(self) -> bool:
        return self.settings is not None and not self.using_last_good


def load_with_fallback(path: str | os.PathLike[str] | None,
                       state_dir: str | os.PathLike[str], *,
                       search_path: Sequence[Path] = DEFAULT_SEARCH_PATH,
                       local_files: bool = True) -> LoadResult:
    """Load the provisioning file; if it is invalid, run the last good copy. Never
    raises for a bad or missing file."""
    store = LastGoodStore(state_dir)
    source: Path | None = None
    file_hash: str | None = None
    try:
        source = find_config_file(path, search_path)
        text = read_config_text(source)
        file_hash = config_hash(text)
        settings, problems = validate_text(text, file=str(source), base_dir=source.parent,
                                           local_files=local_files)
    except ConfigError as exc:
        settings, problems = None, exc.problems
    except Exception as exc:  # a loader bug must not stop the room from running
        log.exception("unexpected error while loading the config")
        settings, problems = None, [ConfigProblem(
            str(source or path or "config"), None, "", say("internal_error", detail=repr(exc)))]
    if settings is not None and source is not None and file_hash is not None:
        try:
            store.save(text, source)
        except OSError as exc:
            log.warning("cannot keep the last good config in %s: %s", state_dir, exc)
        return LoadResult(settings, problems, False, file_hash, source)
    return _fall_back(store, problems, file_hash, source, local_files)


def _fall_back(store: LastGoodStore, problems: list[ConfigProblem], file_hash: str | None,
               source: Path | None, local_files: bool) -> LoadResult:
    last = store.load()
    if last is None:
        return LoadResult(None, problems, False, file_hash, source)
    label = f"{store.state_dir / store.TEXT} (last good copy of {last.source})"
    try:
        settings, old_problems = validate_text(last.text, file=label,
                                               base_dir=last.source.parent,
                                               local_files=local_files)
    except Exception as exc:
        log.exception("unexpected error while loading the last good config")
        settings, old_problems = None, [
            ConfigProblem(label, None, "", say("internal_error", detail=repr(exc)))]
    if settings is None:
        return LoadResult(None, problems + old_problems, False, file_hash, source)
    return LoadResult(settings, problems, True, last.hash, last.source)


# --- salon-appliance check-config -------------------------------------------------


def check_config_main(argv: Sequence[str] | None = None) -> int:
    """`salon-appliance check-config [--offline] [--strict] [FILE]`: print every
    problem and exit 1, or a short summary and exit 0."""
    parser = argparse.ArgumentParser(
        prog="salon-appliance check-config",
        description="Validate a Salon appliance provisioning file.")
    parser.add_argument("file", nargs="?", help="the file (default: the search order "
                        + ", ".join(str(p) for p in DEFAULT_SEARCH_PATH) + ")")
    parser.add_argument("--offline", action="store_true",
                        help="checking on another computer: skip password_file, ca_file and "
                        "mic_wav checks on this disk")
    parser.add_argument("--strict", action="store_true", help="warnings fail too")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        source = find_config_file(args.file)
        text = read_config_text(source)
    except ConfigError as exc:
        print(format_problems(exc.problems))
        return 1
    settings, problems = validate_text(text, file=str(source), base_dir=source.parent,
                                       local_files=not args.offline)
    if problems:
        print(format_problems(problems))
    if settings is None or (args.strict and problems):
        return 1
    print(summary(settings, source, config_hash(text)))
    return 0


def summary(settings: Settings, source: Path, digest: str) -> str:
    """A few lines an admin can read back to check what the box will do."""
    join, cam, audio = settings.join, settings.camera, settings.audio
    content = settings.content
    account = f"device account {join.user}" if join.mode == "device" else "guest"
    buttons = ", ".join(f"{name} GPIO {spec.pin}"
                        for name, spec in settings.buttons.configured().items()) or "none"
    return "\n".join([
        f"OK {source} sha256:{digest[:12]}",
        f"  room     {settings.room.name} ({settings.room.language})",
        f"  bridge   {settings.bridge.url} room {settings.bridge.room}",
        f"  join     {account} as {settings.display_name!r}, {join.policy}",
        f"  camera   {cam.backend} {cam.width}x{cam.height} @ {cam.fps} fps, "
        f"{cam.bitrate_min_kbps}-{cam.bitrate_max_kbps} kbit/s",
        f"  content  {content.backend}" + (
            f" {content.device} {content.width}x{content.height} @ {content.fps} fps, "
            f"encoder {content.encoder}" if content.backend != "none" else ""),
        f"  audio    mic {audio.mic_backend}, speaker {audio.speaker_backend}, "
        f"echo cancellation {'on' if audio.software_aec else 'off'}",
        f"  buttons  {buttons} ({settings.buttons.pin_factory})",
    ])
