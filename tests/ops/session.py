"""A scripted session through the real bot: a Stripe purchase by webhook, pulls delivered and refused, a failed
pull refunded, an order; the real app on a SQLite file, the real webhook server (with /metrics, opted in), the stripe
library against the loopback fake. Used by the metrics and the logs tests."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics
from bot.answers import ServiceError, UserRef
from bot.app import App, create_app
from bot.config import Settings
from bot.grinder import InProcessGrindingClient
from bot.grinding import GrindingError
from gpu_worker.job import GrindJob, GrindResult
from payments.checkout import CheckoutClient
from payments.webhook import RunningWebhook, webhook_server
from tests.bot.conftest import RecordingFrontEnd, small_settings
from tests.payments.fake_stripe import FakeStripe
from tests.payments.helpers import API_KEY, WEBHOOK_SECRET, post_event, settings_for
from tests.payments.stripe_events import completed_session, event_json

ALICE = UserRef("test", "alice", "Alice")
CAROL = UserRef("closed", "carol", "Carol")  # her DMs are closed
FAILING_PATTERN = "zz"


class FlakyProvider(InProcessGrindingClient):
    """A provider that fails every job for FAILING_PATTERN (the bot must refund it) and grinds the rest."""

    async def wait(self, job_id: str, job: GrindJob, on_progress=None) -> GrindResult:  # type: ignore[no-untyped-def]
        result = await super().wait(job_id, job, on_progress)
        if job.pattern == FAILING_PATTERN:
            raise GrindingError("failed", f"job {job_id} failed on the provider")
        return result


def configured_tokens() -> dict[str, str]:
    """Plausible, never-real tokens of every kind the bot can be configured with."""
    return {
        "discord_token": "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE." + secrets.token_urlsafe(27),
        "telegram_token": "7012345678:" + secrets.token_urlsafe(26),
        "runpod_api_key": "rpa_" + secrets.token_hex(20).upper(),
        "stripe_api_key": API_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "vault_key": secrets.token_hex(32),
    }


@dataclass
class Session:
    app: App
    hook: RunningWebhook
    fake: FakeStripe
    http: aiohttp.ClientSession
    test_fe: RecordingFrontEnd
    closed_fe: RecordingFrontEnd
    tokens: dict[str, str]
    job_ids: list[str] = field(default_factory=list)

    @property
    def metrics_url(self) -> str:
        return self.hook.url.rsplit("/stripe/", 1)[0] + "/metrics"

    async def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        async with self.http.get(self.metrics_url) as response:
            assert response.status == 200
            text = await response.text()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    async def run_script(self) -> None:
        """What happens, in order (the tests check exactly this happened, in metrics and in logs)."""
        service = self.app.service
        # 1. Alice buys 500 tokens; Stripe delivers the event twice; someone posts a forged one.
        answer = await service.topup(ALICE, "500")
        assert answer.url
        form = self.fake.created_sessions[-1]
        metadata = {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}
        intent, _ = self.fake.add_payment(metadata, 399)
        event = event_json(
            "checkout.session.completed",
            completed_session(answer.url.rsplit("/", 1)[1], metadata, 399, payment_intent=intent),
        )
        assert (await post_event(self.http, self.hook.url, event))[1]["applied"] == 1
        assert (await post_event(self.http, self.hook.url, event))[1]["applied"] == 0
        assert (await post_event(self.http, self.hook.url, event, secret="whsec_forged"))[0] == 400
        # 2. Two pulls delivered, one failing on the provider (refunded).
        for _ in range(2):
            self.job_ids.append((await service.pull(ALICE, None, "ab", allow_easy=True)).job_id)
        try:
            await service.pull(ALICE, None, FAILING_PATTERN, allow_easy=True)
        except ServiceError as exc:
            assert exc.code == "grind_failed"
        else:
            raise AssertionError("the failing provider's pull was not refused")
        # 3. Carol's DMs are closed: her pull is found, not delivered.
        await service.grant(CAROL, 5)
        self.job_ids.append((await service.pull(CAROL, None, "ab", allow_easy=True)).job_id)
        # 4. Alice orders an easy exact match; it is delivered when found.
        order = await service.order(ALICE, None, "^a", "eth")
        self.job_ids.append(order.order.order_id)
        await self.app.jobs.wait_idle()

    def delivered_secrets(self) -> list[str]:
        """Every secret value that went out privately (hex, WIF, JWK members)."""
        values: list[str] = []
        for _, delivery in self.test_fe.deliveries:
            for item in delivery.secrets:
                values.append(item.value)
                values.extend(v for k, v in (item.jwk or {}).items() if k in ("d",))
        return values


def session_settings(tmp_path: Path, tokens: dict[str, str]) -> Settings:
    # The chat tokens are configured (and must never be logged) though no chat platform is started here.
    return small_settings(tmp_path, **tokens)


@asynccontextmanager
async def scripted_session(tmp_path: Path, fake: FakeStripe, http: aiohttp.ClientSession) -> AsyncIterator[Session]:
    tokens = configured_tokens()
    stripe_settings = settings_for(fake)
    async with create_app(
        session_settings(tmp_path, tokens),
        checkout=CheckoutClient(stripe_settings),
        grinder=FlakyProvider("python"),
        resume_jobs=False,
    ) as app:
        test_fe, closed_fe = RecordingFrontEnd("test"), RecordingFrontEnd("closed", dms_open=False)
        app.service.register_frontend(test_fe)
        app.service.register_frontend(closed_fe)
        routes = metrics.webhook_routes(app, metrics.MetricsConfig(on_webhook=True), stripe_settings.webhook_host)
        try:
            async with webhook_server(stripe_settings, app.service.apply_instruction, **routes) as hook:
                yield Session(app, hook, fake, http, test_fe, closed_fe, tokens)
        finally:
            await app.service.checkout.close()  # type: ignore[union-attr]
