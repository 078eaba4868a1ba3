"""Durations: what people type (--max-age 26h) to seconds, and seconds to what people read ("26 h")."""

import math

import pytest

from lenet_batch.errors import ConfigError
from lenet_batch.units import format_duration, parse_duration


@pytest.mark.parametrize(
    "seconds, shown",
    [
        (0, "0 s"),
        (0.0004, "0 s"),
        (0.04, "0.04 s"),
        (0.5, "0.5 s"),
        (1, "1 s"),
        (9.96, "10 s"),
        (45, "45 s"),
        (59.4, "59 s"),
        (59.7, "1 min"),  # rounds to 60 s: a minute
        (90, "1.5 min"),
        (45 * 60, "45 min"),
        (3599, "1 h"),
        (5400, "1.5 h"),
        (26 * 3600, "26 h"),  # a day and a bit reads better in hours
        (47.9 * 3600, "2 d"),
        (2 * 86400, "2 d"),
        (3 * 86400, "3 d"),
        (400 * 86400, "400 d"),
        (-90, "-1.5 min"),  # a file dated in the future is this much younger than now
        (math.inf, "forever"),
        (math.nan, "unknown"),
    ],
)
def test_a_duration_reads_in_the_largest_unit_that_reads_well(seconds, shown):
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(
    "typed, shown", [("1s", "1 s"), ("3600", "1 h"), ("90m", "1.5 h"), ("26h", "26 h"), ("2d", "2 d")]
)
def test_what_is_typed_reads_back_as_itself_or_better(typed, shown):
    assert format_duration(parse_duration(typed, "--max-age")) == shown


@pytest.mark.parametrize("typed", ["soon", "", "0", "-1h", "1w", "1.h"])
def test_a_duration_that_is_not_one_names_the_flag(typed):
    with pytest.raises(ConfigError, match=f"--max-age '{typed}': give a positive duration"):
        parse_duration(typed, "--max-age")


def test_the_formatter_has_no_float_noise_anywhere_on_a_log_scale():
    for exponent in range(-30, 70):
        text = format_duration(10 ** (exponent / 10))
        number, unit = text.split(" ")
        assert unit in ("s", "min", "h", "d") and len(number.replace(".", "")) <= 4, text
