"""Five-field cron lines, checked the way the engines' parsers read them (robfig/cron for
Argo, cron/scrontab for Slurm): numbers only, each within its field's range."""

from __future__ import annotations

import re

FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
_ITEM = re.compile(r"^(\*|([0-9]+)(?:-([0-9]+))?)(?:/([0-9]+))?$")  # ASCII digits only, as cron reads them


def cron_problem(line: str) -> str | None:
    """What is wrong with a cron line, or None when every engine accepts it."""
    fields = line.split()
    if len(fields) != 5:
        return f"a cron line has five fields (minute hour day-of-month month day-of-week), not {len(fields)}"
    for text, (name, low, high) in zip(fields, FIELDS):
        for item in text.split(","):
            match = _ITEM.match(item)
            if match is None:
                return f"{name} field {text!r}: use numbers, *, a-b ranges, /steps and commas"
            start, end, step = match.group(2), match.group(3), match.group(4)
            for number in (start, end):
                if number is not None and not low <= int(number) <= high:
                    return f"{name} field {text!r}: {int(number)} is outside {low}-{high}"
            if start is not None and end is not None and int(start) > int(end):
                return f"{name} field {text!r}: the range {start}-{end} runs backwards"
            if step is not None and int(step) == 0:
                return f"{name} field {text!r}: a step must be at least 1"
    return None
