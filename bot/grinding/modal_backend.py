"""The `modal` provider: grind jobs as calls of the Modal function in deploy/modal_app.py.

submit spawns a call (its FunctionCall id is the job id, so a restarted bot finds it again), wait
polls `get(timeout=0)` until the answer or the job's deadline, cancel cancels the call. The answer
is the RunPod worker's answer (the same handler), verified and unsealed like RunPod's. Modal keeps a
spawned call's result for about a day, so a bot restart re-attaches. Transport errors are ridden out
until the deadline, like RunPod's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from gpu_worker.job import GrindJob, GrindResult
from gpu_worker.sealing import ResultSealer

from .model import FailureCode, GrindingError, OrderPolicy, ProgressCallback
from .orders import ChunkedOrders
from .remote import job_to_send
from .runpod_api import RunpodStatus
from .runpod_backend import DEFAULT_ORDER_POLICY, _failure
from .verification import verified_result

log = logging.getLogger(__name__)


class NotReady(Exception):
    """The call has not finished yet."""


class CallGone(Exception):
    """The call's result expired, or no such call exists."""


class CallTimedOut(Exception):
    """The call ran past the function's timeout."""


class ModalCalls(Protocol):
    """The four things the client needs from Modal (the SDK below; a local runner in tests)."""

    async def spawn(self, job_input: dict[str, Any]) -> str:
        """Start the grind function on `job_input`; returns the call id."""
    async def result(self, call_id: str) -> dict[str, Any]:
        """The call's answer; NotReady, CallGone, CallTimedOut, or another exception for a crashed call."""
    async def cancel(self, call_id: str) -> None:
        """Ask Modal to cancel the call."""


class SdkCalls:
    """ModalCalls over the modal SDK: the deployed function, looked up by app and function name."""

    def __init__(self, app_name: str, function_name: str = "grind") -> None:
        self.app_name = app_name
        self.function_name = function_name
        self._function: Any = None

    async def spawn(self, job_input: dict[str, Any]) -> str:
        """Spawn the deployed function (looked up once) on `job_input`; returns the call's id."""
        import modal

        if self._function is None:
            self._function = modal.Function.from_name(self.app_name, self.function_name)
        call = await self._function.spawn.aio(job_input)
        return str(call.object_id)

    async def result(self, call_id: str) -> dict[str, Any]:
        """The call's answer now; NotReady while it runs, CallGone when expired, CallTimedOut when it timed out."""
        import modal
        import modal.exception as errors

        try:
            answer = await modal.FunctionCall.from_id(call_id).get.aio(timeout=0)
        except errors.OutputExpiredError as exc:
            raise CallGone(str(exc)) from None
        except errors.NotFoundError as exc:
            raise CallGone(str(exc)) from None
        except errors.FunctionTimeoutError as exc:
            raise CallTimedOut(str(exc)) from None
        except (TimeoutError, errors.TimeoutError):
            raise NotReady() from None
        if not isinstance(answer, dict):
            raise ValueError("the Modal function returned something other than a JSON object")
        return answer

    async def cancel(self, call_id: str) -> None:
        """Cancel the call at Modal."""
        import modal

        await modal.FunctionCall.from_id(call_id).cancel.aio()


class ModalGrindingClient(ChunkedOrders):
    """Grinds on Modal: each job is a call of the deployed function, polled until it answers.

    Durable: calls outlive the bot, and a restarted bot waits on them again by id.
    """
    backend = "modal"
    durable = True

    def __init__(
        self,
        calls: ModalCalls,
        *,
        poll_interval_s: float = 1.0,
        max_poll_interval_s: float = 5.0,
        queue_allowance_s: float = 900.0,
        pull_queue_limit_s: float = 120.0,
        execution_grace_s: float = 30.0,
        pull_time_limit_s: float = 60.0,
        order_policy: OrderPolicy = DEFAULT_ORDER_POLICY,
        clock: Callable[[], float] = time.monotonic,
        sealer: ResultSealer | None = None,
    ) -> None:
        self.calls = calls
        self.sealer = sealer or ResultSealer.generate()
        self.poll_interval_s = poll_interval_s
        self.max_poll_interval_s = max_poll_interval_s
        self.queue_allowance_s = queue_allowance_s
        self.pull_queue_limit_s = pull_queue_limit_s
        self.execution_grace_s = execution_grace_s
        self.pull_time_limit_s = pull_time_limit_s
        self.order_policy = order_policy
        self.clock = clock
        self._cancelled: set[str] = set()

    async def submit(self, job: GrindJob) -> str:
        """Spawn the job (sealed to this bot); returns the call id. GrindingError("unavailable") if Modal did not take
        it.
        """
        sent = job_to_send(job, self.sealer, self.pull_time_limit_s)
        try:
            return await self.calls.spawn(sent.model_dump(mode="json"))
        except Exception as exc:  # the SDK raises many kinds; none of them means a call surely exists
            log.warning("Modal did not confirm job %s (%s)", sent.tag, type(exc).__name__)
            raise GrindingError("unavailable", f"Modal did not take the job ({type(exc).__name__})") from None

    async def wait(self, job_id: str, job: GrindJob, on_progress: ProgressCallback | None = None) -> GrindResult:
        """Poll the call until its verified result; GrindingError past the queue and run deadline, or if it failed or
        lied.
        """
        pull = job.stop == "budget"
        limit = min(job.time_limit_s, self.pull_time_limit_s) if pull else job.time_limit_s
        # Modal does not say whether a call is queued or running, so a pull gets RunPod's queue limit on top of
        # its run: past both it is cancelled and ground elsewhere (or refunded), not waited on for 15 minutes.
        queue_s = self.pull_queue_limit_s if pull else self.queue_allowance_s
        deadline = self.clock() + queue_s + limit + self.execution_grace_s
        interval = self.poll_interval_s
        while True:
            try:
                answer = await self.calls.result(job_id)
            except NotReady:
                interval = min(interval * 1.5, self.max_poll_interval_s)
            except CallGone:
                code: FailureCode = "cancelled" if job_id in self._cancelled else "lost"
                raise GrindingError(code, f"Modal no longer has call {job_id}") from None
            except CallTimedOut:
                raise GrindingError("timed_out", f"Modal call {job_id} ran past its timeout") from None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a crashed call, or Modal unreachable: ride it out to the deadline
                if job_id in self._cancelled:
                    raise GrindingError("cancelled", f"Modal call {job_id} was cancelled") from None
                log.warning("Modal call %s: %s; asking again", job_id, type(exc).__name__)
                interval = min(interval * 2, self.max_poll_interval_s)
            else:
                if "error" in answer:
                    raise _failure(job_id, RunpodStatus.FAILED, str(answer["error"]))
                return verified_result(job, answer, source=f"modal call {job_id}", sealer=self.sealer)
            if self.clock() + interval > deadline:
                await self.cancel(job_id)
                raise GrindingError("unavailable", f"Modal call {job_id} did not finish by its deadline; cancelled it")
            await asyncio.sleep(interval)

    async def cancel(self, job_id: str) -> None:
        """Cancel the call, best effort: a failure is logged, never raised."""
        self._cancelled.add(job_id)
        try:
            await self.calls.cancel(job_id)
        except Exception as exc:
            log.warning("could not cancel Modal call %s: %s", job_id, type(exc).__name__)

    async def billed(self, job_id: str) -> None:
        """Modal's SDK gives no per-call billed seconds: the router records its own estimate, marked as one."""

    async def close(self) -> None:
        """Calls run on at Modal; a restarted bot collects them."""
