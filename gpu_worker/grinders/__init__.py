"""Grinder backends (python reference, native, cuda) and the session that drives any of them."""

from .base import (
    BACKEND_NAMES,
    Backend,
    GrindProgress,
    GrindSession,
    ScanPlan,
    best_candidates,
    get_backend,
    grind,
    timed_step,
)

__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "GrindProgress",
    "GrindSession",
    "ScanPlan",
    "best_candidates",
    "get_backend",
    "grind",
    "timed_step",
]
