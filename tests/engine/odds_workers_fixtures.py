"""Compute functions for odds worker tests: importable by a spawned worker process (a test module is not)."""

from __future__ import annotations

import time

from bot.odds_cache import compute_odds
from gpu_worker.odds import Odds

HOSTILE = "^hostile"  # not a real pattern's text: a marker the functions below recognise
HOSTILE_S = 60.0


def spin_on_hostile(format_id: str, text: str, case: str, fuzzy: bool) -> Odds:
    """Like the real model, except that the marked pattern takes a minute of CPU (what the model once did)."""
    if text == HOSTILE:
        deadline = time.process_time() + HOSTILE_S
        while time.process_time() < deadline:
            pass
    return compute_odds(format_id, "^a" if text == HOSTILE else text, case, fuzzy)


def allocate_on_hostile(format_id: str, text: str, case: str, fuzzy: bool) -> Odds:
    """Like the real model, except that the marked pattern asks for 4 GB (what the model once did: 5.4 GB)."""
    if text == HOSTILE:
        hoard = bytearray(4 << 30)
        hoard[-1] = 1
    return compute_odds(format_id, "^a" if text == HOSTILE else text, case, fuzzy)
