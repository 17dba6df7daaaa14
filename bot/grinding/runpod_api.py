"""RunPod's serverless job API over HTTP: run, status, cancel, health.

Only transport lives here: retries with backoff on 429, 5xx and dropped
connections, and one typed answer per call. What a status means for a grind
job is decided in runpod_backend.py. Nothing here logs a job's input or output
(an output holds private keys) or the API key.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.runpod.ai/v2"
# RunPod's documented bounds on a job's execution policy.
MIN_EXECUTION_TIMEOUT_S = 5.0
MIN_TTL_S = 10.0
MAX_POLICY_S = 7 * 24 * 3600.0


class RunpodStatus(str, Enum):
    """A RunPod job's status, as its API spells it."""

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def finished(self) -> bool:
        """Whether the job has ended (completed, failed, cancelled or timed out)."""
        return self not in (RunpodStatus.IN_QUEUE, RunpodStatus.IN_PROGRESS)


@dataclass(frozen=True)
class ExecutionPolicy:
    """Per-job limits: execution time once a worker has it, and its whole life from submission."""

    execution_timeout_s: float
    ttl_s: float

    def __post_init__(self) -> None:
        if not MIN_EXECUTION_TIMEOUT_S <= self.execution_timeout_s <= MAX_POLICY_S:
            raise ValueError(f"execution timeout must be {MIN_EXECUTION_TIMEOUT_S:g} s to 7 days")
        if not MIN_TTL_S <= self.ttl_s <= MAX_POLICY_S:
            raise ValueError(f"ttl must be {MIN_TTL_S:g} s to 7 days")
        if self.ttl_s < self.execution_timeout_s:
            raise ValueError("ttl counts queue time too: it must be at least the execution timeout")

    def to_json(self) -> dict[str, int]:
        """The policy as RunPod's /run takes it (milliseconds)."""
        return {"executionTimeout": round(self.execution_timeout_s * 1000), "ttl": round(self.ttl_s * 1000)}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a RunPod request that failed in a retryable way."""

    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 15.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number `attempt`: the server's Retry-After if given, else jittered exponential
        backoff (capped).
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        backoff = min(self.base_delay_s * 2.0**attempt, self.max_delay_s)
        return backoff * (0.5 + random.random() / 2)  # jitter spreads out retries from parallel chunks


@dataclass(frozen=True)
class JobStatus:
    """A job's status as /status answers; the output may hold secrets and is never in a repr."""

    job_id: str
    status: RunpodStatus
    output: Any = field(default=None, repr=False)  # may hold private keys: never in a repr or a log
    error: str | None = field(default=None, repr=False)
    execution_s: float | None = None  # RunPod's executionTime: what it bills for the job's run (None: not given)
    delay_s: float | None = None  # RunPod's delayTime: queue and cold start before a worker took it


@dataclass(frozen=True)
class EndpointHealth:
    """An endpoint's /health: jobs queued and running, workers idle and running."""

    jobs_in_queue: int
    jobs_in_progress: int
    workers_idle: int
    workers_running: int


class RunpodApiError(Exception):
    """RunPod refused or could not answer a request, after any retries."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class RunpodSubmitUnknown(RunpodApiError):
    """A /run or /runsync that may or may not have created a job (a 5xx, a timeout, a dropped answer)."""


class RunpodJobNotFound(RunpodApiError):
    """404 for a job id: never submitted, or its result expired (30 minutes after /run finishes)."""


class RunpodApi:
    """RunPod's serverless job API for one endpoint: run, status, cancel, health.

    ValueError for an empty key or an endpoint id that is not one. Retryable failures are retried per `retry`; others
    raise RunpodApiError.
    """

    def __init__(
        self,
        api_key: str,
        endpoint_id: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy = RetryPolicy(),
        request_timeout_s: float = 30.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("RUNPOD_API_KEY is empty: set it to an API key from the RunPod console")
        if not endpoint_id or "/" in endpoint_id:
            raise ValueError("RUNPOD_ENDPOINT_ID must be the endpoint's id, as shown in the RunPod console")
        self._endpoint_url = f"{base_url.rstrip('/')}/{endpoint_id}"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._retry = retry
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._session = session
        self._owns_session = session is None

    def __repr__(self) -> str:  # the API key stays out of reprs
        return f"RunpodApi({self._endpoint_url!r})"

    async def close(self) -> None:
        """Close the HTTP session if this client made it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def run(self, job_input: dict[str, Any], policy: ExecutionPolicy) -> str:
        """Queue a job; its id. RunpodSubmitUnknown: RunPod may have accepted it (never retried blindly)."""
        body = await self._request("POST", "/run", {"input": job_input, "policy": policy.to_json()}, submit=True)
        return _job_id(body)

    async def status(self, job_id: str) -> JobStatus:
        """The job's status; RunpodJobNotFound for an id RunPod does not know (or no longer keeps)."""
        body = await self._request("GET", f"/status/{job_id}", job_id=job_id)
        return _parse_status(job_id, body)

    async def cancel(self, job_id: str) -> None:
        """Ask RunPod to cancel the job."""
        await self._request("POST", f"/cancel/{job_id}", job_id=job_id)

    async def health(self) -> EndpointHealth:
        """The endpoint's queue and worker counts."""
        body = await self._request("GET", "/health")
        jobs = body.get("jobs") or {}
        workers = body.get("workers") or {}
        return EndpointHealth(
            jobs_in_queue=int(jobs.get("inQueue", 0)),
            jobs_in_progress=int(jobs.get("inProgress", 0)),
            workers_idle=int(workers.get("idle", 0)),
            workers_running=int(workers.get("running", 0)),
        )

    async def _request(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        job_id: str | None = None,
        submit: bool = False,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """One call with retries. A submit is retried only where RunPod cannot have accepted it: a refused
        connection or a 429. Any other failure of a submit is RunpodSubmitUnknown at once."""
        session = self._ensure_session()
        url = self._endpoint_url + path
        timeout = self._timeout if timeout_s is None else aiohttp.ClientTimeout(total=timeout_s)
        route = path.split("/")[1].split("?")[0]
        last_problem = "no attempt made"
        for attempt in range(self._retry.attempts):
            retry_after: float | None = None
            try:
                async with session.request(
                    method, url, json=payload, headers=self._headers, timeout=timeout
                ) as response:
                    if response.status == 404 and job_id is not None:
                        raise RunpodJobNotFound(
                            f"RunPod has no job {job_id} (expired or never submitted)", http_status=404
                        )
                    if response.status == 429 or response.status >= 500:
                        last_problem = f"HTTP {response.status}"
                        retry_after = _retry_after(response.headers.get("Retry-After"))
                        if submit and response.status != 429:
                            raise RunpodSubmitUnknown(
                                f"RunPod answered {route} with {last_problem}: the job may exist",
                                http_status=response.status,
                            )
                    elif response.status >= 400:
                        raise RunpodApiError(_client_error(response.status, method, path), http_status=response.status)
                    else:
                        body = await response.json(content_type=None)
                        if not isinstance(body, dict):
                            raise RunpodApiError(f"RunPod answered {method} {route} with a non-object body")
                        return body
            except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
                last_problem = type(exc).__name__
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                last_problem = type(exc).__name__
                if submit:
                    raise RunpodSubmitUnknown(
                        f"RunPod {route}: {last_problem} after sending: the job may exist"
                    ) from None
            except ValueError:  # aiohttp.ContentTypeError and json.JSONDecodeError: a proxy's error page
                last_problem = "a body that is not JSON"
                if submit:
                    raise RunpodSubmitUnknown(f"RunPod {route}: {last_problem}: the job may exist") from None
            if attempt + 1 < self._retry.attempts:
                delay = self._retry.delay(attempt, retry_after)
                log.warning("RunPod %s %s: %s; retrying in %.1f s", method, route, last_problem, delay)
                await asyncio.sleep(delay)
        raise RunpodApiError(f"RunPod {method} {route} failed after {self._retry.attempts} attempts: {last_problem}")

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session


def _job_id(body: dict[str, Any]) -> str:
    job_id = body.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise RunpodSubmitUnknown("RunPod accepted the job but returned no job id")
    return job_id


def _parse_status(job_id: str, body: dict[str, Any]) -> JobStatus:
    raw = body.get("status")
    try:
        status = RunpodStatus(raw)
    except ValueError:
        raise RunpodApiError(f"RunPod reported an unknown status {str(raw)[:40]!r} for job {job_id}") from None
    error = body.get("error")
    return JobStatus(
        job_id=job_id,
        status=status,
        output=body.get("output"),
        error=None if error is None else str(error),
        execution_s=_seconds(body.get("executionTime")),
        delay_s=_seconds(body.get("delayTime")),
    )


def _seconds(milliseconds: Any) -> float | None:
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, (int, float)) or milliseconds < 0:
        return None
    return float(milliseconds) / 1000


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _client_error(status: int, method: str, path: str) -> str:
    if status in (401, 403):
        return f"RunPod refused the API key (HTTP {status}): check RUNPOD_API_KEY and its endpoint permissions"
    if status == 404:
        return "RunPod has no such endpoint (HTTP 404): check RUNPOD_ENDPOINT_ID"
    return f"RunPod rejected {method} {path.split('/')[1]} (HTTP {status})"
