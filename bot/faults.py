"""The one seam for fault injection: named fault points, inert unless VANIKEYS_CRASH_AT names one.

Production code marks a point where a crash must be survivable with
`fault_point("job.found")`; nothing else test-only lives in production modules.
With VANIKEYS_CRASH_AT unset (always, in production) a fault point does nothing
but compare one string. Set to a point's name, the process exits abruptly
(`os._exit`, exit code CRASH_EXIT_CODE: no cleanup, no flush, as a kill would)
the first time it reaches that point; the crash-recovery tests restart it and
check that nothing was lost or done twice (tests/bot/test_crash_recovery.py).

Every point is declared here with what has committed when it fires;
docs/operations.md lists them (a test keeps that list and this one the same).
"""

from __future__ import annotations

import os
from types import MappingProxyType

CRASH_EXIT_CODE = 77

FAULT_POINTS: MappingProxyType[str, str] = MappingProxyType({
    "job.accepted": "the charge and the job row committed (paid, nothing ground yet)",
    "job.submitted": "the provider job id is recorded",
    "job.running": "the job is marked running, before grinding starts",
    "job.grinding": "the provider reported the job's first progress (grinding under way)",
    "job.found": "the verified secrets are in the vault and the public result in the row, nothing shown yet",
    "job.delivering": "the delivery attempt is recorded, before the private message goes out",
    "job.delivered": "the private message went out and the job is marked delivered",
    "job.failed": "the job is marked failed, before its refund",
    "job.refunded": "the refund row and the refunded state committed",
})

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
            raise UnknownFaultPoint(f"VANIKEYS_CRASH_AT={name!r} is not a fault point: use one of "
                                    f"{', '.join(FAULT_POINTS)}")
        _armed = name
    return _armed  # type: ignore[return-value]


def fault_point(name: str) -> None:
    """A point where a crash must be survivable: exit abruptly here when VANIKEYS_CRASH_AT names it."""
    if name not in FAULT_POINTS:
        raise UnknownFaultPoint(f"fault point {name!r} is not declared in bot/faults.py")
    if armed() == name:
        os._exit(CRASH_EXIT_CODE)
