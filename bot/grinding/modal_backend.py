"""The `modal` provider: grind jobs as calls of the Modal function in deploy/modal_app.py.

What Modal adds to the remote base (remote.py): submit spawns a call (its FunctionCall id is the job
id, so a restarted bot finds it again), a status read is `get(timeout=0)`, cancel cancels the call.
The answer is the RunPod worker's answer (the same handler), verified and unsealed like RunPod's.
Modal keeps a spawned call's result for about a day, so a bot restart re-attaches. Modal does not
say whether a call is queued or running, and reports no billed seconds per call (the router
estimates them). Transport errors are ridden out until the deadline, like RunPod's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol, Unpack

from gpu_worker.job import GrindJob

from .model import FailureCode, GrindingError
from .remote import (
    Phase,
    ProviderUnreachable,
    RemoteProvider,
    RemoteSettings,
    RemoteStatus,
)
from .router import Provider

if TYPE_CHECKING:
    from .remote import ProviderBuild

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


class ModalGrindingClient(RemoteProvider):
    """Jobs as spawned calls of the Modal function: they outlive the bot, which collects them by call id."""

    backend = "modal"
    noun = "Modal call"
    reports_gpu_s = False  # the SDK gives no per-call billed seconds: the router records its own estimate
    tells_queued = False  # a pull's queue limit is in its deadline instead (remote.py, `_deadline_s`)

    def __init__(self, calls: ModalCalls, **settings: Unpack[RemoteSettings]) -> None:
        settings.setdefault("max_poll_interval_s", 5.0)
        super().__init__(**settings)
        self.calls = calls

    async def _send(self, sent: GrindJob, job: GrindJob) -> str:
        try:
            return await self.calls.spawn(sent.model_dump(mode="json"))
        except Exception as exc:  # the SDK raises many kinds; none of them means a call surely exists
            log.warning("Modal did not confirm job %s (%s)", sent.tag, type(exc).__name__)
            raise GrindingError("unavailable", f"Modal did not take the job ({type(exc).__name__})") from None

    async def _read(self, job_id: str) -> RemoteStatus:
        try:
            answer = await self.calls.result(job_id)
        except NotReady:
            return RemoteStatus(Phase.PENDING)
        except CallGone:
            code: FailureCode = "cancelled" if job_id in self._cancelled else "lost"
            raise GrindingError(code, f"Modal no longer has call {job_id}") from None
        except CallTimedOut:
            return RemoteStatus(Phase.TIMED_OUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a crashed call, or Modal unreachable: ride it out to the deadline
            if job_id in self._cancelled:
                return RemoteStatus(Phase.CANCELLED)
            raise ProviderUnreachable(type(exc).__name__) from None
        if "error" in answer:
            return RemoteStatus(Phase.FAILED, error=str(answer["error"]))
        return RemoteStatus(Phase.COMPLETED, output=answer)

    async def _stop(self, job_id: str) -> None:
        try:
            await self.calls.cancel(job_id)
        except Exception as exc:
            raise ProviderUnreachable(type(exc).__name__) from None


def configured(build: ProviderBuild) -> list[Provider]:
    """Modal, where VANIKEYS_MODAL_APP names the app; it has no /health, so `max_in_flight` bounds it."""
    env = build.env
    if not env.modal_app:
        return []
    client = ModalGrindingClient(SdkCalls(env.modal_app), **build.remote)
    return [Provider("modal", client, env.modal_usd_per_s, max_in_flight=env.modal_max_in_flight)]
