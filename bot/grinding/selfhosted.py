"""The `selfhosted` provider: `python -m gpu_worker.selfhosted` on a GPU box of your own, speaking RunPod's job API.

Its client is RunPod's (runpod_backend.py); what differs is set here: its /run dedups by tag (an
unconfirmed submit is sent again), and a box that stops answering loses its jobs to another
provider within OUTAGE_S, with short requests and few retries so a dead box is noticed in seconds,
not after RunPod-sized backoffs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .router import Provider
from .runpod_api import RetryPolicy, RunpodApi
from .runpod_backend import RunpodGrindingClient

if TYPE_CHECKING:
    from .remote import ProviderBuild

OUTAGE_S = 10.0  # a self-hosted box silent this long loses its jobs to another provider


def configured(build: ProviderBuild) -> list[Provider]:
    """The box at VANIKEYS_SELFHOSTED_URL: preferred while it has a free slot (its GPU is paid for anyway)."""
    env = build.env
    url = env.selfhosted_url or ""
    if not url:
        return []
    api = RunpodApi(
        env.selfhosted_token or "",
        "selfhosted",
        base_url=url.rstrip("/") + "/v2",
        request_timeout_s=3.0,
        retry=RetryPolicy(attempts=2, base_delay_s=0.2, max_delay_s=1.0),
    )
    client = RunpodGrindingClient(
        api, **build.client_settings(name="selfhosted", idempotent_submit=True, outage_limit_s=OUTAGE_S)
    )
    return [
        Provider(
            "selfhosted",
            client,
            env.selfhosted_usd_per_s,
            slots=env.selfhosted_slots,
            preferred=True,
            health=client.health,
        )
    ]
