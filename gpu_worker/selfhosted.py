"""`python -m gpu_worker.selfhosted`: the worker on a GPU box of our own, serving RunPod's job API itself.

    VANIKEYS_SELFHOSTED_TOKEN=... python -m gpu_worker.selfhosted [--host 0.0.0.0] [--port 8000] [--slots 1]

The bot talks to it with the same client as RunPod (base URL http://box:8000/v2, endpoint id
`selfhosted`, the token as API key): POST /v2/selfhosted/run and /runsync, GET /status/{id},
POST /cancel/{id}, GET /health, each behind `Authorization: Bearer <token>`. Differences that
matter to the bot:

- /run and /runsync are idempotent by the job's `tag`: a resubmission after an answer that got
  lost returns the job already there, so the bot may retry a submit safely (RunPod cannot do this).
- `--slots` jobs grind at once (one per GPU); the rest queue, and /health reports the queue so the
  router sends overflow elsewhere.
- A finished job's answer is kept `--retention` seconds (default 30 min), as at RunPod.
- Its own accounting: each status carries `executionTime` and `delayTime` (ms) as RunPod's does, and
  GET /billing lists the seconds every job held a slot (the box's billed-seconds ledger, kept for the
  life of the process), which `vanikeys costs` must match.

Nothing here logs a job's output (sealed secrets) or the token. Put it behind TLS (a reverse proxy)
when it is reachable from outside a private network.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from .handler import handle_input, load_backend
from .settings import load_worker_settings

log = logging.getLogger("gpu_worker.selfhosted")

TOKEN_ENV = "VANIKEYS_SELFHOSTED_TOKEN"
ENDPOINT_ID = "selfhosted"
MAX_RUNSYNC_WAIT_S = 300.0


@dataclass
class HostedJob:
    """One job on the self-hosted box, in RunPod's job states (IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED,
    TIMED_OUT).
    """

    id: str
    input: Any
    execution_timeout_s: float
    ttl_s: float
    submitted: float
    status: str = "IN_QUEUE"
    output: Any = field(default=None, repr=False)
    error: str | None = None
    finished_at: float | None = None
    started_at: float | None = None  # when it got a slot: its GPU time runs from here to finished_at
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def execution_s(self, now: float) -> float:
        """Seconds it has run (until `now` if still running); 0.0 before it started."""
        if self.started_at is None:
            return 0.0
        return max(0.0, (self.finished_at if self.finished_at is not None else now) - self.started_at)

    def body(self) -> dict[str, Any]:
        """The job as RunPod's /status answers it: id, status, delay and execution times in ms, output or error."""
        now = time.monotonic()
        answer: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "delayTime": round(((self.started_at or now) - self.submitted) * 1000),
        }
        if self.started_at is not None:
            answer["executionTime"] = round(self.execution_s(now) * 1000)
        if self.output is not None:
            answer["output"] = self.output
        if self.error is not None:
            answer["error"] = self.error
        return answer


@dataclass
class SelfHostedWorker:
    """RunPod's job API (run, runsync, status, cancel, health, billing) served on one machine.

    Bearer-token auth; at most `slots` jobs grind at once; a finished job's answer is kept `retention_s` seconds.
    """

    token: str
    backend: Any
    slots: int = 1
    retention_s: float = 1800.0
    progress_interval_s: float = 2.0
    jobs: dict[str, HostedJob] = field(default_factory=dict)
    by_tag: dict[str, str] = field(default_factory=dict)
    ledger: list[HostedJob] = field(default_factory=list)  # every job that took a slot, kept after expiry
    _slots: asyncio.Semaphore | None = None

    def app(self) -> web.Application:
        """The aiohttp application serving the API; ValueError if the token is shorter than 16 characters."""
        if not self.token or len(self.token) < 16:
            raise ValueError(f"{TOKEN_ENV} must be set to a random token of at least 16 characters")
        self._slots = asyncio.Semaphore(self.slots)
        app = web.Application(middlewares=[self._auth])
        prefix = f"/v2/{ENDPOINT_ID}"
        app.router.add_post(f"{prefix}/run", self._run)
        app.router.add_post(f"{prefix}/runsync", self._runsync)
        app.router.add_get(f"{prefix}/status/{{job_id}}", self._status)
        app.router.add_post(f"{prefix}/cancel/{{job_id}}", self._cancel)
        app.router.add_get(f"{prefix}/health", self._health)
        app.router.add_get(f"{prefix}/billing", self._billing)
        app.on_cleanup.append(self._stop_all)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return web.json_response({"error": "Unauthorized"}, status=401)
        self._expire()
        return await handler(request)

    def _expire(self) -> None:
        now = time.monotonic()
        for job_id, job in list(self.jobs.items()):
            gone_at = job.submitted + job.ttl_s
            if job.finished_at is not None:
                gone_at = min(gone_at, job.finished_at + self.retention_s)
            if now >= gone_at:
                if job.task is not None:
                    job.task.cancel()
                del self.jobs[job_id]
                tag = job.input.get("tag") if isinstance(job.input, dict) else None
                if tag is not None and self.by_tag.get(tag) == job_id:
                    del self.by_tag[tag]

    async def _accept(self, request: web.Request) -> HostedJob | web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": 'the body must be JSON: {"input": <grind job>}'}, status=400)
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return web.json_response({"error": "input is required"}, status=400)
        tag = body["input"].get("tag")
        if isinstance(tag, str) and tag in self.by_tag and self.by_tag[tag] in self.jobs:
            return self.jobs[self.by_tag[tag]]  # a resubmission: the job already here, not a second one
        policy = body.get("policy") or {}
        try:
            execution_s = float(policy.get("executionTimeout", 600_000)) / 1000
            ttl_s = float(policy.get("ttl", 86_400_000)) / 1000
        except (TypeError, ValueError):
            return web.json_response({"error": "policy values are milliseconds"}, status=400)
        if execution_s < 5 or ttl_s < 10:
            return web.json_response({"error": "policy out of range"}, status=400)
        job = HostedJob(
            id=f"sh-{secrets.token_hex(8)}",
            input=body["input"],
            execution_timeout_s=execution_s,
            ttl_s=ttl_s,
            submitted=time.monotonic(),
        )
        self.jobs[job.id] = job
        if isinstance(tag, str):
            self.by_tag[tag] = job.id
        job.task = asyncio.create_task(self._execute(job))
        return job

    async def _run(self, request: web.Request) -> web.Response:
        job = await self._accept(request)
        if isinstance(job, web.Response):
            return job
        return web.json_response({"id": job.id, "status": job.status})

    async def _runsync(self, request: web.Request) -> web.Response:
        try:
            wait_s = min(max(int(request.query.get("wait", "90000")) / 1000, 1.0), MAX_RUNSYNC_WAIT_S)
        except ValueError:
            return web.json_response({"error": "wait is milliseconds"}, status=400)
        job = await self._accept(request)
        if isinstance(job, web.Response):
            return job
        if job.task is not None and not job.task.done():
            try:
                await asyncio.wait_for(asyncio.shield(job.task), wait_s)
            except TimeoutError:
                pass
        return web.json_response(job.body())

    async def _execute(self, job: HostedJob) -> None:
        assert self._slots is not None
        async with self._slots:
            if job.status != "IN_QUEUE":
                return
            job.status = "IN_PROGRESS"
            job.started_at = time.monotonic()
            self.ledger.append(job)

            def report(progress: dict[str, Any]) -> None:
                if job.status == "IN_PROGRESS":
                    job.output = progress

            try:
                answer = await asyncio.wait_for(
                    handle_input(job.input, self.backend, report=report, progress_interval_s=self.progress_interval_s),
                    job.execution_timeout_s,
                )
            except TimeoutError:
                self._finish(job, "TIMED_OUT")
                return
            if "error" in answer:
                self._finish(job, "FAILED", error=str(answer["error"]))
            else:
                self._finish(job, "COMPLETED", output=answer)

    @staticmethod
    def _finish(job: HostedJob, status: str, *, output: Any = None, error: str | None = None) -> None:
        job.status, job.output, job.error, job.finished_at = status, output, error, time.monotonic()

    async def _status(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": "request does not exist"}, status=404)
        return web.json_response(job.body())

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": "request does not exist"}, status=404)
        if job.status in ("IN_QUEUE", "IN_PROGRESS"):
            if job.task is not None:
                job.task.cancel()
            self._finish(job, "CANCELLED")
        return web.json_response({"id": job.id, "status": job.status})

    async def _health(self, request: web.Request) -> web.Response:
        statuses = [job.status for job in self.jobs.values()]
        running = statuses.count("IN_PROGRESS")
        return web.json_response(
            {
                "jobs": {
                    "inQueue": statuses.count("IN_QUEUE"),
                    "inProgress": running,
                    "completed": statuses.count("COMPLETED"),
                    "failed": statuses.count("FAILED"),
                },
                "workers": {"idle": max(0, self.slots - running), "running": running},
            }
        )

    async def _billing(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        wall = time.time() - now
        return web.json_response(
            {
                "jobs": [
                    {
                        "id": job.id,
                        "tag": job.input.get("tag") if isinstance(job.input, dict) else None,
                        "status": job.status,
                        "billed_s": round(job.execution_s(now), 3),
                        "submitted_at": wall + job.submitted,
                        "started_at": wall + (job.started_at or job.submitted),
                        "finished_at": None if job.finished_at is None else wall + job.finished_at,
                    }
                    for job in self.ledger
                ]
            }
        )

    async def _stop_all(self, app: web.Application) -> None:
        tasks = [job.task for job in self.jobs.values() if job.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> None:
    """`python -m gpu_worker.selfhosted`: serve jobs on --host:--port until interrupted."""
    parser = argparse.ArgumentParser(description="Serve grind jobs over RunPod's job API on this machine.")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--slots", type=int, default=1, help="jobs ground at once (one per GPU)")
    parser.add_argument("--retention", type=float, default=1800.0, help="seconds a finished job's answer is kept")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = load_worker_settings().selfhosted_token or ""
    worker = SelfHostedWorker(token=token, backend=load_backend(), slots=max(1, args.slots), retention_s=args.retention)
    try:
        app = worker.app()
    except ValueError as err:
        raise SystemExit(str(err)) from None
    log.info("serving %s jobs at http://%s:%d/v2/%s", args.slots, args.host, args.port, ENDPOINT_ID)
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
