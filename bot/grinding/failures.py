"""The kinds of grinding failure a person is told about, each with one translated sentence.

A job that failed stores its kind (jobs.error_kind); what people read is the kind's sentence in their language
(`failure_reason`), never the engine's or a provider's own words, which say more than a person can act on and
are English: those go to the log and to the operators' `error` column.
"""

from __future__ import annotations

from gpu_worker.errors import VanikeysError
from gpu_worker.i18n import N_, gettext_now

from .model import FailureKind, GrindingError

SENTENCES: dict[str, str] = {
    "no_match": N_("no exact match within the order's key budget"),
    "refused": N_("the grinder refused the job"),
    "grinder_failed": N_("the grinder failed"),
    "timed_out": N_("the grinder ran out of time"),
    "cancelled": N_("the job was cancelled on the grinder"),
    "lost": N_("the grinder lost the job"),
    "unavailable": N_("no grinder was available"),
    "not_verified": N_("the grinder's answer did not check out"),
}
UNKNOWN = N_("the grinder could not finish it")  # a row from before kinds were stored

_BY_CODE: dict[str, FailureKind] = {
    "rejected": "refused",
    "failed": "grinder_failed",
    "worker_fault": "not_verified",
    "timed_out": "timed_out",
    "cancelled": "cancelled",
    "lost": "lost",
    "unavailable": "unavailable",
    "order_failed": "grinder_failed",
    "verification_failed": "not_verified",
    "backend_unavailable": "unavailable",
}


def failure_kind(error: BaseException) -> FailureKind:
    """The kind of a grinding failure: a GrindingError's own kind, else the one its (or a VanikeysError's) code
    stands for; anything else is the grinder failing."""
    if isinstance(error, GrindingError) and error.kind is not None:
        return error.kind
    if isinstance(error, GrindingError | VanikeysError):
        return _BY_CODE.get(error.code, "grinder_failed")
    return "grinder_failed"


def failure_reason(kind: str | None) -> str:
    """The kind's sentence in the current locale (a stored kind this code does not know reads as UNKNOWN)."""
    return gettext_now(SENTENCES.get(kind or "", UNKNOWN))
