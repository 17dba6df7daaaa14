"""The real worker under the runpod SDK's own local API server: `python -m gpu_worker --rp_serve_api`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpu_worker.job import GrindJob, GrindResult
from gpu_worker.verify import verify_hit

from .conftest import free_port

REPO = Path(__file__).resolve().parents[2]
PULL = {"v": 1, "format": "btc", "pattern": "ab", "budget": 500, "top": 3}
HEX_SECRET = re.compile(r"\b[0-9a-fA-F]{64}\b")


class WorkerServer:
    def __init__(self, base_url: str, log_path: Path) -> None:
        self.base_url = base_url
        self.log_path = log_path

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _worker_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
    env.update(VANIKEYS_WORKER_BACKEND="python", PYTHONUNBUFFERED="1", **extra)
    return env


@pytest.fixture(scope="module")
def worker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerServer]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    with log_path.open("w") as log_file:
        # DEBUG asked for twice: the worker must still keep the SDK from logging outputs (they hold keys).
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gpu_worker",
                "--rp_serve_api",
                "--rp_api_host",
                "127.0.0.1",
                "--rp_api_port",
                str(port),
                "--rp_log_level",
                "DEBUG",
            ],
            cwd=REPO,
            env=_worker_env(RUNPOD_LOG_LEVEL="DEBUG", UVICORN_LOG_LEVEL="warning"),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = WorkerServer(f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"the worker exited with {process.returncode}:\n{server.log()}")
            try:
                urllib.request.urlopen(server.base_url + "/openapi.json", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the worker did not start serving in 90 s:\n{server.log()}")
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_runsync_returns_a_result_that_verifies(worker_server: WorkerServer) -> None:
    answer = worker_server.post("/runsync", {"input": PULL})
    assert answer["status"] == "COMPLETED"
    result = GrindResult.model_validate(answer["output"])
    assert result.checked == 500 and len(result.results) == 3
    job = GrindJob.parse(PULL)
    for hit in result.results:
        verify_hit(job, hit)


def test_run_then_status_follows_runpods_flow(worker_server: WorkerServer) -> None:
    order = {**PULL, "budget": 100_000, "stop": "full", "top": 1}
    submitted = worker_server.post("/run", {"input": order})
    assert submitted["status"] == "IN_PROGRESS" and submitted["id"]
    answer = worker_server.post(f"/status/{submitted['id']}")
    assert answer["status"] == "COMPLETED"
    result = GrindResult.model_validate(answer["output"])
    assert result.found_full and result.checked < 100_000
    verify_hit(GrindJob.parse(order), result.results[0])


@pytest.mark.parametrize(
    ("job_input", "prefix"),
    [
        ({**PULL, "pattern": "0O", "case": "exact"}, "bad_pattern: "),
        ({**PULL, "format": "ltc"}, "bad_format: "),
        ({"v": 1}, "bad_job: "),
        ({**PULL, "budget": "lots"}, "bad_job: "),
    ],
)
def test_a_bad_job_is_failed_with_a_string_error(worker_server: WorkerServer, job_input: Any, prefix: str) -> None:
    answer = worker_server.post("/runsync", {"input": job_input})
    assert answer["status"] == "FAILED"
    assert isinstance(answer["error"], str) and answer["error"].startswith(prefix)


def test_the_worker_survives_bad_jobs_and_never_logs_a_key(worker_server: WorkerServer) -> None:
    worker_server.post("/runsync", {"input": {"v": 1, "format": "btc", "pattern": "?", "budget": -1}})
    answer = worker_server.post("/runsync", {"input": {**PULL, "top": 5}})
    assert answer["status"] == "COMPLETED"
    secrets_returned = {hit["secret"] for hit in answer["output"]["results"]}
    time.sleep(0.3)  # let the worker's log lines land
    log = worker_server.log()
    assert "Handler output" not in log  # the SDK's DEBUG line that would carry the keys
    assert not secrets_returned & set(HEX_SECRET.findall(log))
    assert any(hit["identifier"] in log for hit in answer["output"]["results"])


def test_test_input_mode_runs_one_job_and_withholds_the_key() -> None:
    job = json.dumps({"input": {**PULL, "top": 2}})
    completed = subprocess.run(
        [sys.executable, "-m", "gpu_worker", "--test_input", job],
        cwd=REPO,
        env=_worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "<withheld in --test_input runs>" in output
    assert not HEX_SECRET.findall(output)


def test_test_input_with_a_bad_job_exits_non_zero() -> None:
    job = json.dumps({"input": {**PULL, "format": "doge"}})
    completed = subprocess.run(
        [sys.executable, "-m", "gpu_worker", "--test_input", job],
        cwd=REPO,
        env=_worker_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    assert "bad_format: " in completed.stdout + completed.stderr
