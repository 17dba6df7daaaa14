"""What every remote provider does to a job before it leaves the bot: seal it to us, tag it, bound a pull."""

from __future__ import annotations

import secrets

from gpu_worker.job import GrindJob
from gpu_worker.sealing import ResultSealer


def job_to_send(job: GrindJob, sealer: ResultSealer, pull_time_limit_s: float) -> GrindJob:
    """Sealed to the bot's key, tagged (the bot's job id when the caller tagged it, plus this submission),
    and a pull held to the short pull time limit (a hung GPU bills a minute, not an hour)."""
    tag = f"{job.tag}-{secrets.token_hex(6)}" if job.tag else secrets.token_hex(8)
    update: dict[str, object] = {"seal_to": sealer.public_hex, "tag": tag}
    if job.stop == "budget":
        update["time_limit_s"] = min(job.time_limit_s, pull_time_limit_s)
    return job.model_copy(update=update)
