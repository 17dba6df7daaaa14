"""`python -m gpu_worker.health`: the worker image's HEALTHCHECK. Exit 0 when the grinder answers a tiny job.

On the self-hosted box (VANIKEYS_SELFHOSTED_TOKEN set) the job goes to the running server itself
(POST /v2/selfhosted/runsync on 127.0.0.1:VANIKEYS_SELFHOSTED_PORT, default 8000), so the check sees
what the bot sees: the server up, the token accepted, the backend loaded and grinding. Elsewhere (a
RunPod worker: RunPod reads its own fitness check, this serves `docker run` and compose) the backend is
loaded here and grinds the job in this process. Either way the answer is re-derived and verified
(grinders re-score every hit) before it counts.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from .selfhosted import ENDPOINT_ID
from .settings import ConfigError, load_worker_settings

TINY_JOB: dict[str, Any] = {"v": 1, "format": "btc", "pattern": "a", "budget": 256, "top": 1, "time_limit_s": 20}


def _answer_is_good(answer: Any) -> str | None:
    """None when `answer` is a finished grind of TINY_JOB, else what is wrong."""
    if not isinstance(answer, dict):
        return f"not a grind result: {str(answer)[:200]}"
    if "error" in answer:
        return f"the grinder answered an error: {str(answer['error'])[:200]}"
    if answer.get("checked") != TINY_JOB["budget"] or len(answer.get("results") or []) != TINY_JOB["top"]:
        return f"the grinder checked {answer.get('checked')} of {TINY_JOB['budget']} keys"
    return None


def check_box(token: str, port: int) -> str | None:
    """Ask the self-hosted box on this machine to grind a tiny job; None if it answered a good result, else what went
    wrong.
    """
    url = f"http://127.0.0.1:{port}/v2/{ENDPOINT_ID}/runsync?wait=25000"
    request = urllib.request.Request(
        url,
        data=json.dumps({"input": TINY_JOB}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return f"{url}: HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"{url}: {exc}"
    if body.get("status") != "COMPLETED":
        return f"the box answered {body.get('status')}: {body.get('error', '')}"
    return _answer_is_good(body.get("output"))


def check_here() -> str | None:
    """Grind a tiny job with this process's grinder; None if the result verifies, else one line saying why not."""
    from .handler import handle_input, load_backend

    try:
        answer = asyncio.run(handle_input(dict(TINY_JOB), load_backend()))
    except Exception as exc:  # a backend that cannot load is exactly what this reports
        return f"the grinder did not load: {type(exc).__name__}: {exc}"
    return _answer_is_good(answer)


def main() -> int:
    """The container's health check: print healthy/unhealthy with the reason; exit code 0 when healthy, 1 otherwise."""
    try:
        worker = load_worker_settings()
    except ConfigError as exc:  # a setting the grinder needs is unusable: the grinder cannot load
        print(f"unhealthy: the grinder did not load: {exc}")
        return 1
    token = worker.selfhosted_token or ""
    if token:
        problem = check_box(token, worker.selfhosted_port)
        where = "the self-hosted box"
    else:
        problem = check_here()
        where = "the grinder"
    print(f"unhealthy: {problem}" if problem else f"healthy: {where} answered a {TINY_JOB['budget']}-key job")
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
