"""The GPU providers the environment configures (docs/providers.md), for the router: one builder per provider.

Each provider module has a `configured(build)` that returns the providers its settings ask for (none
when they ask for none): its client, a RemoteProvider subclass given `build.remote` (the order
policy, the sealer and the timings every remote client shares), and its price per GPU-second.
Adding a provider is its module, its settings in bot/settings.py, and its builder in `builders()`.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.config import Settings
from bot.settings import load_settings
from gpu_worker.sealing import ResultSealer

from .model import OrderPolicy
from .remote import ProviderBuild, RemoteSettings
from .router import Provider

Builder = Callable[[ProviderBuild], list[Provider]]


def builders() -> tuple[Builder, ...]:
    """In the order the router lists them. Imported here: RunPod's client pulls in aiohttp, which a bot on
    the local grinder never needs at start."""
    from . import modal_backend, runpod_backend, selfhosted

    return (selfhosted.configured, runpod_backend.configured, modal_backend.configured)


def remote_providers(settings: Settings, vault_key: bytes, policy: OrderPolicy) -> list[Provider]:
    """Every configured provider; ValueError (saying what to set) when none is."""
    env = load_settings()
    remote: RemoteSettings = {
        "order_policy": policy,
        "sealer": ResultSealer.from_vault_key(vault_key),
        "pull_time_limit_s": env.pull_time_limit_s,
        "pull_queue_limit_s": env.pull_queue_limit_s,
        "first_poll_s": env.first_poll_s,
        "poll_interval_s": env.poll_interval_s,
        "downtime_allowance_s": env.downtime_allowance_s,
    }
    build = ProviderBuild(settings, env, remote)
    providers = [provider for configured in builders() for provider in configured(build)]
    if not providers:
        raise ValueError(
            "VANIKEYS_BACKEND=runpod needs a provider: RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID, "
            "VANIKEYS_SELFHOSTED_URL, or VANIKEYS_MODAL_APP (docs/providers.md)"
        )
    return providers
