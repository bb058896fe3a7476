"""Display names, and the guide's guest-name form "AD SOYAD – İL/BİRİM".

The guide asks guests to type their name in capitals, a dash, then their
province or directorate: "BEHİÇ ÇELEBİ – ANKARA MEM". A room may require that
form; a wrong one is refused with a code saying what to fix.
"""

from __future__ import annotations

import re

from bridge.meetings.effects import Refused
from bridge.store.accounts import MAX_DISPLAY_NAME, InvalidValue, clean_text

EXAMPLE = "BEHİÇ ÇELEBİ – ANKARA MEM"
# Latin capitals (foreign names too) and those of Turkish with the circumflexed vowels.
CAPITALS = "A-ZÇĞİÖŞÜÂÎÛ"
WORD = re.compile(rf"[{CAPITALS}]+(?:['’-][{CAPITALS}]+)*")
UNIT = re.compile(rf"[{CAPITALS}0-9][{CAPITALS}0-9 ./()'’-]*")
SPACED_DASH = re.compile(r"\s+[-–—]\s+")
DASHES = "-–—"


def display_name(raw: str) -> str:
    """A participant's name: NFC, no control or bidi characters, 1..80 characters."""
    try:
        return clean_text(raw, "display name", MAX_DISPLAY_NAME)
    except InvalidValue as exc:
        raise Refused("bad_name", str(exc)) from exc


def guest_name_in_guide_form(raw: str) -> str:
    """Check "AD SOYAD – İL/BİRİM"; return it with one en dash between the two parts."""
    name = display_name(raw)
    if any(ch.islower() for ch in name):
        raise _form("guest_name_capitals", "write your name in capital letters")
    person, unit = _split(name)
    words = person.split(" ")
    if len(words) < 2:
        raise _form("guest_name_words", "give your first name and surname before the dash")
    if not all(WORD.fullmatch(w) for w in words):
        raise _form("guest_name_letters", "use only letters of the Turkish alphabet in your name")
    if not UNIT.fullmatch(unit) or not any(ch.isalpha() for ch in unit):
        raise _form("guest_name_unit", "after the dash write your province or unit")
    return f"{person} – {unit}"


def _split(name: str) -> tuple[str, str]:
    spaced = SPACED_DASH.search(name)
    if spaced is not None:
        return name[: spaced.start()], name[spaced.end() :]
    dashes = [i for i, ch in enumerate(name) if ch in DASHES]
    if len(dashes) == 1 and 0 < dashes[0] < len(name) - 1:
        return name[: dashes[0]].strip(), name[dashes[0] + 1 :].strip()
    raise _form("guest_name_dash", "put a dash and your province or unit after your name")


def _form(code: str, what: str) -> Refused:
    return Refused(code, f"{what}, like “{EXAMPLE}”")
