"""The bot's trust boundary for worker output: nothing reaches the service unless it re-derives and re-scores."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from gpu_worker.errors import VanikeysError
from gpu_worker.job import GrindJob, GrindResult
from gpu_worker.sealing import ResultSealer

from .model import GrindingError

log = logging.getLogger(__name__)


def verified_result(job: GrindJob, output: Any, *, source: str, sealer: ResultSealer | None = None) -> GrindResult:
    """Parse a worker's output for `job` and re-derive every hit; any doubt is a worker fault.

    `source` names the worker job in the log line (a backend job id), never the output itself.
    With a `sealer`, every secret must arrive sealed to it (gpu_worker/sealing.py) and is opened here.
    """
    from gpu_worker.verify import verify_hit

    try:
        result = output if isinstance(output, GrindResult) else GrindResult.model_validate(output)
    except ValidationError as err:
        raise _fault(source, "returned output that is not a grind result") from err
    if sealer is not None:
        try:
            result = sealer.open_result(result)
        except VanikeysError as err:
            raise _fault(source, f"returned a secret we cannot accept ({err.message})") from err
    if result.checked > job.budget * job.pulls:
        raise _fault(source, f"claims {result.checked} keys checked of a budget of {job.budget * job.pulls}")
    most_hits = job.pulls if job.pulls > 1 else job.top
    if len(result.results) > most_hits:
        raise _fault(source, f"returned {len(result.results)} hits for top={job.top}, pulls={job.pulls}")
    # Every backend's pull checks exactly its budget (GrindSession ends a stop="budget" session only
    # there; steps never pass it), and only whole pulls are returned, so the count is exact.
    if job.pulls > 1 and result.checked != job.budget * len(result.results):
        raise _fault(source, f"claims {result.checked} keys for {len(result.results)} whole pulls of {job.budget}")
    expected_kind = "offset" if job.split_pubkey else "private_key"
    for hit in result.results:
        if hit.secret_kind != expected_kind:
            raise _fault(source, f"returned a {hit.secret_kind} for a job that needs a {expected_kind}")
        try:
            verify_hit(job, hit)
        except VanikeysError as err:
            raise _fault(source, f"returned a hit that does not verify ({err.code}: {hit.identifier[:48]!r})") from err
    return result


def _fault(source: str, what: str) -> GrindingError:
    log.error("worker fault: %s %s", source, what)
    return GrindingError("worker_fault", f"the worker {what}; the job is treated as failed")
