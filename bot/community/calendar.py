"""Days and seasons in the operator's time zone: a streak day is a local date, a season an ISO week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (cached); ZoneInfoNotFoundError for an unknown one."""
    return ZoneInfo(name)


def local_day(at: float, time_zone: str) -> str:
    """The local date (YYYY-MM-DD) of the instant `at` (Unix seconds)."""
    return datetime.fromtimestamp(at, tz=zone(time_zone)).date().isoformat()


def previous_day(day: str) -> str:
    """The ISO date (YYYY-MM-DD) the day before `day`."""
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


@dataclass(frozen=True)
class Season:
    """One weekly season: its ISO-week label and its start and end, Monday 00:00 in the community's time zone."""

    label: str  # "2026-W49"
    starts_at: datetime  # Monday 00:00 local, aware
    ends_at: datetime  # the next Monday 00:00 local


def season_of(at: float, time_zone: str) -> Season:
    """The season (ISO week, Monday to Monday in `time_zone`) that the moment `at` falls in."""
    tz = zone(time_zone)
    moment = datetime.fromtimestamp(at, tz=tz)
    year, week, weekday = moment.isocalendar()
    monday = moment.date() - timedelta(days=weekday - 1)
    starts = datetime(monday.year, monday.month, monday.day, tzinfo=tz)
    following = monday + timedelta(days=7)
    ends = datetime(following.year, following.month, following.day, tzinfo=tz)
    return Season(f"{year}-W{week:02d}", starts, ends)
