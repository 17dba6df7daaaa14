"""The bot's async grinding client: one interface, a `local` and a `runpod` backend, and order fan-out.

    client = make_client("local")                      # or make_client("runpod", api_key=..., endpoint_id=...)
    job_id = await client.submit(job)                  # persist job_id: wait() on it again after a restart
    result = await client.wait(job_id, job, on_progress)   # verified with gpu_worker.verify, or GrindingError
    outcome = await client.run_order(template, expected_keys, on_progress, resume_state)

Every result handed up has been re-derived and re-scored; a result that does
not verify is a GrindingError("worker_fault"). See docs/architecture.md, "bot/grinding".
"""

from __future__ import annotations

from typing import Any, Protocol

from gpu_worker.job import GrindJob, GrindResult

from .model import (
    GrindingError,
    GrindProgress,
    OrderOutcome,
    OrderPolicy,
    OrderProgress,
    OrderProgressCallback,
    OrderState,
    ProgressCallback,
    RunningChunk,
)

__all__ = [
    "GrindProgress",
    "GrindingClient",
    "GrindingError",
    "OrderOutcome",
    "OrderPolicy",
    "OrderProgress",
    "OrderState",
    "RunningChunk",
    "make_client",
]


class GrindingClient(Protocol):
    """What the bot needs from a grinding backend: submit a job, wait for its verified result, cancel it."""

    backend: str  # "local" | "runpod" | "selfhosted" | "modal" | "router" | an in-process engine's name
    durable: bool  # jobs outlive this process (remote providers): a shutdown leaves them running to re-attach

    async def submit(self, job: GrindJob) -> str:
        """Start a job; returns the backend's job id (persist it to resume waiting after a restart)."""

    async def wait(self, job_id: str, job: GrindJob, on_progress: ProgressCallback | None = None) -> GrindResult:
        """The job's verified result; GrindingError if it failed, was cancelled, timed out, was lost or lied."""

    async def cancel(self, job_id: str) -> None:
        """Best effort: stop a job; a finished or unknown job is left alone."""

    async def run_order(
        self,
        job_template: GrindJob,
        expected_keys: float,
        on_progress: OrderProgressCallback | None = None,
        resume_state: OrderState | None = None,
    ) -> OrderOutcome:
        """Grind chunk jobs until a verified full match; GrindingError("order_failed") means refund."""

    async def close(self) -> None:
        """Release the client's resources; in-process jobs stop, durable ones keep running remotely."""


def make_client(backend: str = "local", **settings: Any) -> GrindingClient:
    """The client for VANIKEYS_BACKEND.

    local:  grinder ("auto" | "native" | "python"), max_parallel, progress_interval_s, order_policy
    runpod: api_key, endpoint_id (required), base_url, retry, request_timeout_s, poll_interval_s,
            max_poll_interval_s, queue_allowance_s, execution_grace_s, order_policy
    """
    if backend == "local":
        from .local_backend import LocalGrindingClient

        return LocalGrindingClient(**settings)
    if backend == "runpod":
        from .runpod_api import RunpodApi
        from .runpod_backend import RunpodGrindingClient

        api_keys = ("api_key", "endpoint_id", "base_url", "retry", "request_timeout_s", "session")
        api = RunpodApi(**{key: settings.pop(key) for key in api_keys if key in settings})
        return RunpodGrindingClient(api, **settings)
    raise ValueError(f"unknown grinding backend {backend!r}: set VANIKEYS_BACKEND to local or runpod")
