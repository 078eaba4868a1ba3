"""Durations as people write and read them (pure): '26h' to seconds, and seconds to '26 h'."""

import math
import re

from lenet_batch.errors import ConfigError

__all__ = ["DURATION_UNITS", "format_duration", "parse_duration"]

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Printed units, largest last: a value is shown in the largest one it reaches, except that hours run up to
# two days, so a day and a bit reads "26 h" rather than "1.1 d".
_SHOWN = (("s", 1, 60), ("min", 60, 3600), ("h", 3600, 2 * 86400))  # then days


def parse_duration(text: str, flag: str) -> float:
    """Seconds in '26h', '90m', '2d', '3600s' or '3600' (seconds); ConfigError naming the flag."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"{flag} {text!r}: give a positive duration such as 26h, 90m, 2d or 3600s")
    return float(m.group(1)) * DURATION_UNITS[m.group(2) or "s"]


def _rounded(value: float, fractions: bool) -> float:
    """Digits that read well: whole from 10 up, one decimal below, three below one when the unit is the
    smallest (0.5 s, 0.04 s; a larger unit is reached only from 59.5 of the one below)."""
    if value >= 10:
        return float(round(value))
    return round(value, 3 if value < 1 and fractions else 1)


def format_duration(seconds: float) -> str:
    """'0.5 s', '45 s', '45 min', '1.5 h', '26 h', '3 d': the largest unit that reads well."""
    if not math.isfinite(seconds):
        return "forever" if seconds == math.inf else "unknown"
    sign, rest = ("-" if seconds < 0 else ""), abs(seconds)
    for unit, size, below in _SHOWN:
        value = _rounded(rest / size, size == 1)
        if value * size < below:  # 59.7 s rounds to 60 s: that is "1 min"
            return f"{sign}{value:g} {unit}"
    return f"{sign}{_rounded(rest / 86400, False):g} d"
