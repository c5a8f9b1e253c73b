"""OSMO's value syntaxes: quantities (memory, storage), durations (timeouts, checkpoint
frequency) and exit-code ranges, each parsed as the OSMO service parses it
(../shared/reference/osmo.md §1.2, §1.9, §1.10, §1.11)."""

from __future__ import annotations

import math
import re

# Units OSMO accepts; the bare decimal letters are binary there too (G == Gi), and a number
# without a unit is KiB.
_UNITS = {
    "": 1024, "B": 1, "m": 0.001,
    "K": 1024, "Ki": 1024, "KiB": 1024,
    "M": 1024**2, "Mi": 1024**2, "MiB": 1024**2,
    "G": 1024**3, "Gi": 1024**3, "GiB": 1024**3,
    "T": 1024**4, "Ti": 1024**4, "TiB": 1024**4,
}
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)([a-zA-Z]*)")
_DURATION = re.compile(r"([0-9]+)(us|ms|s|m|h|d)")
_ISO_DURATION = re.compile(r"P(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+(?:\.[0-9]+)?)S)?)?")
_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
_RANGES = re.compile(r"^(\d+(-\d+)?)+(,\d+(-\d+)?)*$")


def quantity_mib(value: object) -> int | None:
    """A memory or storage quantity in MiB (rounded up), or None when OSMO would refuse it.
    A YAML number is bytes; text without a unit is KiB (as OSMO converts them)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return max(1, math.ceil(value / 1024**2))
    text = str(value).strip()
    match = _QUANTITY.fullmatch(text)
    if match is None or match.group(2) not in _UNITS:
        return None
    size = float(match.group(1)) * _UNITS[match.group(2)]
    return max(1, math.ceil(size / 1024**2))


def duration_seconds(value: object) -> int | None:
    """A duration as OSMO's parser reads it: `<n><unit>` with unit us, ms, s, m, h or d, an
    ISO 8601 duration (`PT1H30M`, `P1D`), or a number of seconds; None for anything else
    (`10h5m`: units cannot be mixed). Whole seconds, rounded up."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return math.ceil(value) if value >= 0 and math.isfinite(value) else None
    text = str(value).strip()
    match = _DURATION.fullmatch(text)
    if match is not None:
        return math.ceil(int(match.group(1)) * _SECONDS[match.group(2)])
    match = _ISO_DURATION.fullmatch(text)
    if match is None or text in ("P", "PT"):
        return None
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return math.ceil(days * 86400 + hours * 3600 + minutes * 60 + seconds)


def code_ranges(value: object) -> tuple[tuple[int, int], ...] | None:
    """`0,1-10,16` as inclusive ranges; None when the text does not parse or a range runs
    backwards."""
    text = str(value).strip()
    if isinstance(value, bool) or not _RANGES.match(text):
        return None
    out = []
    for piece in text.split(","):
        bounds = piece.split("-")
        if len(bounds) > 2:  # OSMO's pattern lets `1-23-4` through; it means nothing
            return None
        first, last = int(bounds[0]), int(bounds[-1])
        if last < first:
            return None
        out.append((first, last))
    return tuple(out)
