"""The grind worker as a Modal app: the same handler as the RunPod image, on a Modal GPU function.

    modal deploy deploy/modal_app.py          # once, and after each worker change

The bot (bot/grinding/modal_backend.py) looks the function up by name (VANIKEYS_MODAL_APP,
default "vanikeys-grinder"), `spawn`s one call per job, polls it with `FunctionCall.get(timeout=0)`
and cancels what it abandons. Input and output are the grind job and result JSON of the RunPod
worker, secrets sealed to the bot's key (gpu_worker/sealing.py), so Modal never holds one in clear.
Modal has no progress channel for a spawned call: order progress from Modal chunks shows when each
chunk ends. GPU: an L4 is Modal's cheapest CUDA card with the compute capability the kernel needs;
set VANIKEYS_MODAL_GPU before deploying to choose another.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import modal

APP_NAME = os.environ.get("VANIKEYS_MODAL_APP", "vanikeys-grinder")
FUNCTION_NAME = "grind"
REPO = Path(__file__).resolve().parents[1]

# The worker image's lock (hashes, one universal lock for CPython 3.11+), so Modal grinds with exactly the
# dependencies the RunPod image and the tests use: cryptography (sealing) included.
LOCK = REPO / "requirements-worker.lock"
# Everything in the package, not only its .py files (add_local_python_source's default): the kernel
# sources (.cuh, .cu, .cpp) are what the cuda backend compiles. Local cubins stay out: they are built
# per machine and loaded only when stamped with the sources' digest, so NVRTC compiles them here.
SOURCE_IGNORE = ["**/__pycache__", "**/*.pyc", "kernels/cubin"]

image = (
    modal.Image.from_registry("nvidia/cuda:12.4.1-runtime-ubuntu22.04", add_python="3.11")
    .pip_install_from_requirements(str(LOCK))
    .add_local_python_source("gpu_worker", ignore=SOURCE_IGNORE)
)
app = modal.App(APP_NAME)


async def run_job(job_input: Any) -> dict[str, Any]:
    """The function body: one grind job in, the worker's answer out (never raises; errors are {"error": ...})."""
    from gpu_worker.handler import handle_input, load_backend

    return await handle_input(job_input, load_backend())


@app.function(
    gpu=os.environ.get("VANIKEYS_MODAL_GPU", "L4"),
    image=image,
    timeout=24 * 3600,  # orders' chunks carry their own time limit; this is only Modal's outer bound
    scaledown_window=60,
    max_containers=int(os.environ.get("VANIKEYS_MODAL_MAX_CONTAINERS", "10")),
)
async def grind(job_input: dict[str, Any]) -> dict[str, Any]:
    return await run_job(job_input)
