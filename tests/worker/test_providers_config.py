"""Which providers the environment configures (bot/grinding/providers.py): each provider module's builder,
the timings every remote client shares, and the outage limits that make failover work behind the router."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.grinding import OrderPolicy
from bot.grinding.modal_backend import ModalGrindingClient
from bot.grinding.providers import remote_providers
from bot.grinding.runpod_backend import RunpodGrindingClient

POLICY = OrderPolicy(chunk_seconds=5.0, initial_rate=1e6, max_parallel=2)
VAULT_KEY = bytes(range(32))
EVERY_PROVIDER = {
    "RUNPOD_API_KEY": "rpa_not_a_secret",
    "RUNPOD_ENDPOINT_ID": "pulls-endpoint",
    "RUNPOD_ORDERS_ENDPOINT_ID": "orders-endpoint",
    "VANIKEYS_SELFHOSTED_URL": "http://gpu-box:8000",
    "VANIKEYS_SELFHOSTED_TOKEN": "box-token",
    "VANIKEYS_SELFHOSTED_SLOTS": "2",
    "VANIKEYS_MODAL_APP": "vanikeys",
    "VANIKEYS_MODAL_USD_PER_S": "0.0002",
    "VANIKEYS_FIRST_POLL_S": "0.02",
    "VANIKEYS_PULL_QUEUE_LIMIT_S": "90",
}


def configure(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(dotenv_path=None)


async def test_every_configured_provider_is_built_with_the_shared_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    providers = remote_providers(configure(monkeypatch, EVERY_PROVIDER), VAULT_KEY, POLICY)
    try:
        assert [p.name for p in providers] == ["selfhosted", "runpod", "runpod-orders", "modal"]
        box, runpod, orders, modal = providers
        assert (box.slots, box.preferred, box.usd_per_gpu_s) == (2, True, 0.0)
        assert (runpod.kinds, orders.kinds, modal.usd_per_gpu_s, modal.max_in_flight) == (
            ("pull",),
            ("order",),
            0.0002,
            10,
        )
        clients = [p.client for p in providers]
        assert all(isinstance(c, RunpodGrindingClient) for c in clients[:3]) and isinstance(
            clients[3], ModalGrindingClient
        )
        for client in clients:  # Modal too: before the base it got only the pull limits
            assert isinstance(client, (RunpodGrindingClient, ModalGrindingClient))
            assert (client.first_poll_s, client.pull_queue_limit_s, client.order_policy) == (0.02, 90.0, POLICY)
            assert client.sealer.public_hex == clients[0].sealer.public_hex  # one key, derived from the vault's
        assert [c.backend for c in clients] == ["selfhosted", "runpod", "runpod-orders", "modal"]
        assert [c.outage_limit_s for c in clients] == [10.0, 300.0, 300.0, None]  # type: ignore[union-attr]
        assert [c.idempotent_submit for c in clients] == [True, False, False, False]  # type: ignore[union-attr]
    finally:
        for provider in providers:
            await provider.client.close()


async def test_runpod_alone_rides_out_an_outage_and_no_provider_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alone = {name: EVERY_PROVIDER[name] for name in ("RUNPOD_API_KEY", "RUNPOD_ENDPOINT_ID")}
    [runpod] = remote_providers(configure(monkeypatch, alone), VAULT_KEY, POLICY)
    assert isinstance(runpod.client, RunpodGrindingClient) and runpod.client.outage_limit_s is None
    assert runpod.kinds == ("pull", "order")
    await runpod.client.close()
    for name in alone:
        monkeypatch.delenv(name)
    with pytest.raises(ValueError, match="needs a provider"):
        remote_providers(Settings.from_env(dotenv_path=None), VAULT_KEY, POLICY)
