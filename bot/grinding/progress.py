"""Calling the caller's progress callbacks: sync or async, and never fatal to the grind."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


async def notify(callback: Callable[[Any], Any], value: Any) -> None:
    """Call a progress callback (sync or async) with `value`; its failure is logged, never raised into the job."""
    try:
        outcome = callback(value)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception:
        # A progress message that fails to render must not fail a paid job.
        log.exception("progress callback failed")
