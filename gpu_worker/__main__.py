"""`python -m gpu_worker [runpod SDK arguments]`: the RunPod serverless worker.

Every argument is the SDK's (`--test_input '{"input": ...}'`,
`--rp_serve_api --rp_api_port N`, `--rp_log_level`); the SDK reads them from
sys.argv itself. The backend is loaded and warmed up before the SDK starts,
so the first job does not pay for it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from .settings import SAFE_LOG_LEVELS as _SAFE_LEVELS, keep_sdk_logs_at_info, load_worker_settings


def _keep_sdk_logs_free_of_keys() -> None:
    """Set before the SDK is imported: its logger reads the level once, at import."""
    keep_sdk_logs_at_info()
    sys.argv = [sys.argv[0], *_safe_log_level_args(sys.argv[1:])]


def _safe_log_level_args(argv: list[str]) -> list[str]:
    """Drop an `--rp_log_level DEBUG` (or TRACE) for the same reason."""
    cleaned: list[str] = []
    skip_next = False
    for index, arg in enumerate(argv):
        if skip_next:
            skip_next = False
            continue
        if arg == "--rp_log_level" and index + 1 < len(argv):
            if argv[index + 1].upper() not in _SAFE_LEVELS:
                skip_next = True
                continue
        elif arg.startswith("--rp_log_level=") and arg.split("=", 1)[1].upper() not in _SAFE_LEVELS:
            continue
        cleaned.append(arg)
    return cleaned


def _redacting(handler: Any) -> Any:
    """--test_input prints the whole output at INFO: hand it secrets that say they were withheld."""

    async def redacted(job: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await handler(job)
        for hit in answer.get("results", []):
            hit["secret"] = "<withheld in --test_input runs>"
        return answer

    return redacted


def _skip_cpuinfo_probe() -> None:
    """The SDK calls py-cpuinfo's get_cpu_info() at import (for its --rp_debugger report).

    That probe starts a child process and costs about a second of every cold start;
    the brand string from /proc/cpuinfo is all the SDK reads from it.
    """
    try:
        import cpuinfo
    except ImportError:
        return
    brand = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            brand = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), brand)
    except OSError:
        pass
    cpuinfo.get_cpu_info = lambda: {"brand_raw": brand}


def main() -> None:
    """The RunPod worker's entry point: set up logging, then serve jobs through the SDK until it exits.

    On RunPod it registers the fitness check first (a grinder that fails to load or computes a wrong key makes the
    worker unhealthy before it takes a job); with --test_input or --rp_serve_api it runs locally, with secrets in
    printed output withheld.
    """
    started = time.perf_counter()
    logging.basicConfig(level=logging.INFO, format="%(levelname)-7s| %(name)s | %(message)s", stream=sys.stdout)
    _keep_sdk_logs_free_of_keys()
    _skip_cpuinfo_probe()
    import runpod

    from . import handler as worker

    test_input = _given(sys.argv, "--test_input")
    on_runpod = (
        bool(load_worker_settings().runpod_webhook_get_job)
        and not test_input
        and not _given(sys.argv, "--rp_serve_api")
    )
    if on_runpod:
        # As a fitness check, a backend that fails to load or computes a wrong key is reported
        # to RunPod as an unhealthy worker (and the worker exits) before it takes a job.
        runpod.serverless.register_fitness_check(worker.fitness_check)
    else:
        asyncio.run(worker.fitness_check())  # the SDK runs no fitness checks in its local modes
        logging.getLogger("gpu_worker").info("backend ready %.2f s after main()", time.perf_counter() - started)

    chosen = _redacting(worker.handler) if test_input else worker.handler
    runpod.serverless.start({"handler": chosen})


def _given(argv: list[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv)


if __name__ == "__main__":
    main()
