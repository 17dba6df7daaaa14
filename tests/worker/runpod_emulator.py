"""A loopback emulator of RunPod's serverless job API that runs the real worker handler.

It speaks the documented wire format (POST /v2/{endpoint}/run with input and
policy, GET /status/{id}, POST /cancel/{id}, GET /health, Authorization:
Bearer) and moves each job through IN_QUEUE, IN_PROGRESS (with the handler's
progress as output), COMPLETED, FAILED, CANCELLED and TIMED_OUT. Faults are
injected per job or per request, so tests can check that every one ends in a
verified result or a clean failure. Outages (`outage(seconds, mode)`) answer
every client request with 503 or drop the connection unanswered; `accept_then_fail`
creates the job and then answers /run with a 5xx (RunPod's ambiguous failure).

Expiry as RunPod documents it: `ttl` counts from submission and removes the job
whatever its state; a finished /run result is kept `result_retention_s` (30 min),
a /runsync result `runsync_retention_s` (1 min), whichever ends first.

Two ways to run jobs:
- in process (default): the handler's own entry point, `handle_input`, on this event loop;
- remote (`remote_worker=True`): a real `python -m gpu_worker` process in production
  mode takes jobs the way the runpod SDK does on RunPod: it long-polls
  /job-take/{worker}, posts progress and results to /job-done/{worker}/{job},
  long-polls /job-stop/{worker} for cancels, and pings (see `worker_env`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from gpu_worker.formats import CURVE_ORDER
from gpu_worker.handler import handle_input
from gpu_worker.job import GrindResult
from gpu_worker.sealing import seal_result

WORKER_PREFIX = "/v2/worker-side"
CONTROL_PREFIX = "/emulator"  # a test's own handle on an emulator run as a process: billing, faults

JobFault = Literal[
    "none",
    "fail",
    "reject",
    "self_check",
    "timed_out",
    "garbage",
    "wrong_key",
    "unsealed",
    "hang",
    "short",  # a job of several pulls whose last three did not finish (the worker's time limit cut them)
    "cut",  # a single pull the worker's time limit stopped at a quarter of its keys (its best so far comes back)
]


@dataclass
class EmulatedJob:
    id: str
    input: Any
    policy: dict[str, int]
    fault: JobFault
    submitted: float
    status: str = "IN_QUEUE"
    output: Any = None
    error: str | None = None
    finished_at: float | None = None
    task: asyncio.Task[None] | None = None
    sync: bool = False  # submitted with /runsync: its result is kept a minute, not 30
    started_at: float | None = None  # when a worker took it: billing runs from here to finished_at

    def execution_s(self, now: float) -> float:
        """What RunPod bills for this job so far (its executionTime), in seconds."""
        if self.started_at is None:
            return 0.0
        return max(0.0, (self.finished_at if self.finished_at is not None else now) - self.started_at)

    def delay_s(self, now: float) -> float:
        return max(0.0, (self.started_at if self.started_at is not None else now) - self.submitted)


@dataclass
class RunpodEmulator:
    api_key: str
    endpoint_id: str
    backend: Any
    queue_delay_s: float = 0.0
    progress_interval_s: float = 0.05
    result_retention_s: float = 1800.0
    runsync_retention_s: float = 60.0
    accept_then_fail: deque[int] = field(default_factory=deque)  # /run creates the job, then answers this status
    hold_run_answer: deque[float] = field(default_factory=deque)  # /run creates the job, then answers this late
    drop_answers: int = 0  # the connection drops on this many /status answers that carry a finished job
    outage_until: float = 0.0
    outage_mode: Literal["503", "drop"] = "503"
    job_faults: deque[JobFault] = field(default_factory=deque)  # consumed one per /run
    request_faults: deque[int] = field(default_factory=deque)  # HTTP statuses for the next requests, any route
    retry_after: str | None = None
    jobs: dict[str, EmulatedJob] = field(default_factory=dict)
    _ledger: list[EmulatedJob] = field(default_factory=list)  # every job ever accepted, expiry or not
    requests: list[tuple[str, str]] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    max_concurrent: int = 8
    idle_workers: int = 1  # what /health reports as idle (0: an endpoint with no workers up)
    unhealthy_workers: int = 0  # what /health reports as unhealthy (a worker whose fitness check failed)
    remote_worker: bool = False
    worker_key: str = "worker-side-key"
    pings: int = 0
    _runner: web.AppRunner | None = None
    _handoff: asyncio.Queue[EmulatedJob] | None = None
    _stops: asyncio.Queue[str] | None = None
    _slots: asyncio.Semaphore | None = None
    base_url: str = ""

    async def start(self, port: int = 0) -> str:
        self._slots = asyncio.Semaphore(self.max_concurrent)
        self._handoff = asyncio.Queue()
        self._stops = asyncio.Queue()
        app = web.Application(middlewares=[self._middleware])
        prefix = f"/v2/{self.endpoint_id}"
        app.router.add_post(f"{prefix}/run", self._run)
        app.router.add_post(f"{prefix}/runsync", self._runsync)
        app.router.add_get(f"{prefix}/status/{{job_id}}", self._status)
        app.router.add_post(f"{prefix}/cancel/{{job_id}}", self._cancel)
        app.router.add_get(f"{prefix}/health", self._health)
        app.router.add_get(f"{WORKER_PREFIX}/job-take/{{worker}}", self._job_take)
        app.router.add_post(f"{WORKER_PREFIX}/job-done/{{worker}}/{{job_id}}", self._job_done)
        app.router.add_get(f"{WORKER_PREFIX}/job-stop/{{worker}}", self._job_stop)
        app.router.add_get(f"{WORKER_PREFIX}/ping/{{worker}}", self._ping)
        app.router.add_get(f"{CONTROL_PREFIX}/billing", self._billing)
        app.router.add_post(f"{CONTROL_PREFIX}/fault", self._fault)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/v2"
        return self.base_url

    async def stop(self) -> None:
        for job in self.jobs.values():
            if job.task is not None:
                job.task.cancel()
        await asyncio.gather(*(j.task for j in self.jobs.values() if j.task is not None), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def worker_env(self) -> dict[str, str]:
        """What RunPod sets in a worker's environment, pointing at this emulator."""
        root = self.base_url.removesuffix("/v2") + WORKER_PREFIX
        return {
            "RUNPOD_WEBHOOK_GET_JOB": f"{root}/job-take/$ID?gpu=emulated",
            "RUNPOD_WEBHOOK_POST_OUTPUT": f"{root}/job-done/$RUNPOD_POD_ID/$ID?gpu=emulated",
            "RUNPOD_WEBHOOK_PING": f"{root}/ping/$RUNPOD_POD_ID?gpu=emulated",
            "RUNPOD_AI_API_KEY": self.worker_key,
            "RUNPOD_POD_ID": "emulated-pod",
            "RUNPOD_PING_INTERVAL": "1000",
        }

    def outage(self, seconds: float, mode: Literal["503", "drop"] = "503") -> None:
        """From now, for `seconds`, every client request fails (workers keep running their jobs)."""
        self.outage_until = time.monotonic() + seconds
        self.outage_mode = mode

    def finish_now(self, job_id: str, status: str, *, error: str | None = None) -> None:
        """End a job the way RunPod would from its side (a failure, a cancel by the console, ...)."""
        job = self.jobs[job_id]
        if job.task is not None:
            job.task.cancel()
        self._finish(job, status, error=error)

    def running(self) -> list[str]:
        return [job_id for job_id, job in self.jobs.items() if job.status in ("IN_QUEUE", "IN_PROGRESS")]

    def count(self, route: str) -> int:
        return sum(1 for _, path in self.requests if route in path)

    def billing(self) -> list[dict[str, Any]]:
        """The emulator's own billing ledger, one line per job that ever reached a worker, as RunPod would
        bill it: execution seconds from the moment a worker took the job to the moment it stopped."""
        now = time.monotonic()
        wall = time.time() - now  # monotonic to wall-clock time, so another process can line events up
        return [
            {
                "id": job.id,
                "tag": job.input.get("tag") if isinstance(job.input, dict) else None,
                "status": job.status,
                "billed_s": round(job.execution_s(now), 3),
                "submitted_at": wall + job.submitted,
                "started_at": wall + (job.started_at or job.submitted),
                "finished_at": None if job.finished_at is None else wall + job.finished_at,
            }
            for job in self._ledger
            if job.started_at is not None
        ]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(WORKER_PREFIX):
            # The worker side: RunPod hands the worker its own key (no Bearer), and the
            # client-facing faults below are not the worker's to see.
            if request.headers.get("Authorization") != self.worker_key:
                return web.json_response({"error": "Unauthorized"}, status=401)
            return await handler(request)
        if not request.path.startswith(CONTROL_PREFIX):
            self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": "Unauthorized"}, status=401)
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        if time.monotonic() < self.outage_until:
            if self.outage_mode == "drop":
                assert request.transport is not None
                request.transport.close()  # the connection drops with no answer
                raise asyncio.CancelledError
            return web.json_response({"error": "service unavailable"}, status=503)
        if self.request_faults:
            status = self.request_faults.popleft()
            headers = {"Retry-After": self.retry_after} if self.retry_after and status == 429 else {}
            if status == 200:
                return web.Response(text="<html>gateway hiccup</html>", status=200, content_type="text/html")
            return web.json_response({"error": "injected"}, status=status, headers=headers)
        self._expire()
        return await handler(request)

    def _expire(self) -> None:
        now = time.monotonic()
        for job_id, job in list(self.jobs.items()):
            ttl_s = job.policy.get("ttl", 86_400_000) / 1000
            gone_at = job.submitted + ttl_s  # whatever the job's state
            if job.finished_at is not None:
                retention = self.runsync_retention_s if job.sync else self.result_retention_s
                gone_at = min(gone_at, job.finished_at + retention)
            if now >= gone_at:
                if job.task is not None:
                    job.task.cancel()
                del self.jobs[job_id]

    async def _runsync(self, request: web.Request) -> web.Response:
        """Like /run, then hold the answer up to ?wait= ms (RunPod: 1,000 to 300,000; default 90,000)."""
        wait_ms = int(request.query.get("wait", "90000"))
        if not 1000 <= wait_ms <= 300_000:
            return web.json_response({"error": "wait must be 1000 to 300000 ms"}, status=400)
        job = await self._accept(request)
        if isinstance(job, web.Response):
            return job
        job.sync = True
        ends = time.monotonic() + wait_ms / 1000
        while job.status in ("IN_QUEUE", "IN_PROGRESS") and time.monotonic() < ends:
            await asyncio.sleep(0.005)
        return web.json_response(self._status_body(job))

    async def _run(self, request: web.Request) -> web.Response:
        job = await self._accept(request)
        if isinstance(job, web.Response):
            return job
        if self.accept_then_fail:
            return web.json_response({"error": "upstream timeout"}, status=self.accept_then_fail.popleft())
        if self.hold_run_answer:  # a submit that hangs after the job was created
            await asyncio.sleep(self.hold_run_answer.popleft())
        return web.json_response({"id": job.id, "status": "IN_QUEUE"})

    async def _accept(self, request: web.Request) -> EmulatedJob | web.Response:
        body = await request.json()
        if not isinstance(body, dict) or "input" not in body:
            return web.json_response({"error": "input is required"}, status=400)
        policy = body.get("policy") or {}
        if policy.get("executionTimeout", 600_000) < 5000 or policy.get("ttl", 86_400_000) < 10_000:
            return web.json_response({"error": "policy out of range"}, status=400)
        job = EmulatedJob(
            id=f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-emu",
            input=body["input"],
            policy=policy,
            fault=self.job_faults.popleft() if self.job_faults else "none",
            submitted=time.monotonic(),
        )
        if job.fault == "unsealed" and isinstance(job.input, dict):  # a worker that ignores seal_to
            job.input = {key: value for key, value in job.input.items() if key != "seal_to"}
        self.jobs[job.id] = job
        self._ledger.append(job)
        job.task = asyncio.create_task(self._execute(job))
        return job

    async def _execute(self, job: EmulatedJob) -> None:
        assert self._slots is not None
        await asyncio.sleep(self.queue_delay_s)
        async with self._slots:
            if job.status != "IN_QUEUE":
                return
            job.status = "IN_PROGRESS"
            job.started_at = time.monotonic()
            if job.fault == "timed_out":
                self._finish(job, "TIMED_OUT")
                return
            if job.fault == "fail":
                self._finish(job, "FAILED", error="worker_error: the grinder failed (RuntimeError); resubmit the job")
                return
            if job.fault == "reject":  # a worker running a newer or stricter engine than the bot
                self._finish(job, "FAILED", error="bad_pattern: this worker does not accept that pattern")
                return
            if job.fault == "self_check":  # what the handler answers when the session's own verification fails
                self._finish(job, "FAILED", error="verification_failed: a hit's secret does not derive its identifier")
                return
            if job.fault == "hang":
                await asyncio.sleep(3600)
            if self.remote_worker:
                await self._run_remotely(job)
                return
            execution_timeout_s = job.policy.get("executionTimeout", 600_000) / 1000

            def report(progress: dict[str, Any]) -> None:
                if job.status == "IN_PROGRESS":
                    job.output = json.loads(json.dumps(progress))

            try:
                answer = await asyncio.wait_for(
                    _run_handler(job.input, self.backend, report, self.progress_interval_s), execution_timeout_s
                )
            except TimeoutError:
                self._finish(job, "TIMED_OUT")
                return
            if "error" in answer:
                self._finish(job, "FAILED", error=str(answer["error"]))
            elif job.fault == "garbage":
                self._finish(job, "COMPLETED", output={"checked": "lots", "results": "trust me"})
            elif job.fault == "wrong_key":
                self._finish(job, "COMPLETED", output=_tampered(answer, job.input.get("seal_to")))
            elif job.fault == "cut":
                self._finish(job, "COMPLETED", output={**answer, "checked": job.input["budget"] // 4})
            elif job.fault == "short":
                kept = answer["results"][:-3]
                self._finish(
                    job, "COMPLETED", output={**answer, "results": kept, "checked": job.input["budget"] * len(kept)}
                )
            else:
                self._finish(job, "COMPLETED", output=answer)

    async def _run_remotely(self, job: EmulatedJob) -> None:
        """Hand the job to the worker process and hold its slot until the worker reports back."""
        assert self._handoff is not None
        job.status = "IN_QUEUE"  # until a worker takes it
        job.started_at = None
        await self._handoff.put(job)
        execution_timeout_s = job.policy.get("executionTimeout", 600_000) / 1000
        started = None
        while job.status in ("IN_QUEUE", "IN_PROGRESS"):
            await asyncio.sleep(0.02)
            if job.status == "IN_PROGRESS":
                started = started or time.monotonic()
                if time.monotonic() - started > execution_timeout_s:
                    self._finish(job, "TIMED_OUT")
                    await self._signal_stop(job.id)

    async def _job_take(self, request: web.Request) -> web.Response:
        assert self._handoff is not None
        try:
            job = await asyncio.wait_for(self._handoff.get(), timeout=1.0)
        except TimeoutError:
            return web.Response(status=204)
        if job.status != "IN_QUEUE":  # cancelled while queued
            return web.Response(status=204)
        job.status = "IN_PROGRESS"
        job.started_at = time.monotonic()
        return web.json_response({"id": job.id, "input": job.input})

    async def _job_done(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        body = json.loads(await request.text())  # the SDK posts JSON with a form content type
        if job is None or job.status != "IN_PROGRESS":
            return web.json_response({"ignored": True})  # late news about a finished or cancelled job
        if body.get("status") == "IN_PROGRESS":
            job.output = body.get("output")
        elif body.get("error"):
            self._finish(job, "FAILED", error=str(body["error"]))
        elif job.fault == "garbage":
            self._finish(job, "COMPLETED", output={"checked": "lots", "results": "trust me"})
        elif job.fault == "wrong_key":
            self._finish(job, "COMPLETED", output=_tampered(body.get("output"), job.input.get("seal_to")))
        else:
            self._finish(job, "COMPLETED", output=body.get("output"))
        return web.json_response({"ok": True})

    async def _job_stop(self, request: web.Request) -> web.Response:
        assert self._stops is not None
        try:
            first = await asyncio.wait_for(self._stops.get(), timeout=1.0)
        except TimeoutError:
            return web.Response(status=204)
        ids = [first]
        while not self._stops.empty():
            ids.append(self._stops.get_nowait())
        return web.json_response({"jobsToStop": ids})

    async def _ping(self, request: web.Request) -> web.Response:
        self.pings += 1
        return web.json_response({"ok": True})

    async def _signal_stop(self, job_id: str) -> None:
        if self.remote_worker and self._stops is not None:
            await self._stops.put(job_id)

    def _finish(self, job: EmulatedJob, status: str, *, output: Any = None, error: str | None = None) -> None:
        job.status, job.output, job.error, job.finished_at = status, output, error, time.monotonic()

    async def _status(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": "request does not exist"}, status=404)
        if self.drop_answers > 0 and job.finished_at is not None:
            self.drop_answers -= 1
            assert request.transport is not None
            request.transport.close()  # the answer that carried the result never arrives
            raise asyncio.CancelledError
        return web.json_response(self._status_body(job))

    async def _billing(self, request: web.Request) -> web.Response:
        return web.json_response({"jobs": self.billing()})

    async def _fault(self, request: web.Request) -> web.Response:
        """{"outage": seconds, "mode": "503"|"drop"} | {"hold_run_answer": seconds} | {"drop_answers": n}"""
        body = await request.json()
        if "outage" in body:
            self.outage(float(body["outage"]), body.get("mode", "drop"))
        if "hold_run_answer" in body:
            self.hold_run_answer.append(float(body["hold_run_answer"]))
        if "drop_answers" in body:
            self.drop_answers += int(body["drop_answers"])
        return web.json_response({"ok": True})

    @staticmethod
    def _status_body(job: EmulatedJob) -> dict[str, Any]:
        now = time.monotonic()
        body: dict[str, Any] = {"id": job.id, "status": job.status, "delayTime": round(job.delay_s(now) * 1000)}
        if job.started_at is not None:
            body["executionTime"] = round(job.execution_s(now) * 1000)
        if job.output is not None:
            body["output"] = job.output
        if job.error is not None:
            body["error"] = job.error
        return body

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": "request does not exist"}, status=404)
        self.cancelled.append(job.id)
        if job.status in ("IN_QUEUE", "IN_PROGRESS"):
            if job.status == "IN_PROGRESS":
                await self._signal_stop(job.id)
            if job.task is not None:
                job.task.cancel()
            self._finish(job, "CANCELLED")
        return web.json_response({"id": job.id, "status": job.status})

    async def _health(self, request: web.Request) -> web.Response:
        statuses = [job.status for job in self.jobs.values()]
        return web.json_response(
            {
                "jobs": {
                    "completed": statuses.count("COMPLETED"),
                    "failed": statuses.count("FAILED"),
                    "inProgress": statuses.count("IN_PROGRESS"),
                    "inQueue": statuses.count("IN_QUEUE"),
                    "retried": 0,
                },
                "workers": {
                    "idle": self.idle_workers,
                    "ready": self.idle_workers,
                    "initializing": 0,
                    "running": statuses.count("IN_PROGRESS"),
                    "throttled": 0,
                    "unhealthy": self.unhealthy_workers,
                },
            }
        )


async def _run_handler(job_input: Any, backend: Any, report: Any, interval: float) -> dict[str, Any]:
    # The worker's own entry point, with progress going to this emulator instead of RunPod.
    return await handle_input(job_input, backend, report=report, progress_interval_s=interval)


def _tampered(answer: dict[str, Any], seal_to: str | None) -> dict[str, Any]:
    """The same answer with each secret replaced by another valid key, sealed as asked: what a lying worker sends."""
    result = GrindResult.model_validate(answer)
    lies = [
        hit.model_copy(update={"secret": f"{secrets.randbelow(CURVE_ORDER - 1) + 1:064x}"}) for hit in result.results
    ]
    lying = result.model_copy(update={"results": lies})
    return (seal_result(lying, seal_to) if seal_to else lying).model_dump(mode="json")


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.worker.runpod_emulator --port N`: the emulator as a process of its own (benchmarks)."""
    import argparse
    import os

    from gpu_worker.grinders import get_backend

    parser = argparse.ArgumentParser(description="RunPod's serverless job API on loopback, running the real handler")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--endpoint", default="emulated")
    parser.add_argument("--queue-delay", type=float, default=0.25)
    parser.add_argument("--max-concurrent", type=int, default=8)
    args = parser.parse_args(argv)
    api_key = os.environ["EMULATOR_API_KEY"]

    async def serve() -> None:
        emu = RunpodEmulator(
            api_key=api_key,
            endpoint_id=args.endpoint,
            backend=get_backend("python"),
            queue_delay_s=args.queue_delay,
            max_concurrent=args.max_concurrent,
            progress_interval_s=0.5,
        )
        await emu.start(port=args.port)
        print(f"emulator ready on {emu.base_url}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
