"""Build the whole bot from Settings: `async with create_app(settings) as app: app.service ...`.

Every front end and every test goes through here, so there is one way to
wire storage, ledger, vault, grinder, jobs and the service together, and
the one place the jobs' step subscribers (log lines, metrics) are wired.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.config import Settings
from bot.costs import UsageLog
from bot.delivery import Delivery
from bot.fair_share import FairShare
from bot.grinder import grind_slots, make_grinder
from bot.grinding import GrindingClient
from bot.grinding.router import RouterGrindingClient
from bot.health import Health, heartbeat_file
from bot.job_events import JobEvents
from bot.job_log import JobLog
from bot.jobs import Jobs
from bot.key_hygiene import warn_if_committable
from bot.ledger import Ledger
from bot.metrics import JobMetrics
from bot.ports import CheckoutProvider
from bot.service import Service
from bot.storage import Database, StorageUnavailable, open_database
from bot.vault import Vault, guard_key, parse_vault_key

log = logging.getLogger(__name__)


@dataclass
class App:
    """The bot's assembled parts, sharing one database; front ends reach everything through `service`."""

    settings: Settings
    db: Database
    ledger: Ledger
    vault: Vault
    jobs: Jobs
    grinder: GrindingClient
    service: Service
    health: Health  # front ends watch themselves here; `python -m bot.health` reads the heartbeat
    # Platforms whose start-up check (bot/startup.py) already passed in this start: `vanikeys bot` reaches
    # Telegram while storage opens, and the front end then does not ask again.
    reached: set[str] = field(default_factory=set)


def make_checkout(settings: Settings) -> CheckoutProvider | None:
    """payments' Checkout client when Stripe is configured, else None (/topup says so)."""
    if not settings.stripe_configured:
        return None
    from payments.checkout import CheckoutClient
    from payments.config import StripeSettings

    stripe_settings = StripeSettings.from_env()
    return None if stripe_settings is None else CheckoutClient(stripe_settings)


PURGE_INTERVAL_S = 600.0
PRUNE_INTERVAL_S = 3600.0


async def _maintain_forever(vault: Vault, jobs: Jobs, lease_s: float) -> None:
    """While the bot runs: renew leases and take over dead peers' jobs (every third of a lease), purge
    delivered secrets after their grace period, prune old settled jobs. A storage fault skips a round."""
    sweep_every = max(0.2, lease_s / 3)
    purge_every = min(PURGE_INTERVAL_S, max(1.0, vault.grace_s))
    purged = pruned = time.monotonic()
    while True:
        await asyncio.sleep(sweep_every)
        try:
            await jobs.sweep()
            if time.monotonic() - purged >= purge_every:
                purged = time.monotonic()
                await vault.purge()
            if time.monotonic() - pruned >= PRUNE_INTERVAL_S:
                pruned = time.monotonic()
                await jobs.prune()
        except StorageUnavailable as exc:  # the store logged the episode (bot/logs.py): one line, not one a round
            log.debug("maintenance skipped: storage unavailable (%s)", exc.why)
        except Exception as exc:  # never let one bad round stop takeovers and purges for good
            log.error("maintenance round failed: %s: %s", type(exc).__name__, exc)


@asynccontextmanager
async def create_app(
    settings: Settings | None = None,
    *,
    checkout: CheckoutProvider | None = None,
    grinder: GrindingClient | None = None,
    resume_jobs: bool = True,
) -> AsyncIterator[App]:
    """Open the database (migrating it), the vault, the grinder and the service.

    settings: None means Settings.from_env(). checkout: the /topup provider
    (None: built from settings when Stripe is configured). grinder: None builds
    the one VANIKEYS_BACKEND names. resume_jobs: pick up every unfinished job
    on entry. On exit, running jobs stop where they stand and resume on the next start.
    """
    settings = settings or Settings.from_env()
    configured_key = parse_vault_key(settings.vault_key) if settings.vault_key else None
    db = await open_database(settings.database, connect_timeout_s=settings.db_connect_timeout_s)
    try:
        key = await guard_key(db, configured=configured_key, key_file=settings.resolved_vault_key_file)
    except BaseException:
        await db.close()
        raise
    if configured_key is None:
        warn_if_committable(settings.resolved_vault_key_file)
    owned_checkout = checkout is None
    checkout = checkout if checkout is not None else make_checkout(settings)
    owned_grinder = grinder is None
    grinder = grinder if grinder is not None else make_grinder(settings, key)
    if isinstance(grinder, RouterGrindingClient) and grinder.usage is None:
        grinder.usage = UsageLog(db)  # each provider job's GPU-seconds and cost (vanikeys costs)
    jobs: Jobs | None = None
    purging: asyncio.Task[None] | None = None
    health_check: asyncio.Task[None] | None = None
    heartbeat: asyncio.Task[None] | None = None
    health = Health(db, heartbeat_file(settings.database))
    for name, token in (("discord", settings.discord_token), ("telegram", settings.telegram_token)):
        if token:
            health.expect(name)
    try:
        ledger = Ledger(
            db, free_pulls_per_day=settings.free_pulls_per_day, daily_spend_limit=settings.daily_spend_limit
        )
        vault = Vault(db, key, grace_s=settings.vault_grace_s)
        jobs = Jobs(db, ledger, vault, grinder, settings, events=JobEvents(JobLog(), JobMetrics()))
        delivery = Delivery()
        service = Service(settings, db, ledger, jobs, delivery, checkout, fair_share=FairShare(grind_slots(settings)))
        await vault.purge()
        await jobs.prune()
        if resume_jobs:
            await jobs.resume_all()
            purging = asyncio.get_running_loop().create_task(
                _maintain_forever(vault, jobs, settings.job_lease_s), name="maintenance"
            )
            if isinstance(grinder, RouterGrindingClient):  # warns (in the log) when an endpoint has no workers
                health_check = asyncio.get_running_loop().create_task(grinder.check_health(), name="health check")
            heartbeat = asyncio.get_running_loop().create_task(health.beat_forever(), name="heartbeat")
        yield App(settings, db, ledger, vault, jobs, grinder, service, health)
    finally:
        for task in (purging, health_check, heartbeat):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if jobs is not None:
            await jobs.close()
        if owned_grinder:
            await grinder.close()
        if owned_checkout and checkout is not None and hasattr(checkout, "close"):
            await checkout.close()
        await db.close()
        await asyncio.sleep(0)
