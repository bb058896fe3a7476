"""The provisioning file's problems as the room's screen shows them."""

from __future__ import annotations

from collections.abc import Sequence

from appliance.provisioning.loader import ConfigProblem
from appliance.screen import model as sm


def screen_problems(problems: Sequence[ConfigProblem]) -> tuple[sm.ConfigProblem, ...]:
    """The validator's problems as the screen shows them: its very words (the phrase,
    translated there), with file, line and field."""
    return tuple(sm.ConfigProblem(file=str(p.file), message=p.message, line=p.line,
                                  field=p.field_path or None, text=p.text)
                 for p in problems)


def problems_screen(problems: Sequence[ConfigProblem], version: str) -> sm.ScreenModel:
    """The config-problem screen: where (file, line), which field, what is wrong."""
    return sm.ScreenModel(phase=sm.Phase.CONFIG_ERROR, version=version,
                          config_problems=screen_problems(problems))
