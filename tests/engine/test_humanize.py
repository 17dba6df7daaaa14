"""Quantities as people read them: singular for one, words past any meaningful figure."""

from __future__ import annotations

import math

import pytest

from gpu_worker.humanize import FAR_BEYOND, duration, plural


@pytest.mark.parametrize(
    ("seconds", "long", "short"),
    [
        (None, "unknown", "unknown"),
        (math.nan, "unknown", "unknown"),
        (0.2, "under a second", "under a second"),
        (1, "1 second", "1 s"),
        (45, "45 seconds", "45 s"),
        (60, "1 minute", "1 min"),
        (90, "1.5 minutes", "1.5 min"),
        (3600, "1 hour", "1 h"),
        (86400, "1 day", "1 d"),
        (2.5 * 86400, "2.5 days", "2.5 d"),
        (400 * 365 * 86400, "400 years", "400 y"),
        (4.2e20, FAR_BEYOND, FAR_BEYOND),
        (math.inf, FAR_BEYOND, FAR_BEYOND),
    ],
)
def test_durations_read_as_words_people_use(seconds: float | None, long: str, short: str) -> None:
    assert duration(seconds) == long and duration(seconds, short=True) == short


def test_no_trillion_year_figures_anywhere() -> None:
    for exponent in range(0, 300, 7):
        text = duration(10.0**exponent)
        figure, _, unit = text.partition(" ")
        assert text == FAR_BEYOND or unit not in ("year", "years") or float(figure.replace(",", "")) < 1000, text


def test_plurals_agree_with_the_figure_shown() -> None:
    assert [
        plural(1, "pull"),
        plural(2, "pull"),
        plural(0, "pull"),
        plural(1.0, "day"),
        plural(1_000, "key"),
        plural(1, "match", "matches"),
        plural(3, "match", "matches"),
    ] == ["1 pull", "2 pulls", "0 pulls", "1 day", "1,000 keys", "1 match", "3 matches"]
