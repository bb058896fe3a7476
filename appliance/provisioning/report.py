"""Config problems an admin can act on: file, line, field path, what was expected.

`KeyLines` maps dotted field paths to the line of that key (or table) in the
TOML text; `Reporter` turns pydantic and TOML errors into `ConfigProblem`s.
Each message is a `Phrase` (a key of the screen's catalogue, appliance.screen.i18n_config,
and its arguments): printed in English, shown on the room's screen in its language.
Nothing secret is echoed: password values never, and a URL's user name and password
are masked wherever a problem quotes one.
Standard library and pydantic only (see appliance.provisioning.schema).
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, SecretStr, ValidationError

from appliance.provisioning.words import Phrase, phrase

Severity = Literal["error", "warning"]
SECRET_KEYS = frozenset({"password"})
PhraseArg = str | int | Phrase
#: Deeper than any provisioning file needs (table, inline table, list): refused before
#: parsing, as tomllib recurses once per level and a few hundred overflow Python's stack.
MAX_NESTING = 32


def say(phrase_key: str, /, **args: PhraseArg) -> Phrase:
    """The phrase `phrase_key` of the catalogue with its arguments."""
    return Phrase(phrase_key, tuple(args.items()))


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a provisioning file. `text` says what, as a phrase;
    `expected` and `suggestion` are English, for the admin at check-config."""

    file: str
    line: int | None
    field_path: str
    text: Phrase
    expected: str = ""
    suggestion: str = ""
    severity: Severity = "error"

    @property
    def message(self) -> str:
        """What is wrong, in English."""
        return phrase(self.text, "en")

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.field_path}:" if self.field_path else ""
        text = f"{where}: {self.severity}:{field} {self.message}"
        if self.expected:
            text += f"\n    expected: {self.expected}"
        if self.suggestion:
            text += f"\n    hint: {self.suggestion}"
        return text


class ConfigError(Exception):
    """The provisioning file cannot be used; `problems` says why."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__(format_problems(self.problems))


def format_problems(problems: Iterable[ConfigProblem]) -> str:
    """Human text, one problem per paragraph, errors first, then a count."""
    ordered = sorted(problems, key=lambda p: (p.severity != "error", p.file, p.line or 0))
    errors = sum(p.severity == "error" for p in ordered)
    warnings = len(ordered) - errors
    body = "\n".join(str(p) for p in ordered)
    count = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    return f"{body}\n{count}" if body else count


# --- where a key is ---------------------------------------------------------------

_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_DOTTED = rf"{_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*"
_TABLE = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=(.*)$")
_PART = re.compile(r'"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_-]+)')


def _split_key(dotted: str) -> tuple[str, ...]:
    return tuple(m.group(1) or m.group(2) or m.group(3) or "" for m in _PART.finditer(dotted))


def _scan(text: str, depth: int, multiline: str) -> tuple[int, str, int]:
    """Bracket depth and open multi-line string delimiter after `text`, and the deepest
    bracket depth within it."""
    deepest = depth
    i = 0
    while i < len(text):
        if multiline:
            end = text.find(multiline, i)
            if end < 0:
                return depth, multiline, deepest
            i, multiline = end + 3, ""
            continue
        if text.startswith(('"""', "'''"), i):
            multiline, i = text[i : i + 3], i + 3
            continue
        char = text[i]
        if char in "\"'":
            i += 1
            while i < len(text) and text[i] != char:
                i += 2 if char == '"' and text[i] == "\\" else 1
        elif char == "#":
            break
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
        i += 1
    return depth, multiline, deepest


class KeyLines:
    """Line numbers (1-based) of keys and table headers in TOML text, and how deep its
    values nest (`deepening`: each new greatest depth and the line reaching it)."""

    def __init__(self, text: str) -> None:
        self._line_of: dict[tuple[str, ...], int] = {}
        self._path_at: dict[int, tuple[str, ...]] = {}
        self.deepening: list[tuple[int, int]] = []
        table: tuple[str, ...] = ()
        depth, multiline = 0, ""
        for number, line in enumerate(text.splitlines(), start=1):
            if depth > 0 or multiline:
                depth, multiline, deepest = _scan(line, depth, multiline)
            elif header := _TABLE.match(line):
                table = _split_key(header.group(1))
                self._remember(table, number)
                continue
            elif key := _KEY.match(line):
                self._remember(table + _split_key(key.group(1)), number)
                depth, multiline, deepest = _scan(key.group(2), 0, "")
            else:
                continue
            if deepest > (self.deepening[-1][0] if self.deepening else 0):
                self.deepening.append((deepest, number))

    def _remember(self, path: tuple[str, ...], number: int) -> None:
        self._line_of.setdefault(path, number)
        self._path_at[number] = path

    def line_of(self, path: str | Sequence[str | int]) -> int | None:
        """The line of `path` or, failing that, of its nearest enclosing key or table."""
        keys = split_path(path) if isinstance(path, str) else tuple(
            str(p) for p in path if isinstance(p, str))
        while keys:
            if keys in self._line_of:
                return self._line_of[keys]
            keys = keys[:-1]
        return None

    def has(self, path: str) -> bool:
        return split_path(path) in self._line_of

    def path_at(self, line: int) -> str:
        return ".".join(self._path_at.get(line, ()))


def split_path(path: str) -> tuple[str, ...]:
    """"audio.mic_channels_used[2]" -> ("audio", "mic_channels_used")."""
    return tuple(part for part in re.sub(r"\[\d+\]", "", path).split(".") if part)


def join_path(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# --- what problems may quote --------------------------------------------------------

_URL_CREDENTIALS = re.compile(r"(?<=://)[^/\s\"'@]+@")
_BARE_CREDENTIALS = re.compile(r"(?<![\w.%+-])[\w.%+-]+:[^/\s\"'@]+@(?=[\w\[])")
MASK = "***@"


def redact(text: str) -> str:
    """`text` with the user name and password of any URL in it masked."""
    return _BARE_CREDENTIALS.sub(MASK, _URL_CREDENTIALS.sub(MASK, text))


def _redact_phrase(text: Phrase) -> Phrase:
    return Phrase(text.key, tuple(
        (name, _redact_phrase(value) if isinstance(value, Phrase)
         else redact(value) if isinstance(value, str) else value)
        for name, value in text.args))


def excerpt(source: str, limit: int = 60) -> str:
    """A line of the file as a problem may quote it: control characters escaped (a
    damaged file can hold anything), cut to `limit` characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in source.strip())
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


# --- describing values and fields ---------------------------------------------------


def toml_value(value: object) -> str:
    """A value as it would be written in TOML, shortened for messages."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, dict):
        text = "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    elif isinstance(value, list):
        text = "[" + ", ".join(toml_value(v) for v in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def kind_of(value: object) -> Phrase:
    for types_, key in (
        (bool, "kind_bool"), (int, "kind_int"), (float, "kind_float"), (str, "kind_str"),
        (list, "kind_list"), (dict, "kind_table"), ((datetime, date, time), "kind_datetime"),
    ):
        if isinstance(value, types_):
            return say(key)
    return say("type_other", name=type(value).__name__)


def _ranged(base: str, metadata: Sequence[object]) -> Phrase:
    """`base` ("type_int", "type_number") with the bounds the schema gives."""
    low = high = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Le):
            high = item.le
    if low is not None and high is not None:
        return say(f"{base}_range", low=str(low), high=str(high))
    if low is not None:
        return say(f"{base}_min", low=str(low))
    return say(f"{base}_max", high=str(high)) if high is not None else say(base)


def describe_type(annotation: object, metadata: Sequence[object] = ()) -> Phrase:
    """Plain words for what a field accepts, straight from the schema."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return describe_type(inner[0], metadata) if len(inner) == 1 else say("type_any")
    if origin is typing.Annotated:
        return describe_type(args[0], [*metadata, *args[1:]])
    if origin is Literal:
        return say("type_choice", choices=", ".join(toml_value(a) for a in args))
    if origin is list:
        return say("type_int_list" if args == (int,) else "type_list")
    if annotation is bool:
        return say("type_bool")
    if annotation is int:
        return _ranged("type_int", metadata)
    if annotation is float:
        return _ranged("type_number", metadata)
    if annotation in (str, SecretStr):
        return say("type_string")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return say("type_table")
    return say("type_other", name=str(annotation))


def model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that holds the last key of `loc`."""
    for key in loc[:-1]:
        if isinstance(key, int):
            return None
        field = model.model_fields.get(key)
        if field is None:
            return None
        candidates = [field.annotation, *typing.get_args(field.annotation)]
        found = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not found:
            return None
        model = found[0]
    return model


def describe_field(model: type[BaseModel], loc: Sequence[str | int]) -> Phrase | None:
    """What the field at `loc` accepts (for a list item: what one item accepts)."""
    keys = list(loc)
    item = bool(keys) and isinstance(keys[-1], int)
    while keys and isinstance(keys[-1], int):
        keys.pop()
    owner = model_at(model, keys) if keys else None
    field = owner.model_fields.get(str(keys[-1])) if owner else None
    if field is None:
        return None
    annotation: object = field.annotation
    if item and typing.get_origin(annotation) is list:
        annotation = typing.get_args(annotation)[0]
    return describe_type(annotation, field.metadata)


def nearest(word: str, choices: Iterable[str]) -> str | None:
    by_lower = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


# --- collecting problems ----------------------------------------------------------


class Reporter:
    """Collects problems for one file, locating each on its line."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = KeyLines(text)
        self.problems: list[ConfigProblem] = []

    @property
    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    def add(self, path: str, text: Phrase, expected: str | Phrase = "", suggestion: str = "",
            *, severity: Severity = "error", at: str | None = None,
            line: int | None = None) -> None:
        """Record a problem at `path`; `at` names another key whose line is meant."""
        if line is None:
            line = self.lines.line_of(at if at is not None else path)
        if isinstance(expected, Phrase):
            expected = phrase(expected, "en")
        self.problems.append(ConfigProblem(
            self.file, line, path, _redact_phrase(text), redact(expected), redact(suggestion),
            severity))

    def warn(self, path: str, text: Phrase, expected: str = "", suggestion: str = "",
             *, at: str | None = None) -> None:
        self.add(path, text, expected, suggestion, severity="warning", at=at)

    def too_deep(self) -> bool:
        """Report values nested deeper than MAX_NESTING; True if they are."""
        line = next((n for depth, n in self.lines.deepening if depth > MAX_NESTING), None)
        if line is None:
            return False
        self.add(self.lines.path_at(line), say("too_deep", limit=MAX_NESTING),
                 f"tables and lists at most {MAX_NESTING} levels deep", line=line)
        return True

    def syntax_error(self, exc: tomllib.TOMLDecodeError, text: str) -> None:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        lines = text.splitlines()
        line = int(found.group(1)) if found else max(len(lines), 1)
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        source = lines[line - 1] if 0 < line <= len(lines) else ""
        if source.strip() and not _secret_line(source):
            message += f": {excerpt(source)}"
        self.add(self.lines.path_at(line), say("toml_syntax", detail=message), "valid TOML",
                 _syntax_hint(str(exc), source), line=line)

    def validation_error(self, exc: ValidationError, prefix: tuple[str, ...],
                         root: type[BaseModel]) -> None:
        for error in exc.errors():
            loc = (*prefix, *error["loc"])
            self._pydantic_problem(root, loc, error)

    def _pydantic_problem(self, root: type[BaseModel], loc: tuple[str | int, ...],
                          error: Any) -> None:
        path, kind, value = join_path(loc), error["type"], error.get("input")
        secret = any(p in SECRET_KEYS for p in loc if isinstance(p, str))
        shown: PhraseArg = say("secret_value") if secret else toml_value(value)
        ctx = error.get("ctx") or {}
        described = describe_field(root, loc)
        expected: str | Phrase = described or ""
        suggestion = ""
        if kind == "salon_invalid":
            text, expected, suggestion = ctx["phrase"], ctx["expected"], ctx["suggestion"]
        elif kind == "extra_forbidden":
            self.unknown_key(root, loc)
            return
        elif kind == "missing":
            text = say("key_missing", key=str(loc[-1]))
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            text = say("not_a_table", key=str(loc[-1]), kind=kind_of(value))
            expected = f"a [{path}] table or {loc[-1]} = {{ key = value, ... }}"
        elif kind == "literal_error":
            text = say("not_allowed", value=shown)
            choices = re.findall(r"'([^']*)'", ctx.get("expected", ""))
            match = nearest(str(value), choices) if isinstance(value, str) else None
            suggestion = f"did you mean {toml_value(match)}?" if match else ""
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            text = say("out_of_range", value=shown)
        elif kind in ("string_too_short", "string_too_long", "too_short", "too_long"):
            text = say("too_short" if "short" in kind else "too_long", value=shown)
        else:
            text = say("wrong_type", value=shown, kind=kind_of(value),
                       expected=described or say("type_any"))
            english = phrase(described, "en") if described else ""
            suggestion = "" if secret else _type_hint(value, english)
        self.add(path, text, expected, suggestion)

    def unknown_key(self, root: type[BaseModel], loc: tuple[str | int, ...]) -> None:
        key, owner = str(loc[-1]), model_at(root, loc)
        known = list(owner.model_fields) if owner else []
        path = join_path(loc)
        homes = [name for name, field in root.model_fields.items()
                 if _table_has(field.annotation, key) and name != loc[0]]
        if homes:
            suggestion = f"{key} belongs in [{homes[0]}]; move it there"
        elif (match := nearest(key, known)) is not None:
            suggestion = f"did you mean {match}?"
        else:
            suggestion = ""
        self.add(path, say("unknown_key", key=key), "one of: " + ", ".join(known), suggestion)


def _table_has(annotation: object, key: str) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel) and (
        key in annotation.model_fields)


def _secret_line(source: str) -> bool:
    return bool(re.match(r"\s*password\s*=", source))


def _type_hint(value: object, expected: str) -> str:
    if isinstance(value, str):
        if value.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
            return "write true or false without quotes"
        if re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
            return f"write {value.strip()} without quotes"
    if "string" in expected and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"put it in quotes: \"{value}\""
    if "integer" in expected and isinstance(value, float) and value.is_integer():
        return f"write {int(value)} without the decimal point"
    return ""


def _syntax_hint(error: str, source: str) -> str:
    _, _, value = source.partition("=")
    value = value.split("#")[0].strip()
    if value in ("True", "False", "TRUE", "FALSE", "yes", "no"):
        return "TOML booleans are written true or false (lower case)"
    if "Invalid value" in error and value and value[0] not in "\"'[{+-0123456789tfin":
        return "text values need double quotes, e.g. key = \"value\""
    if "Cannot declare" in error or "Cannot overwrite" in error:
        return "this table or key appears twice; keep one"
    if "Expected ']'" in error:
        return "close the table name with ]"
    if "Illegal character" in error or "Unterminated" in error:
        return "close the string with the same quote it opened with"
    return ""
