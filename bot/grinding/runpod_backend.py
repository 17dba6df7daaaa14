"""The `runpod` provider (and `selfhosted`, which speaks its protocol): grind jobs on a RunPod Serverless endpoint.

What RunPod adds to the remote base (remote.py): every job goes out with /run, whose answer is its id
and nothing else, with an execution policy (RunPod stops the job a little after the worker's own
time limit; its ttl bounds the queue, the run and the bot being down); a status is one of RunPod's
six; billed seconds are the final status's executionTime. A submit is retried only where RunPod
cannot have taken it (runpod_api.py). A CANCELLED job this client did not cancel, or one RunPod no
longer knows, is `lost`: grind it again, it is not a failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from gpu_worker.job import GrindJob

from .model import FailureCode, GrindingError
from .remote import (
    DEFAULT_ORDER_POLICY,
    Phase,
    ProviderUnreachable,
    RemoteProvider,
    RemoteSettings,
    RemoteStatus,
    SubmitUnconfirmed,
)
from .router import Provider
from .runpod_api import (
    DEFAULT_BASE_URL,
    MAX_POLICY_S,
    EndpointHealth,
    ExecutionPolicy,
    JobStatus,
    RunpodApi,
    RunpodApiError,
    RunpodJobNotFound,
    RunpodStatus,
    RunpodSubmitUnknown,
)

if TYPE_CHECKING:
    from .remote import ProviderBuild

__all__ = ["DEFAULT_ORDER_POLICY", "RunpodGrindingClient"]

_PHASES = {
    RunpodStatus.IN_QUEUE: Phase.QUEUED,
    RunpodStatus.IN_PROGRESS: Phase.RUNNING,
    RunpodStatus.COMPLETED: Phase.COMPLETED,
    RunpodStatus.CANCELLED: Phase.CANCELLED,
    RunpodStatus.TIMED_OUT: Phase.TIMED_OUT,
    RunpodStatus.FAILED: Phase.FAILED,
}
_TTL_SLACK_S = 60.0  # RunPod drops a job by its ttl whatever happens; past this more, stop asking


class RunpodGrindingClient(RemoteProvider):
    """Jobs on a RunPod endpoint (or a server speaking its API): they live at RunPod, not in this process."""

    backend = "runpod"
    noun = "RunPod job"

    def __init__(self, api: RunpodApi, **settings: Unpack[RemoteSettings]) -> None:
        super().__init__(**settings)
        self.api = api

    def policy_for(self, job: GrindJob) -> ExecutionPolicy:
        """RunPod stops the job a little after the worker's own time limit. The ttl counts from submission
        and deletes the job whatever its state, so it covers the queue, the run and the bot being down."""
        execution = max(5.0, self.time_limit_s(job) + self.execution_grace_s)
        return ExecutionPolicy(
            execution_timeout_s=execution,
            ttl_s=min(MAX_POLICY_S, max(10.0, self.queue_limit_s(job) + execution + self.downtime_allowance_s)),
        )

    async def _send(self, sent: GrindJob, job: GrindJob) -> str:
        # Never /runsync: its id comes back only with the result, so an answer lost mid-job lost the job.
        try:
            return await self.api.run(sent.model_dump(mode="json"), self.policy_for(job))
        except RunpodSubmitUnknown as err:
            raise SubmitUnconfirmed(str(err)) from None
        except RunpodApiError as err:
            code: FailureCode = "rejected" if err.http_status == 400 else "unavailable"
            raise GrindingError(code, f"could not submit the job to {self.backend}: {err}") from None

    async def _read(self, job_id: str) -> RemoteStatus:
        try:
            status = await self.api.status(job_id)
        except RunpodJobNotFound:
            raise GrindingError("lost", f"RunPod no longer has job {job_id} (expired or dropped)") from None
        except RunpodApiError as err:
            raise ProviderUnreachable(str(err)) from None
        return RemoteStatus(_PHASES[status.status], output=status.output, error=status.error, gpu_s=_billed_s(status))

    async def _stop(self, job_id: str) -> None:
        try:
            await self.api.cancel(job_id)
        except RunpodJobNotFound:
            pass
        except RunpodApiError as err:
            raise ProviderUnreachable(str(err)) from None

    def _deadline_s(self, job: GrindJob) -> float:
        return self.policy_for(job).ttl_s + _TTL_SLACK_S

    def _overdue(self, job_id: str) -> GrindingError:
        return GrindingError("timed_out", f"RunPod job {job_id} outlived its ttl; cancelled it")

    async def health(self) -> EndpointHealth:
        """Queue depth and workers (GET /health), e.g. for a start-up check or an operator command."""
        try:
            return await self.api.health()
        except RunpodApiError as err:
            raise GrindingError("unavailable", f"could not read the RunPod endpoint's health: {err}") from None

    async def close(self) -> None:
        """Stops talking to RunPod; jobs there run on, and a restarted bot collects them."""
        await self.api.close()


def _billed_s(status: JobStatus) -> float | None:
    """executionTime; a job cancelled before a worker took it ran nothing and bills nothing."""
    if status.execution_s is None and status.status is RunpodStatus.CANCELLED:
        return 0.0
    return status.execution_s


def configured(build: ProviderBuild) -> list[Provider]:
    """RunPod's endpoint, and its orders endpoint where one is set (so orders never starve pulls)."""
    settings, env = build.settings, build.env
    if not settings.runpod_configured:
        return []
    base_url = env.runpod_base_url or DEFAULT_BASE_URL  # or a RunPod-compatible API (tests, a proxy)
    outage_limit_s = 300.0 if build.others_than_runpod else None
    client = RunpodGrindingClient(
        RunpodApi(settings.runpod_api_key or "", settings.runpod_endpoint_id or "", base_url=base_url),
        **build.client_settings(outage_limit_s=outage_limit_s),
    )
    orders_endpoint = env.runpod_orders_endpoint_id or ""
    price = env.runpod_usd_per_s
    providers = [
        Provider(
            "runpod", client, price, health=client.health, kinds=("pull",) if orders_endpoint else ("pull", "order")
        )
    ]
    if orders_endpoint:
        orders = RunpodGrindingClient(
            RunpodApi(settings.runpod_api_key or "", orders_endpoint, base_url=base_url),
            **build.client_settings(name="runpod-orders", outage_limit_s=outage_limit_s),
        )
        providers.append(Provider("runpod-orders", orders, price, health=orders.health, kinds=("order",)))
    return providers
