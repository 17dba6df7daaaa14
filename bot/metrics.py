"""Prometheus metrics: one registry, every metric, and the small functions the rest of the code calls.

Counters and histograms move where things happen (jobs, deliveries, the
webhook, front-end cooldowns); the gauges that describe the whole database
(tokens outstanding, debt, jobs in flight, undelivered keys) and the
provider's health are read at scrape time, so they are right whichever
process changed them. docs/operations.md lists every metric and the alerts.

Where /metrics is served (`MetricsConfig.from_env`):
  VANIKEYS_METRICS       auto (default) | on | off
  VANIKEYS_METRICS_HOST  127.0.0.1 (default), VANIKEYS_METRICS_PORT: a listener of its own
On the webhook's server /metrics is mounted when the webhook listens on a
loopback address, or anywhere when VANIKEYS_METRICS=on: a public interface
gets it only when the operator says so.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.config import ConfigError
from bot.serving import serving
from gpu_worker.i18n import N_
from gpu_worker.localized import phrase

if TYPE_CHECKING:
    from aiohttp import web

    from bot.job_records import JobRecord
    from bot.storage import Database

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600)
_PROVIDER_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

JOBS = Counter(
    "vanikeys_jobs_total",
    "Pulls and orders reaching a step: accepted (paid), found, delivered, "
    "undelivered (DM refused: the key waits for /keys), failed, refunded",
    ["kind", "format", "outcome"],
    registry=REGISTRY,
)
REFUNDS = Counter(
    "vanikeys_refunds_total",
    "Jobs that failed and are refunded, by failure reason (a grinding error code, verification_failed, grinder_error)",
    ["kind", "reason"],
    registry=REGISTRY,
)
JOB_LATENCY = Histogram(
    "vanikeys_job_latency_seconds",
    "From accepted (paid) to the key delivered privately",
    ["kind"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
PROVIDER_ROUND_TRIP = Histogram(
    "vanikeys_provider_round_trip_seconds",
    "From waiting on a provider's job to its verified result (a pull's jobs; an order's whole run)",
    ["provider", "kind"],
    buckets=_PROVIDER_BUCKETS,
    registry=REGISTRY,
)
PROVIDER_QUEUE_WAIT = Histogram(
    "vanikeys_provider_queue_wait_seconds",
    "From waiting on a provider's job to its first progress report (queueing and cold starts)",
    ["provider", "kind"],
    buckets=_PROVIDER_BUCKETS,
    registry=REGISTRY,
)
KEYS_GROUND = Counter(
    "vanikeys_keys_ground_total",
    "Keys checked by jobs that found their result, by the grinding "
    "client that ran them (local, runpod, router, python ...)",
    ["provider"],
    registry=REGISTRY,
)
GRIND_SECONDS = Counter(
    "vanikeys_grind_seconds_total",
    "Grinding time (GPU-seconds on GPU providers) reported by jobs that found their result, by provider",
    ["provider"],
    registry=REGISTRY,
)
PROVIDER_JOBS_DONE = Counter(
    "vanikeys_provider_job_results_total",
    "Provider jobs the router collected, by outcome (completed, or a grinding error code)",
    ["provider", "kind", "outcome"],
    registry=REGISTRY,
)
PROVIDER_GPU_SECONDS = Counter(
    "vanikeys_provider_gpu_seconds_total",
    "GPU-seconds of the provider jobs the router collected (failed ones included)",
    ["provider", "kind"],
    registry=REGISTRY,
)
PROVIDER_COST = Counter(
    "vanikeys_provider_cost_usd_total",
    "What the provider jobs the router collected cost, in US dollars at the configured rates",
    ["provider", "kind"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "vanikeys_deliveries_total",
    "Private deliveries of found keys: sent, refused (DMs closed or the "
    "platform failed: the key stays in the vault), no_frontend (offered again later)",
    ["platform", "outcome"],
    registry=REGISTRY,
)
WEBHOOK_EVENTS = Counter(
    "vanikeys_webhook_events_total",
    "Stripe webhook requests by event type and outcome "
    "(applied, replayed, ignored, not_credited, refused, failed, retry)",
    ["type", "outcome"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "vanikeys_rate_limit_waits_total",
    "Commands a front end refused because the user's cooldown had not passed",
    ["platform", "action"],
    registry=REGISTRY,
)

TOKENS_OUTSTANDING = Gauge(
    "vanikeys_tokens_outstanding", "Sum of every account's balance (tokens owed to users)", registry=REGISTRY
)
DEBT = Gauge(
    "vanikeys_debt_tokens", "Sum of every account's debt (clawbacks a balance could not cover)", registry=REGISTRY
)
FROZEN_ACCOUNTS = Gauge(
    "vanikeys_frozen_accounts", "Accounts that cannot pull or order (debt or an operator's freeze)", registry=REGISTRY
)
JOBS_IN_FLIGHT = Gauge(
    "vanikeys_jobs_in_flight", "Jobs not yet settled, by kind and status", ["kind", "status"], registry=REGISTRY
)
UNDELIVERED_KEYS = Gauge(
    "vanikeys_undelivered_jobs", "Found jobs whose key has not reached its owner", registry=REGISTRY
)
PROVIDER_UP = Gauge(
    "vanikeys_provider_health_up",
    "1 when the provider's health endpoint answered at the last scrape",
    ["provider"],
    registry=REGISTRY,
)
PROVIDER_WORKERS = Gauge(
    "vanikeys_provider_workers",
    "Provider workers by state (RunPod: idle, running)",
    ["provider", "state"],
    registry=REGISTRY,
)
PROVIDER_JOBS = Gauge(
    "vanikeys_provider_jobs",
    "Provider jobs by state (RunPod: in_queue, in_progress)",
    ["provider", "state"],
    registry=REGISTRY,
)

ACTIVE_STATUSES = ("accepted", "submitted", "running", "found", "failed")
COUNTED_STEPS = ("accepted", "found", "delivered", "undelivered", "failed", "refunded")


# --- the calls the rest of the code makes ------------------------------------------------


def job_step(
    step: str, record: JobRecord, *, now: float | None = None, keys_checked: int = 0, grind_s: float = 0.0
) -> None:
    """A job reached `step` (accepted, found, delivered, undelivered, refunded, delivery_deferred)."""
    kind, fmt = record.spec.kind, record.spec.format_id
    if step == "delivery_deferred":
        DELIVERIES.labels(record.spec.user.platform, "no_frontend").inc()
        return
    if step in COUNTED_STEPS:
        JOBS.labels(kind, fmt, step).inc()
    if step == "found":
        KEYS_GROUND.labels(record.backend or "unknown").inc(max(0, keys_checked))
        GRIND_SECONDS.labels(record.backend or "unknown").inc(max(0.0, grind_s))
    elif step == "delivered":
        DELIVERIES.labels(record.spec.user.platform, "sent").inc()
        JOB_LATENCY.labels(kind).observe(max(0.0, (now or time.time()) - record.created_at))
    elif step == "undelivered":
        DELIVERIES.labels(record.spec.user.platform, "refused").inc()


def job_failed(record: JobRecord, reason: str) -> None:
    """Count a failed job's refund under its kind and `reason` ("unknown" when empty)."""
    REFUNDS.labels(record.spec.kind, reason or "unknown").inc()


class JobMetrics:
    """The jobs' events as metrics: a subscriber to bot/job_events.py, wired in bot/app.py."""

    def job_step(self, step: str, record: JobRecord, fields: Mapping[str, Any]) -> None:
        """StepSubscriber.job_step: count the step (keys and seconds ground on found, the latency on delivered)."""
        job_step(
            step,
            record,
            keys_checked=int(fields.get("keys_checked", 0) or 0),
            grind_s=float(fields.get("grind_s", 0.0) or 0.0),
        )

    def job_failed(self, record: JobRecord, reason: str) -> None:
        """StepSubscriber.job_failed: count the refund by reason."""
        job_failed(record, reason)

    def provider_waited(
        self, provider: str, kind: str, *, round_trip_s: float | None = None, queue_wait_s: float | None = None
    ) -> None:
        """StepSubscriber.provider_waited: observe whichever of the two waits is given."""
        provider_waited(provider, kind, round_trip_s=round_trip_s, queue_wait_s=queue_wait_s)


def provider_waited(
    provider: str, kind: str, *, round_trip_s: float | None = None, queue_wait_s: float | None = None
) -> None:
    """Observe one wait on a provider: the round trip and/or the queue wait, whichever is not None (negatives as 0)."""
    if round_trip_s is not None:
        PROVIDER_ROUND_TRIP.labels(provider, kind).observe(max(0.0, round_trip_s))
    if queue_wait_s is not None:
        PROVIDER_QUEUE_WAIT.labels(provider, kind).observe(max(0.0, queue_wait_s))


def provider_usage(usage: Any) -> None:
    """One provider job collected by the router (bot.grinding.router.Usage)."""
    PROVIDER_JOBS_DONE.labels(usage.provider, usage.kind, usage.outcome).inc()
    PROVIDER_GPU_SECONDS.labels(usage.provider, usage.kind).inc(max(0.0, usage.gpu_s))
    PROVIDER_COST.labels(usage.provider, usage.kind).inc(max(0.0, usage.cost_usd))


def webhook_event(event_type: str, outcome: str) -> None:
    """Count one Stripe webhook request by event type (cut to 64 characters) and outcome."""
    WEBHOOK_EVENTS.labels(event_type[:64], outcome).inc()


def rate_limited(platform: str, action: str) -> None:
    """Count one command a front end refused because the user's cooldown had not passed."""
    RATE_LIMITED.labels(platform, action).inc()


# --- scrape-time gauges -----------------------------------------------------------------------


async def refresh_database_gauges(db: Database) -> None:
    """Set the gauges read from the database: tokens and debt, frozen accounts, jobs in flight, undelivered keys.

    Storage errors propagate (the scrape fails).
    """
    totals = await db.fetchone(
        "SELECT COALESCE(SUM(balance), 0) AS tokens, COALESCE(SUM(debt), 0) AS debt FROM accounts"
    )
    TOKENS_OUTSTANDING.set(totals["tokens"] if totals else 0)
    DEBT.set(totals["debt"] if totals else 0)
    frozen = await db.fetchone(
        "SELECT COUNT(*) AS n FROM accounts a WHERE a.debt > 0 OR EXISTS (SELECT 1 FROM account_holds h "
        "WHERE h.platform = a.platform AND h.user_id = a.user_id)"
    )
    FROZEN_ACCOUNTS.set(frozen["n"] if frozen else 0)
    marks = ",".join("?" * len(ACTIVE_STATUSES))
    rows = await db.fetchall(
        f"SELECT kind, status, COUNT(*) AS n FROM jobs WHERE status IN ({marks}) GROUP BY kind, status", ACTIVE_STATUSES
    )
    JOBS_IN_FLIGHT.clear()
    for kind in ("pull", "order"):
        for status in ACTIVE_STATUSES:
            JOBS_IN_FLIGHT.labels(kind, status).set(0)
    for row in rows:
        JOBS_IN_FLIGHT.labels(row["kind"], row["status"]).set(row["n"])
    found = await db.fetchone("SELECT COUNT(*) AS n FROM jobs WHERE status = 'found'")
    UNDELIVERED_KEYS.set(found["n"] if found else 0)


HEALTH_TIMEOUT_S = 3.0


async def refresh_provider_gauges(grinder: Any) -> None:
    """Providers with a health check (RunPod's GET /health): workers and queue, or up=0 when it does not answer."""
    health = getattr(grinder, "health", None)
    if health is None:
        return
    provider = str(getattr(grinder, "backend", "provider"))
    try:
        state = await asyncio.wait_for(health(), HEALTH_TIMEOUT_S)
    except Exception as exc:  # unreachable, slow or refusing: that is what the gauge reports
        log.warning("provider %s health check failed: %s", provider, type(exc).__name__)
        PROVIDER_UP.labels(provider).set(0)
        return
    PROVIDER_UP.labels(provider).set(1)
    PROVIDER_WORKERS.labels(provider, "idle").set(state.workers_idle)
    PROVIDER_WORKERS.labels(provider, "running").set(state.workers_running)
    PROVIDER_JOBS.labels(provider, "in_queue").set(state.jobs_in_queue)
    PROVIDER_JOBS.labels(provider, "in_progress").set(state.jobs_in_progress)


async def scrape(db: Database, grinder: Any = None) -> bytes:
    """The exposition text, gauges refreshed first."""
    await refresh_database_gauges(db)
    if grinder is not None:
        await refresh_provider_gauges(grinder)
    return generate_latest(REGISTRY)


class Scraped(Protocol):
    """What a scrape reads (bot.app.App is one): the database, and the grinder for its provider's health."""

    @property
    def db(self) -> Database:
        """The database the gauges count from."""
        ...

    @property
    def grinder(self) -> Any:
        """The grinding client; its provider's health is read when it has a `health` coroutine."""
        ...


def metrics_handler(app: Scraped) -> Callable[[web.Request], Any]:
    """An aiohttp handler serving the scrape of `app` as Prometheus exposition text."""
    from aiohttp import web  # the HTTP server only where /metrics is served: not at start-up

    async def handle(_: web.Request) -> web.Response:
        body = await scrape(app.db, app.grinder)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle


# --- where it is served -----------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for "localhost" and any loopback IP address; False for anything else, names included."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class MetricsConfig:
    """Where /metrics is served: a listener of its own, never the webhook's port unless `on_webhook`.

    A reverse proxy on the same host that forwards every path to the webhook would
    publish anything mounted beside it, loopback or not."""

    mode: str = "auto"  # auto | on (a non-loopback host allowed) | off
    host: str = "127.0.0.1"
    port: int | None = None  # the listener of its own; None: none
    on_webhook: bool = False  # VANIKEYS_METRICS_ON_WEBHOOK: the operator's opt-in to the webhook's port

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MetricsConfig:
        """The config from the settings (the process environment and .env when `environ` is None).

        Raises ConfigError when a listener of its own is asked for on a non-loopback host in auto mode.
        """
        from bot.settings import load_settings

        one = load_settings(environ, dotenv_path=".env" if environ is None else None)
        mode, host, port = one.metrics, one.metrics_host, one.metrics_port
        if port is not None and mode == "auto" and not is_loopback(host):
            raise ConfigError(
                phrase(
                    N_(
                        "{setting} would serve /metrics on a public interface: set {allow} to allow it, or bind "
                        "127.0.0.1"
                    ),
                    setting=f"VANIKEYS_METRICS_HOST={host}",
                    allow="VANIKEYS_METRICS=on",
                )
            )
        return cls(mode=mode, host=host, port=port, on_webhook=one.metrics_on_webhook)

    def serves_on_webhook(self) -> bool:
        """Mount /metrics beside the Stripe webhook? Only when the operator asked for it."""
        return self.mode != "off" and self.on_webhook


def webhook_routes(app: Scraped, config: MetricsConfig, webhook_host: str) -> dict[str, Any]:
    """Keyword arguments for payments.webhook.webhook_server: the /metrics route (when opted in) and event counting."""
    from aiohttp import web

    routes = [web.get("/metrics", metrics_handler(app))] if config.serves_on_webhook() else []
    if routes:
        log.warning(
            "/metrics is served on the Stripe webhook's address %s (VANIKEYS_METRICS_ON_WEBHOOK): "
            "anything that forwards that port to the internet publishes it",
            webhook_host,
        )
    elif config.mode != "off" and config.port is None:
        log.info("/metrics is not served: set VANIKEYS_METRICS_PORT for a listener of its own")
    return {"extra_routes": routes, "observe": webhook_event}


@asynccontextmanager
async def metrics_server(app: Scraped, config: MetricsConfig) -> AsyncIterator[int | None]:
    """Serve /metrics (and /healthz) on config.host:config.port when a port is set; yields the bound port."""
    if config.mode == "off" or config.port is None:
        yield None
        return
    from aiohttp import web

    web_app = web.Application()
    web_app.router.add_get("/metrics", metrics_handler(app))
    web_app.router.add_get("/healthz", _healthz)
    async with serving(
        web_app, config.host, config.port, what="/metrics", port_setting="VANIKEYS_METRICS_PORT"
    ) as port:
        log.info("metrics listening on %s:%d/metrics", config.host, port)
        yield port


async def _healthz(_: web.Request) -> web.Response:
    from aiohttp import web

    return web.json_response({"ok": True})
