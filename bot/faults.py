"""The one seam for fault injection: named fault points, inert unless VANIKEYS_CRASH_AT names one.

Production code marks a point where a crash must be survivable with
`fault_point("job.found")`; nothing else test-only lives in production modules.
With VANIKEYS_CRASH_AT unset (always, in production) a fault point does nothing
but compare one string. Set to a point's name, the process exits abruptly
(`os._exit`, exit code CRASH_EXIT_CODE: no cleanup, no flush, as a kill would)
the first time it reaches that point; the crash-recovery tests restart it and
check that nothing was lost or done twice (tests/bot/test_crash_recovery.py).

Every point is declared in bot/fault_points.py with what has committed when it fires;
docs/operations.md lists them (a test keeps that list and this one the same).
"""

from __future__ import annotations

import os

from bot.fault_points import FAULT_POINTS

CRASH_EXIT_CODE = 77


_UNREAD = object()
_armed: object = _UNREAD  # the point named by VANIKEYS_CRASH_AT, read once (a fault point is on every job step)


class UnknownFaultPoint(ValueError):
    """VANIKEYS_CRASH_AT, or a fault_point call, names a point not declared in FAULT_POINTS."""


def armed() -> str | None:
    """The fault point VANIKEYS_CRASH_AT names (None: none; the usual case)."""
    global _armed
    if _armed is _UNREAD:
        from bot.settings import VanikeysSettings
        from gpu_worker.config_fields import load_one

        name = load_one(VanikeysSettings, "crash_at")
        if name is not None and name not in FAULT_POINTS:
            raise UnknownFaultPoint(
                f"VANIKEYS_CRASH_AT={name!r} is not a fault point: use one of {', '.join(FAULT_POINTS)}"
            )
        _armed = name
    return _armed  # type: ignore[return-value]


def fault_point(name: str) -> None:
    """A point where a crash must be survivable: exit abruptly here when VANIKEYS_CRASH_AT names it."""
    if name not in FAULT_POINTS:
        raise UnknownFaultPoint(f"fault point {name!r} is not declared in bot/faults.py")
    if armed() == name:
        os._exit(CRASH_EXIT_CODE)
