"""The named fault points and what has committed when each fires (bot/faults.py arms them).

Plain data at the bottom of the bot's floors, so that the settings can check the switch that names one against it
without importing the module that arms them (docs/architecture.md, Layers).
"""

from __future__ import annotations

from types import MappingProxyType

FAULT_POINTS: MappingProxyType[str, str] = MappingProxyType(
    {
        "job.accepted": "the charge and the job row committed (paid, nothing ground yet)",
        "job.submitted": "the provider job id is recorded",
        "job.running": "the job is marked running, before grinding starts",
        "job.grinding": "the provider reported the job's first progress (grinding under way)",
        "job.found": "the verified secrets are in the vault and the public result in the row, nothing shown yet",
        "job.delivering": "the delivery attempt is recorded, before the private message goes out",
        "job.delivered": "the private message went out and the job is marked delivered",
        "job.failed": "the job is marked failed, before its refund",
        "job.refunded": "the refund row and the refunded state committed",
    }
)
