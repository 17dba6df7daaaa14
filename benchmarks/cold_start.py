"""Cold start of the RunPod worker: process start to ready for a job, and to its first answer.

    .venv/bin/python benchmarks/cold_start.py [--backend native] [--runs 3]

Each run starts `python -m gpu_worker` in production mode, with RunPod's worker
environment pointing at a small job server on loopback that speaks the SDK's
worker protocol (job-take, job-done, job-stop, ping), and times from the
process spawn:
  ready       the worker's first job-take request: imports done, backend loaded,
              the SDK's fitness checks (ours: a verified grind in every format) passed
  first job   the result of a small pull (btc "^ab", 65,536 keys) posted back
The first run starts with an empty kernel cache (the native backend compiles
its library then; on RunPod the image ships cubins instead); the others reuse
it. Also shown: the bare import times that every start pays.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
JOB = {"id": "bench-job", "input": {"v": 1, "format": "btc", "pattern": "^ab", "budget": 65536}}
WORKER_KEY = "bench-worker-key"


class JobServer:
    """RunPod's side of the worker protocol, just enough to hand out one job and time it."""

    def __init__(self) -> None:
        self.began = 0.0
        self.ready: float | None = None
        self.answered: asyncio.Future[float] | None = None
        self.handed_out = False
        self.runner: web.AppRunner | None = None
        self.root = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/w/job-take/{worker}", self.job_take)
        app.router.add_post("/w/job-done/{worker}/{job}", self.job_done)
        app.router.add_get("/w/job-stop/{worker}", self.idle)
        app.router.add_get("/w/ping/{worker}", self.ping)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.root = f"http://127.0.0.1:{port}/w"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def reset(self) -> None:
        self.began = time.perf_counter()
        self.ready = None
        self.handed_out = False
        self.answered = asyncio.get_running_loop().create_future()

    async def job_take(self, request: web.Request) -> web.Response:
        if self.ready is None:
            self.ready = time.perf_counter() - self.began
        if self.handed_out:
            await asyncio.sleep(1.0)
            return web.Response(status=204)
        self.handed_out = True
        return web.json_response(JOB)

    async def job_done(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text())
        if body.get("status") != "IN_PROGRESS" and self.answered is not None and not self.answered.done():
            if "error" in body:
                self.answered.set_exception(SystemExit(f"the first job failed: {body['error']}"))
            else:
                self.answered.set_result(time.perf_counter() - self.began)
        return web.json_response({})

    async def idle(self, request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.Response(status=204)

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    def worker_env(self, backend: str, cache_dir: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
        env.update(
            RUNPOD_WEBHOOK_GET_JOB=f"{self.root}/job-take/$ID?gpu=bench",
            RUNPOD_WEBHOOK_POST_OUTPUT=f"{self.root}/job-done/$RUNPOD_POD_ID/$ID?gpu=bench",
            RUNPOD_WEBHOOK_PING=f"{self.root}/ping/$RUNPOD_POD_ID?gpu=bench",
            RUNPOD_AI_API_KEY=WORKER_KEY,
            RUNPOD_POD_ID="bench-pod",
            RUNPOD_SKIP_AUTO_SYSTEM_CHECKS="true",  # as in Dockerfile.runpod
            RUNPOD_SKIP_GPU_CHECK="true" if backend != "cuda" else "false",
            VANIKEYS_WORKER_BACKEND=backend,
            VANIKEYS_CACHE=cache_dir,
        )
        return env


async def one_start(server: JobServer, backend: str, cache_dir: str) -> tuple[float, float]:
    server.reset()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gpu_worker",
        cwd=REPO,
        env=server.worker_env(backend, cache_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert server.answered is not None
        first = await asyncio.wait_for(server.answered, 600)
        assert server.ready is not None
        return server.ready, first
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


def import_time(statement: str) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True, cwd=REPO)
    return time.perf_counter() - began


async def measure(backend: str, runs: int) -> list[tuple[float, float]]:
    server = JobServer()
    await server.start()
    try:
        with tempfile.TemporaryDirectory() as cache:
            return [await one_start(server, backend, cache) for _ in range(runs)]
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="native", choices=["native", "python", "cuda", "auto"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, backend {args.backend}"
    )
    print(f"import runpod:               {import_time('import runpod'):6.2f} s")
    skipped = "from gpu_worker.__main__ import _skip_cpuinfo_probe; _skip_cpuinfo_probe(); import runpod"
    print(f"  without its cpuinfo probe: {import_time(skipped):6.2f} s  (what python -m gpu_worker does)")
    print(f"import gpu_worker.handler:   {import_time('import gpu_worker.handler, gpu_worker.grinders'):6.2f} s")
    runs = asyncio.run(measure(args.backend, max(1, args.runs)))
    print(f"{'run':<22}{'ready (s)':>10}{'first job (s)':>15}")
    for index, (ready, first) in enumerate(runs):
        label = "empty kernel cache" if index == 0 else f"warm cache #{index}"
        print(f"{label:<22}{ready:>10.2f}{first:>15.2f}")
    if len(runs) > 1:
        warm = runs[1:]
        print(
            f"{'warm median':<22}{statistics.median(r for r, _ in warm):>10.2f}"
            f"{statistics.median(f for _, f in warm):>15.2f}"
        )


if __name__ == "__main__":
    main()
