"""/metrics after a scripted session: every counter moved by exactly what happened."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from bot import metrics
from bot.config import ConfigError
from bot.frontends.discord.cooldowns import Cooldowns as DiscordCooldowns
from bot.frontends.telegram.cooldown import Cooldowns as TelegramCooldowns
from tests.ops.session import scripted_session
from tests.payments.fake_stripe import FakeStripe


def labels(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(values.items()))


def delta(before: dict, after: dict, name: str, **values: str) -> float:
    key = (name, labels(**values))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_counters_move_by_exactly_what_the_session_did(
    tmp_path: Path, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    async with scripted_session(tmp_path, fake_stripe, http) as session:
        before = await session.scrape()
        await session.run_script()
        after = await session.scrape()
        db = session.app.db
        rows = await db.fetchall("SELECT job_id, kind, status, keys_checked, elapsed_s, result FROM jobs")
        balances = await db.fetchone("SELECT SUM(balance) AS tokens, SUM(debt) AS debt FROM accounts")

    jobs = "vanikeys_jobs_total"
    assert delta(before, after, jobs, kind="pull", format="btc", outcome="accepted") == 4
    assert delta(before, after, jobs, kind="pull", format="btc", outcome="found") == 3
    assert delta(before, after, jobs, kind="pull", format="btc", outcome="delivered") == 2
    assert delta(before, after, jobs, kind="pull", format="btc", outcome="undelivered") == 1
    assert delta(before, after, jobs, kind="pull", format="btc", outcome="failed") == 1
    assert delta(before, after, jobs, kind="pull", format="btc", outcome="refunded") == 1
    assert delta(before, after, jobs, kind="order", format="eth", outcome="accepted") == 1
    assert delta(before, after, jobs, kind="order", format="eth", outcome="delivered") == 1
    assert delta(before, after, jobs, kind="order", format="eth", outcome="refunded") == 0
    assert delta(before, after, "vanikeys_refunds_total", kind="pull", reason="failed") == 1

    assert delta(before, after, "vanikeys_deliveries_total", platform="test", outcome="sent") == 3
    assert delta(before, after, "vanikeys_deliveries_total", platform="closed", outcome="refused") == 1
    assert delta(before, after, "vanikeys_job_latency_seconds_count", kind="pull") == 2
    assert delta(before, after, "vanikeys_job_latency_seconds_count", kind="order") == 1

    found = [r for r in rows if r["status"] in ("found", "delivered")]
    assert len(found) == 4
    assert delta(before, after, "vanikeys_keys_ground_total", provider="python") == sum(
        r["keys_checked"] for r in found
    )
    assert delta(before, after, "vanikeys_grind_seconds_total", provider="python") == pytest.approx(
        sum(r["elapsed_s"] for r in found)
    )
    # every wait on the provider that came back (3 pulls found, the order) had its round trip timed
    assert delta(before, after, "vanikeys_provider_round_trip_seconds_count", provider="python", kind="pull") == 3
    assert delta(before, after, "vanikeys_provider_round_trip_seconds_count", provider="python", kind="order") == 1
    assert delta(before, after, "vanikeys_provider_queue_wait_seconds_count", provider="python", kind="pull") >= 3

    events = "vanikeys_webhook_events_total"
    assert delta(before, after, events, type="checkout.session.completed", outcome="applied") == 1
    assert delta(before, after, events, type="checkout.session.completed", outcome="replayed") == 1
    assert delta(before, after, events, type="unverified", outcome="refused") == 1

    # gauges describe the database as it is
    assert after[("vanikeys_tokens_outstanding", ())] == balances["tokens"]
    assert after[("vanikeys_debt_tokens", ())] == balances["debt"] == 0
    assert after[("vanikeys_undelivered_jobs", ())] == 1  # Carol's
    assert after[("vanikeys_jobs_in_flight", labels(kind="pull", status="found"))] == 1
    assert after[("vanikeys_jobs_in_flight", labels(kind="pull", status="running"))] == 0


def test_cooldown_refusals_are_counted_per_platform() -> None:
    def value(platform: str, action: str) -> float:
        return (
            metrics.REGISTRY.get_sample_value(
                "vanikeys_rate_limit_waits_total", {"platform": platform, "action": action}
            )
            or 0.0
        )

    discord_before, telegram_before = value("discord", "pull"), value("telegram", "paid")
    discord = DiscordCooldowns({"pull": 60.0})
    assert discord.wait_left("pull", 1) == 0 and discord.wait_left("pull", 1) > 0 and discord.wait_left("pull", 1) > 0
    telegram = TelegramCooldowns(60.0)
    assert telegram.wait_left("7") == 0 and telegram.wait_left("7") > 0
    assert value("discord", "pull") - discord_before == 2
    assert value("telegram", "paid") - telegram_before == 1


def test_metrics_stay_off_the_webhook_and_public_interfaces_unless_the_operator_says_so() -> None:
    auto = metrics.MetricsConfig.from_env({})
    assert not auto.serves_on_webhook() and auto.port is None
    opted = metrics.MetricsConfig.from_env({"VANIKEYS_METRICS_ON_WEBHOOK": "yes"})
    assert opted.serves_on_webhook()
    assert not metrics.MetricsConfig.from_env(
        {"VANIKEYS_METRICS": "off", "VANIKEYS_METRICS_ON_WEBHOOK": "1"}
    ).serves_on_webhook()
    assert not metrics.MetricsConfig.from_env({"VANIKEYS_METRICS": "on"}).serves_on_webhook()
    with pytest.raises(ConfigError, match="VANIKEYS_METRICS=on"):
        metrics.MetricsConfig.from_env({"VANIKEYS_METRICS_HOST": "0.0.0.0", "VANIKEYS_METRICS_PORT": "9100"})
    allowed = metrics.MetricsConfig.from_env(
        {"VANIKEYS_METRICS": "on", "VANIKEYS_METRICS_HOST": "0.0.0.0", "VANIKEYS_METRICS_PORT": "9100"}
    )
    assert (allowed.host, allowed.port) == ("0.0.0.0", 9100)
    for bad, says in (
        ({"VANIKEYS_METRICS": "yes"}, "VANIKEYS_METRICS="),
        ({"VANIKEYS_METRICS_PORT": "http"}, "PORT"),
        ({"VANIKEYS_METRICS_ON_WEBHOOK": "maybe"}, "VANIKEYS_METRICS_ON_WEBHOOK"),
    ):
        with pytest.raises(ConfigError, match=says):
            metrics.MetricsConfig.from_env(bad)


@pytest.mark.parametrize("webhook_host", ["127.0.0.1", "0.0.0.0"])
async def test_the_webhook_port_never_serves_metrics_by_default(
    webhook_host: str, tmp_path: Path, fake_stripe: FakeStripe, http: aiohttp.ClientSession
) -> None:
    """A same-host reverse proxy forwarding every path to a loopback webhook would make it public."""
    from payments.webhook import webhook_server
    from tests.payments.helpers import settings_for

    stripe_settings = settings_for(fake_stripe, VANIKEYS_WEBHOOK_HOST=webhook_host)
    async with scripted_session(tmp_path, fake_stripe, http) as session:
        for config, status in (
            (metrics.MetricsConfig.from_env({}), 404),
            (metrics.MetricsConfig.from_env({"VANIKEYS_METRICS_ON_WEBHOOK": "yes"}), 200),
        ):
            routes = metrics.webhook_routes(session.app, config, webhook_host)
            assert routes["observe"] is metrics.webhook_event
            async with webhook_server(stripe_settings, session.app.service.apply_instruction, **routes) as hook:
                async with http.get(f"http://127.0.0.1:{hook.port}/metrics") as response:
                    assert response.status == status
        # the metrics-only listener, on loopback
        async with metrics.metrics_server(session.app, metrics.MetricsConfig(port=0)) as port:
            assert port
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                assert "vanikeys_tokens_outstanding" in await response.text()
        async with metrics.metrics_server(session.app, metrics.MetricsConfig(mode="off", port=0)) as port:
            assert port is None


async def test_provider_health_gauges_from_the_runpod_endpoint() -> None:
    from bot.grinding import make_client
    from tests.worker.conftest import API_KEY, ENDPOINT_ID, FAST_RETRY
    from tests.worker.runpod_emulator import RunpodEmulator

    def gauge(name: str, **labels: str) -> float | None:
        return metrics.REGISTRY.get_sample_value(name, labels)

    emulator = RunpodEmulator(api_key=API_KEY, endpoint_id=ENDPOINT_ID, backend=None)
    await emulator.start()
    client = make_client(
        "runpod", api_key=API_KEY, endpoint_id=ENDPOINT_ID, base_url=emulator.base_url, retry=FAST_RETRY
    )
    try:
        await metrics.refresh_provider_gauges(client)
        assert gauge("vanikeys_provider_health_up", provider="runpod") == 1
        assert gauge("vanikeys_provider_workers", provider="runpod", state="idle") == 1
        assert gauge("vanikeys_provider_jobs", provider="runpod", state="in_queue") == 0
        await emulator.stop()
        await metrics.refresh_provider_gauges(client)  # the endpoint is gone: the gauge says so, the scrape goes on
        assert gauge("vanikeys_provider_health_up", provider="runpod") == 0
    finally:
        await client.close()


async def test_provider_jobs_gpu_seconds_and_cost_from_the_routers_usage(tmp_path: Path) -> None:
    from bot.costs import UsageLog
    from bot.grinding.router import Usage
    from bot.storage import open_database

    def value(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    before = (
        value("vanikeys_provider_job_results_total", provider="modal", kind="order", outcome="completed"),
        value("vanikeys_provider_gpu_seconds_total", provider="modal", kind="order"),
        value("vanikeys_provider_cost_usd_total", provider="modal", kind="order"),
        value("vanikeys_provider_job_results_total", provider="modal", kind="order", outcome="timed_out"),
    )
    db = await open_database(tmp_path / "usage.db")
    try:
        log = UsageLog(db)
        await log.record(Usage("modal", "m-1", "job1-0", "order", 1, 30.0, 0.0125, "completed"))
        await log.record(Usage("modal", "m-2", "job1-1", "order", 1, 12.5, 0.005, "timed_out"))
        assert (await db.fetchone("SELECT COUNT(*) AS n FROM grind_usage"))["n"] == 2
    finally:
        await db.close()
    after = (
        value("vanikeys_provider_job_results_total", provider="modal", kind="order", outcome="completed"),
        value("vanikeys_provider_gpu_seconds_total", provider="modal", kind="order"),
        value("vanikeys_provider_cost_usd_total", provider="modal", kind="order"),
        value("vanikeys_provider_job_results_total", provider="modal", kind="order", outcome="timed_out"),
    )
    assert [a - b for a, b in zip(after, before, strict=False)] == pytest.approx([1, 42.5, 0.0175, 1])
