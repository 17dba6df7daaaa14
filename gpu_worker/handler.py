"""The RunPod serverless handler: validate a grind job, grind it in bounded steps, answer with a GrindResult.

The handler is async and every bounded step runs in a thread, so the SDK's
event loop stays free to send heartbeats and to act on RunPod's cancel and
execution timeout between steps. Answers follow the runpod SDK's convention:
a dict with "error" (a "code: message" string) marks the job FAILED; anything
else is the job's output. Nothing here logs a private key: results are
summarised by identifier and score only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import VanikeysError
from .job import GrindHit, GrindJob, GrindResult, error_payload
from .sealing import seal_result
from .settings import load_worker_settings, worker_setting
from .version import version_answer

if TYPE_CHECKING:
    from .grinders import Backend, GrindProgress

log = logging.getLogger("gpu_worker.handler")

PROGRESS_INTERVAL_S = 3.0
STEP_TARGET_S = 0.25  # short enough that a cancel or time limit stops the grind promptly
FIRST_STEP_KEYS = 1 << 12
BACKEND_ENV = "VANIKEYS_WORKER_BACKEND"

ProgressReport = Callable[[dict[str, Any]], None]

# A cancelled job's last step finishes in its thread after the job is gone; the next
# job's steps wait for it rather than share the backend's device buffers with it.
_step_lock = threading.Lock()


def _locked_step(session: Any, size: int) -> int:
    from .grinders import timed_step

    with _step_lock:
        return timed_step(session, size, target_s=STEP_TARGET_S)


async def grind_paced(
    job: GrindJob,
    backend: Backend,
    *,
    report: ProgressReport | None = None,
    progress_interval_s: float = PROGRESS_INTERVAL_S,
    start_scalar: int | None = None,
) -> GrindResult:
    """Grind a validated job in bounded steps, awaiting between them; honours time_limit_s and stop=full.

    A job of several pulls grinds them one after another within the one time limit; the result
    holds each finished pull's best hit in order and counts only finished pulls' keys. A pull the
    time limit cut short is left out, so the bot refunds it rather than hand out a short pull.
    """
    if job.pulls > 1:
        return await _grind_pulls(job, backend, report=report, progress_interval_s=progress_interval_s)
    from .grinders import GrindSession

    session = GrindSession(job, backend, start_scalar=start_scalar)  # the session enforces time_limit_s
    size = FIRST_STEP_KEYS
    last_report = time.monotonic()
    while not session.done:
        size = await asyncio.to_thread(_locked_step, session, size)
        now = time.monotonic()
        if report is not None and now - last_report >= progress_interval_s:
            report(_progress(session.progress()))
            last_report = now
    return await asyncio.to_thread(session.result)


async def _grind_pulls(
    job: GrindJob, backend: Backend, *, report: ProgressReport | None, progress_interval_s: float
) -> GrindResult:
    started = time.monotonic()
    checked = 0
    hits: list[GrindHit] = []
    device = backend.device

    def report_pull(progress: dict[str, Any]) -> None:
        if report is not None:
            report({**progress, "checked": checked + progress["checked"], "pulls_done": len(hits)})

    for _ in range(job.pulls):
        left_s = job.time_limit_s - (time.monotonic() - started)
        if left_s <= 0:
            break
        one = job.model_copy(update={"pulls": 1, "time_limit_s": left_s})
        result = await grind_paced(one, backend, report=report_pull, progress_interval_s=progress_interval_s)
        if result.checked < job.budget or not result.results:
            break  # cut short by the time limit: not a whole pull
        checked += result.checked
        hits.append(result.results[0])
        device = result.device
    return GrindResult(
        checked=checked,
        elapsed_s=round(time.monotonic() - started, 6),
        backend=backend.name,
        device=device,
        results=hits,
    )


def _progress(progress: GrindProgress) -> dict[str, Any]:
    """What RunPod's status shows while the job runs: counts and a score, never a key."""
    return {
        "checked": progress.checked,
        "rate": round(progress.keys_per_s, 1),
        "best_score": progress.best_score,
        "max_score": progress.max_score,
        "elapsed_s": round(progress.elapsed_s, 3),
    }


async def handle_input(
    raw_input: Any,
    backend: Backend,
    *,
    report: ProgressReport | None = None,
    progress_interval_s: float = PROGRESS_INTERVAL_S,
) -> dict[str, Any]:
    """One job in, one answer out: a GrindResult as JSON, or {"error": "code: message"}. Never raises."""
    probed = version_answer(raw_input)  # `vanikeys doctor` asking which engine this worker runs
    if probed is not None:
        return probed
    try:
        job = GrindJob.parse(raw_input)
    except VanikeysError as err:
        log.info("rejected a job: %s", err.code)
        return error_payload(err)
    except Exception as exc:  # a malformed input must never take the worker down
        log.warning("rejected a job that could not be read (%s)", type(exc).__name__)
        return {"error": "bad_job: the job could not be read: send one JSON object, a grind job (docs/design.md)"}
    log.info("job: format=%s pattern=%r budget=%d stop=%s", job.format, job.pattern, job.budget, job.stop)
    try:
        result = await grind_paced(job, backend, report=report, progress_interval_s=progress_interval_s)
    except VanikeysError as err:
        log.warning("job failed: %s", err.code)
        return error_payload(err)
    except Exception as exc:
        # The exception text is not logged: a grinder's message could quote key material.
        log.error("grinder failed with %s; asking RunPod for a fresh worker", type(exc).__name__)
        return {
            "error": f"worker_error: the grinder failed ({type(exc).__name__}); resubmit the job",
            "refresh_worker": True,
        }
    best = result.best
    log.info(
        "done: checked=%d in %.2f s, best=%s score=%s full=%s",
        result.checked,
        result.elapsed_s,
        best.identifier if best else None,
        best.score if best else None,
        result.found_full,
    )
    if job.seal_to is not None:
        try:
            result = seal_result(result, job.seal_to)
        except ValueError:  # a low-order X25519 point: no shared secret, so nothing could be sealed
            return error_payload(
                VanikeysError(
                    "bad_job",
                    "seal_to is not a usable X25519 public key: send the bot's own public key, or omit seal_to",
                )
            )
    return result.model_dump(mode="json")


_backend: Backend | None = None


def load_backend() -> Backend:
    """The worker's one backend, chosen once (VANIKEYS_WORKER_BACKEND, default auto) and kept loaded."""
    global _backend
    if _backend is None:
        from .grinders import get_backend

        _backend = get_backend(load_worker_settings().worker_backend)
        log.info("backend %s on %s", _backend.name, _backend.device)
    return _backend


async def fitness_check() -> None:
    """Load the backend and grind a tiny job in every format, so the first paid job pays no start-up cost.

    The session re-derives every hit (verify.py), so a backend that computes wrong keys fails
    here, before the worker takes a job. Async: the SDK awaits its fitness checks in its loop.
    """
    backend = load_backend()
    for format_id in ("btc", "did", "eth", "trx"):
        job = GrindJob.parse(
            {"v": 1, "format": format_id, "pattern": "a", "budget": 1024, "top": 2, "time_limit_s": 60}
        )
        result = await grind_paced(job, backend)
        if result.checked != job.budget or len(result.results) != job.top:
            raise RuntimeError(
                f"the {backend.name} backend checked {result.checked} of {job.budget} keys in its warm-up"
            )
    log.info("fitness check passed on %s (%s)", backend.name, backend.device)


def _progress_reporter(job: dict[str, Any]) -> ProgressReport | None:
    if not worker_setting("runpod_webhook_post_output"):
        return None  # local modes (--rp_serve_api, --test_input): there is no job server to tell
    import runpod

    def report(progress: dict[str, Any]) -> None:
        runpod.serverless.progress_update(job, progress)

    return report


async def handler(job: dict[str, Any]) -> dict[str, Any]:
    """The function runpod.serverless.start calls with each job: {"id": ..., "input": {...}}."""
    if not isinstance(job, dict):
        return {"error": 'bad_job: the request has no input: send {"input": <grind job>}'}
    return await handle_input(job.get("input"), load_backend(), report=_progress_reporter(job))
