"""Every setting the bot reads, in one typed object: VanikeysSettings (pydantic-settings).

Values come from the environment and a `.env` file (real variables win); an
empty value counts as unset. Each field is one line: its environment variable,
default, bounds and a one-line description. README's configuration table and
`.env.example` are generated from these fields (scripts/gen_config_docs.py).

This is the only module of bot/ and payments/ that reads the environment; the
config classes (bot/config.py Settings, payments/config.py StripeSettings,
the front ends' config.py, bot/metrics.py MetricsConfig) are views built from
one VanikeysSettings. The field helpers are gpu_worker/config_fields.py's and
the pydantic-settings base is gpu_worker/config_model.py's; the GPU worker,
installed alone, has its own small model in gpu_worker/settings.py.

To add a setting: one field below, e.g.
    queue_limit: int = setting("VANIKEYS_QUEUE_LIMIT", 10, "jobs waiting at most", ge=0, unit="jobs")
read it with `load_settings().queue_limit` (or copy it into a view: same-named fields are copied), and run
`python scripts/gen_config_docs.py` to regenerate the docs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, field_validator
from pydantic_settings import NoDecode

from gpu_worker.config_fields import ConfigError, secret, setting
from gpu_worker.config_model import EnvironmentSettings, load
from gpu_worker.i18n import N_

DEFAULT_PACKS = "100=0.99,500=3.99,2500=14.99,10000=49.99"  # the same as payments.packs.DEFAULT_PACKS


def _day_counts(value: object) -> object:
    if not isinstance(value, str):
        return value
    if value.strip().lower() == "none":
        return ()
    days = []
    for part in value.split(","):
        part = part.strip()
        if not part.isascii() or not part.isdigit() or len(part) > 4 or int(part) < 1:
            raise ValueError("bad day count")
        days.append(int(part))
    return tuple(sorted(set(days)))


def _ids(value: object) -> object:
    if not isinstance(value, str):
        return value
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not all(p.isascii() and p.isdigit() and len(p) <= 20 and int(p) >= 1 for p in parts):
        raise ValueError("bad id")
    return tuple(int(p) for p in parts)


def _sync_targets(value: object) -> object:
    if not isinstance(value, str):
        return value
    targets = tuple(t.strip().lower() for t in value.split(",") if t.strip())
    if not all(t == "global" or (t.isascii() and t.isdigit()) for t in targets):
        raise ValueError("bad target")
    return targets


def _networks(value: object) -> object:
    if not isinstance(value, str):
        return value
    import ipaddress

    parts = tuple(p.strip() for p in value.split(",") if p.strip())
    for part in parts:
        ipaddress.ip_network(part, strict=False)  # ValueError: not an address or network
    return parts


DayCounts = Annotated[tuple[int, ...], NoDecode, BeforeValidator(_day_counts)]
Ids = Annotated[tuple[int, ...], NoDecode, BeforeValidator(_ids)]
SyncTargets = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_sync_targets)]
Networks = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_networks)]

# Where each section of the generated docs begins: (its first field, its title).
SECTIONS = (
    ("discord_token", "Chat front ends"),
    ("db", "Storage and the vault key"),
    ("backend", "Grinding"),
    ("runpod_api_key", "GPU providers"),
    ("pull_price", "Prices and limits"),
    ("time_zone", "Community"),
    ("stripe_api_key", "Payments (Stripe)"),
    ("public_base_url", "Web: the webhook and /metrics"),
    ("telegram_api_base_url", "Telegram"),
    ("discord_sync_on_start", "Discord"),
    ("log_format", "Logs and the process"),
    ("crash_at", "Tests and benchmarks"),
)


class VanikeysSettings(EnvironmentSettings):
    """The bot's settings, each read from its environment variable (README's table lists them)."""

    # chat front ends
    discord_token: str | None = secret("DISCORD_TOKEN", "run the Discord front end with this bot token")
    telegram_token: str | None = secret(
        "TELEGRAM_TOKEN", "run the Telegram front end with this bot token (both front ends may run in one process)"
    )

    # storage and keys
    db: str = setting(
        "VANIKEYS_DB",
        "vanikeys.db",
        "the SQLite file, or postgresql://user:pass@host/db to share "
        "the ledger, jobs and vault between bot processes (docs/scaling.md)",
        is_secret=True,
        accepts=N_("a file path, or a postgresql:// URL"),
    )
    db_connect_timeout_s: float = setting(
        "VANIKEYS_DB_CONNECT_TIMEOUT_S",
        30.0,
        "how long to keep retrying an unreachable PostgreSQL at start before exiting",
        ge=0,
        unit="seconds",
    )
    start_retry_s: float = setting(
        "VANIKEYS_START_RETRY_S",
        60.0,
        "how long to keep retrying an unreachable chat "
        "API, Stripe, RunPod or self-hosted box at start before exiting with what to fix",
        ge=0,
        unit="seconds",
    )
    job_lease_s: float = setting(
        "VANIKEYS_JOB_LEASE_S",
        60.0,
        "a job whose process stops renewing its claim is taken over by a live peer after this",
        ge=1,
        unit="seconds",
    )
    job_retention_days: float = setting(
        "VANIKEYS_JOB_RETENTION_DAYS",
        30.0,
        "settled jobs' step logs and refunded jobs are pruned after this (0 keeps everything)",
        ge=0,
        unit="days",
    )
    vault_key: str | None = secret(
        "VANIKEYS_VAULT_KEY",
        "the AES-256 key that seals found secrets, 64 hex "
        "characters (every bot process needs the same one; keep it out of backups)",
    )
    vault_key_file: Path | None = setting(
        "VANIKEYS_VAULT_KEY_FILE",
        None,
        "where the vault key is kept when "
        "VANIKEYS_VAULT_KEY is not set (default: beside the database, "
        "DB.vaultkey, created with mode 0600)",
    )
    vault_grace_s: float = setting(
        "VANIKEYS_VAULT_GRACE_S", 86400.0, "delivered secrets are kept this long, then purged", ge=0, unit="seconds"
    )

    # grinding
    backend: Literal["auto", "local", "python", "native", "cuda", "runpod"] = setting(
        "VANIKEYS_BACKEND",
        "auto",
        "auto (remote GPUs when a provider is configured, else local), local, runpod "
        "(RunPod, a self-hosted box and/or Modal behind a router), python, native, cuda",
    )
    pull_budget_gpu: int = setting("VANIKEYS_PULL_BUDGET_GPU", 1 << 28, "keys per pull on a GPU", ge=1, unit="keys")
    pull_budget_cpu: int | None = setting(
        "VANIKEYS_PULL_BUDGET_CPU",
        None,
        "keys per pull on a CPU (default: 2^22 with the native build, 2^15 with the python one)",
        ge=1,
        unit="keys",
    )
    gpu_keys_per_s: float = setting(
        "VANIKEYS_GPU_KEYS_PER_S", 2.0e9, "the GPU rate orders' time estimates plan with", gt=0, unit="keys per second"
    )
    cpu_keys_per_s: float | None = setting(
        "VANIKEYS_CPU_KEYS_PER_S",
        None,
        "the CPU rate orders plan with (default: estimated from the cores)",
        gt=0,
        unit="keys per second",
    )
    local_workers: int | None = setting(
        "VANIKEYS_LOCAL_WORKERS",
        None,
        "grinds the local backend runs at once, "
        "in worker processes kept alive (default: one per core; one on a local "
        "GPU)",
        ge=1,
        le=1024,
        unit="processes",
    )
    grind_slots: int | None = setting(
        "VANIKEYS_GRIND_SLOTS",
        None,
        "pulls in flight at once across every front "
        "end, shared fairly between them (bot/fair_share.py; default: 4 per "
        "grind the grinder runs side by side, 64 with remote GPUs)",
        ge=1,
        le=100_000,
        unit="pulls",
    )
    odds_workers: int = setting(
        "VANIKEYS_ODDS_WORKERS",
        1,
        "processes that compute odds for new patterns, so a "
        "burst of /odds never holds the event loop (0: a thread of the bot's process)",
        ge=0,
        le=8,
        unit="processes",
    )
    odds_time_cap_s: float = setting(
        "VANIKEYS_ODDS_TIME_CAP_S",
        3.0,
        "one pattern may hold an odds worker this "
        "long; past it the worker is replaced and the pattern refused (docs/odds.md)",
        ge=1,
        le=600,
        unit="seconds",
    )
    odds_memory_mb: int = setting(
        "VANIKEYS_ODDS_MEMORY_MB",
        768,
        "the address space an odds worker may map; a pattern that needs more is refused and the worker replaced",
        ge=256,
        le=1 << 20,
        unit="MB",
    )

    # remote GPU providers
    runpod_api_key: str | None = secret(
        "RUNPOD_API_KEY", "grind on RunPod Serverless with this API key (docs/runpod.md)"
    )
    runpod_endpoint_id: str | None = setting(
        "RUNPOD_ENDPOINT_ID",
        None,
        "the RunPod endpoint that grinds pulls (and orders, unless RUNPOD_ORDERS_ENDPOINT_ID is set)",
    )
    runpod_orders_endpoint_id: str | None = setting(
        "RUNPOD_ORDERS_ENDPOINT_ID",
        None,
        "a second RunPod endpoint for order chunks only, so orders never starve pulls",
    )
    runpod_base_url: str | None = setting(
        "RUNPOD_BASE_URL", None, "a RunPod-compatible API in place of RunPod's own (a proxy, tests)"
    )
    selfhosted_url: str | None = setting(
        "VANIKEYS_SELFHOSTED_URL",
        None,
        "a GPU box of your own running "
        "`python -m gpu_worker.selfhosted`; preferred while it has room "
        "(docs/providers.md)",
    )
    selfhosted_token: str | None = secret(
        "VANIKEYS_SELFHOSTED_TOKEN", "the bearer token the self-hosted box requires (set the same on the box)"
    )
    selfhosted_slots: int = setting(
        "VANIKEYS_SELFHOSTED_SLOTS", 1, "jobs the self-hosted box grinds at once", ge=1, le=1024, unit="jobs"
    )
    modal_app: str | None = setting(
        "VANIKEYS_MODAL_APP",
        None,
        "grind on Modal too: the app deployed from deploy/modal_app.py (needs the modal package)",
    )
    modal_max_in_flight: int = setting(
        "VANIKEYS_MODAL_MAX_IN_FLIGHT",
        10,
        "Modal jobs in flight at once; past it Modal counts as backed up and jobs go elsewhere",
        ge=1,
        le=100_000,
        unit="jobs",
    )
    runpod_usd_per_s: float = setting(
        "VANIKEYS_RUNPOD_USD_PER_S",
        0.00031,
        "RunPod's price, for routing and `vanikeys costs`",
        ge=0,
        unit="dollars per GPU-second",
    )
    selfhosted_usd_per_s: float = setting(
        "VANIKEYS_SELFHOSTED_USD_PER_S", 0.0, "the self-hosted box's price", ge=0, unit="dollars per GPU-second"
    )
    modal_usd_per_s: float = setting(
        "VANIKEYS_MODAL_USD_PER_S", 0.000222, "Modal's price", ge=0, unit="dollars per GPU-second"
    )
    usd_per_token: float | None = setting(
        "VANIKEYS_USD_PER_TOKEN",
        None,
        "what a token earns, so `vanikeys costs` shows revenue in dollars",
        ge=0,
        unit="dollars",
    )
    pull_time_limit_s: float = setting(
        "VANIKEYS_PULL_TIME_LIMIT_S",
        60.0,
        "a remote pull's GPU time limit (RunPod's executionTimeout)",
        ge=0,
        unit="seconds",
    )
    pull_queue_limit_s: float = setting(
        "VANIKEYS_PULL_QUEUE_LIMIT_S",
        120.0,
        "a remote pull queued longer is cancelled and refunded",
        ge=0,
        unit="seconds",
    )
    first_poll_s: float = setting(
        "VANIKEYS_FIRST_POLL_S",
        0.05,
        "the first status poll after a remote job is "
        "submitted; each wait is 15% longer, up to VANIKEYS_POLL_INTERVAL_S",
        ge=0,
        unit="seconds",
    )
    downtime_allowance_s: float = setting(
        "VANIKEYS_DOWNTIME_ALLOWANCE_S", 1800.0, "bot downtime a remote job's ttl survives", ge=0, unit="seconds"
    )
    poll_interval_s: float = setting(
        "VANIKEYS_POLL_INTERVAL_S", 1.0, "how often remote jobs are polled", ge=0, unit="seconds"
    )

    # prices and limits (tokens are whole numbers)
    pull_price: int = setting(
        "VANIKEYS_PULL_PRICE", 10, "tokens per pull once the free pulls are used", ge=0, unit="tokens"
    )
    ten_pull_pulls: int = setting("VANIKEYS_TEN_PULL_PULLS", 9, "a 10-pull costs this many pulls", ge=0, unit="pulls")
    free_pulls_per_day: int = setting(
        "VANIKEYS_FREE_PULLS_PER_DAY", 3, "free pulls per person per day", ge=0, unit="pulls"
    )
    daily_spend_limit: int = setting(
        "VANIKEYS_DAILY_SPEND_LIMIT", 1000, "tokens a person may spend per day", ge=0, unit="tokens"
    )
    keys_per_token: float = setting(
        "VANIKEYS_KEYS_PER_TOKEN",
        1.0e9,
        "an order costs its expected keys divided by this, rounded up, ...",
        gt=0,
        unit="keys",
    )
    order_premium: int = setting("VANIKEYS_ORDER_PREMIUM", 20, "... plus this", ge=0, unit="tokens")
    max_order_s: float = setting(
        "VANIKEYS_MAX_ORDER_S", 86400.0, "orders expected to take longer are refused", gt=0, unit="seconds"
    )
    order_attempt_factor: float = setting(
        "VANIKEYS_ORDER_ATTEMPT_FACTOR",
        8.0,
        "an order gives up (and is refunded) after this many times its expected keys",
        gt=0,
    )
    order_progress_interval_s: float = setting(
        "VANIKEYS_ORDER_PROGRESS_INTERVAL_S", 2.0, "how often an order reports progress", ge=0, unit="seconds"
    )

    # community
    time_zone: str = setting(
        "VANIKEYS_TIME_ZONE",
        "UTC",
        "the IANA time zone in which streak days and weekly seasons are counted",
        accepts=N_("an IANA time zone such as UTC or Europe/Berlin"),
    )
    streak_milestones: DayCounts = setting(
        "VANIKEYS_STREAK_MILESTONES",
        (3, 7, 14, 30),
        "streak lengths that give bonus free pulls (none: no bonus)",
        accepts=N_("day counts separated by commas, such as 3,7,30 (or none)"),
    )
    streak_bonus_pulls: int = setting(
        "VANIKEYS_STREAK_BONUS_PULLS", 1, "free pulls each streak milestone gives (never tokens)", ge=0, unit="pulls"
    )
    card_font: Path | None = setting(
        "VANIKEYS_CARD_FONT",
        None,
        "a TrueType font for reveal cards' words in every language (default: DejaVu Sans where installed; "
        "without one, cards are in English)",
    )

    # payments
    stripe_api_key: str | None = secret(
        "STRIPE_API_KEY",
        "sell tokens with Stripe Checkout: the sk_… (or "
        "restricted rk_…) key; set STRIPE_WEBHOOK_SECRET too, or neither",
    )
    stripe_webhook_secret: str | None = secret(
        "STRIPE_WEBHOOK_SECRET",
        "the whsec_… signing secret of the webhook endpoint ${VANIKEYS_PUBLIC_URL}/stripe/webhook",
    )
    stripe_success_url: str | None = setting(
        "STRIPE_SUCCESS_URL",
        None,
        "where Checkout sends a buyer after paying (default: ${VANIKEYS_PUBLIC_URL}/checkout/success)",
    )
    stripe_cancel_url: str | None = setting(
        "STRIPE_CANCEL_URL",
        None,
        "where Checkout sends a buyer who cancels (default: ${VANIKEYS_PUBLIC_URL}/checkout/cancel)",
    )
    stripe_api_base: str | None = setting(
        "STRIPE_API_BASE", None, "a Stripe-compatible API in place of Stripe's own (tests)"
    )
    packs: str = setting(
        "VANIKEYS_PACKS",
        DEFAULT_PACKS,
        "token packs for sale as tokens=price (/topup 500)",
        accepts=N_("tokens=price pairs separated by commas, such as 100=0.99,500=3.99"),
    )
    currency: str = setting(
        "VANIKEYS_CURRENCY",
        "usd",
        "the currency of the packs' prices",
        accepts=N_("a three-letter currency code with cents, such as usd, eur or gbp"),
    )

    # web
    public_base_url: str = setting(
        "VANIKEYS_PUBLIC_URL",
        "http://localhost:8080",
        "where Stripe and buyers reach this bot (https:// in production)",
    )
    webhook_host: str = setting("VANIKEYS_WEBHOOK_HOST", "127.0.0.1", "the address the Stripe webhook listens on")
    webhook_port: int = setting(
        "VANIKEYS_WEBHOOK_PORT",
        8080,
        "the port the Stripe webhook listens on (0: any free port)",
        ge=0,
        le=65535,
        unit="port",
    )
    web_mode: Literal["auto", "on", "off"] = setting(
        "VANIKEYS_WEB",
        "auto",
        "the public pages under /web (odds, "
        "transparency, galleries, the Telegram Mini App): auto (on when "
        "VANIKEYS_PUBLIC_URL is set), on, off (docs/web.md)",
    )
    trusted_proxies: Networks = setting(
        "VANIKEYS_TRUSTED_PROXIES",
        (),
        "reverse proxies whose X-Forwarded-For "
        "and X-Forwarded-Proto the web pages believe (none: only the peer "
        "address counts)",
        accepts=N_("IP addresses or networks separated by commas, such as 127.0.0.1 or 10.0.0.0/8"),
    )
    web_requests_per_minute: int = setting(
        "VANIKEYS_WEB_REQUESTS_PER_MINUTE", 60, "per client, across the web pages", ge=1, unit="requests"
    )
    miniapp_max_age_s: float = setting(
        "VANIKEYS_MINIAPP_MAX_AGE_S",
        3600.0,
        "Telegram Mini App initData older than this is refused",
        ge=1,
        unit="seconds",
    )
    metrics: Literal["auto", "on", "off"] = setting(
        "VANIKEYS_METRICS",
        "auto",
        "/metrics for Prometheus, on a listener of its own (VANIKEYS_METRICS_PORT): "
        "auto (that listener on loopback only), on (it may bind a public host), off",
    )
    metrics_host: str = setting(
        "VANIKEYS_METRICS_HOST",
        "127.0.0.1",
        "the address of a /metrics listener of its own (another than loopback needs VANIKEYS_METRICS=on)",
    )
    metrics_port: int | None = setting(
        "VANIKEYS_METRICS_PORT",
        None,
        "the port of a /metrics listener of its own (default: none)",
        ge=0,
        le=65535,
        unit="port",
    )
    metrics_on_webhook: bool = setting(
        "VANIKEYS_METRICS_ON_WEBHOOK",
        False,
        "also serve /metrics on the Stripe webhook's port (a reverse proxy forwarding that port would publish it)",
    )

    # Telegram
    telegram_api_base_url: str = setting(
        "TELEGRAM_API_BASE_URL", "https://api.telegram.org/bot", "the Bot API (a local Bot API server, tests)"
    )
    telegram_api_file_url: str = setting(
        "TELEGRAM_API_FILE_URL", "https://api.telegram.org/file/bot", "the Bot API's file downloads"
    )
    telegram_webhook_url: str | None = setting(
        "TELEGRAM_WEBHOOK_URL",
        None,
        "receive updates by webhook at this https:// URL (default: long polling)",
        accepts=N_("an https:// URL Telegram can reach"),
    )
    telegram_webhook_listen: str = setting(
        "TELEGRAM_WEBHOOK_LISTEN", "127.0.0.1", "the address the Telegram webhook listens on (behind your HTTPS proxy)"
    )
    telegram_webhook_port: int = setting(
        "TELEGRAM_WEBHOOK_PORT", 8443, "the port the Telegram webhook listens on", ge=1, le=65535, unit="port"
    )
    telegram_webhook_secret: str | None = secret(
        "TELEGRAM_WEBHOOK_SECRET",
        "the secret Telegram sends with each webhook update (default: a random one per start)",
        accepts=N_("A-Z, a-z, 0-9, _ and -, up to 256 characters"),
    )
    telegram_admin_ids: Ids = setting(
        "TELEGRAM_ADMIN_IDS",
        (),
        "Telegram user ids that may run /refundstars",
        accepts=N_("Telegram user ids separated by commas, such as 12345,67890"),
    )
    telegram_cooldown_s: float = setting(
        "TELEGRAM_COOLDOWN_S", 3.0, "per person, between pulls and orders", ge=0, le=10**9, unit="seconds"
    )
    telegram_odds_cooldown_s: float = setting(
        "TELEGRAM_ODDS_COOLDOWN_S", 2.0, "per person, between /odds (it costs CPU)", ge=0, le=10**9, unit="seconds"
    )
    telegram_stale_after_s: float = setting(
        "TELEGRAM_STALE_AFTER_S",
        300.0,
        "commands older than this (queued while the bot was down) are not run; the person is told so",
        ge=1,
        le=10**9,
        unit="seconds",
    )
    telegram_group_messages_per_minute: int = setting(
        "TELEGRAM_GROUP_MESSAGES_PER_MINUTE",
        20,
        "messages sent per group per minute (Telegram's limit); past it "
        "reveals wait or fold into a digest, never dropped",
        ge=1,
        le=10**9,
        unit="messages",
    )
    telegram_stripe_topup: bool = setting(
        "TELEGRAM_STRIPE_TOPUP",
        False,
        "off: /topup on Telegram sells for "
        "Telegram Stars only, as Telegram requires for digital goods; on adds "
        "the Stripe card link (only where Telegram's rules allow it)",
    )
    telegram_stars_packs: str | None = setting(
        "TELEGRAM_STARS_PACKS",
        None,
        "Stars packs (default: small=100:50,medium=500:225,large=1200:500; off for none)",
        accepts=N_("pack=tokens:stars separated by commas, such as small=100:50,large=1200:500, or off"),
    )

    # Discord
    discord_sync_on_start: SyncTargets = setting(
        "VANIKEYS_DISCORD_SYNC_ON_START",
        (),
        "development only: publish the slash commands on every start, "
        "globally or to these servers (Discord rate-limits this)",
        accepts=N_("set 'global' or comma-separated server ids, e.g. 'global' or '123456789012345678'"),
    )
    discord_pull_cooldown_s: float = setting(
        "VANIKEYS_DISCORD_PULL_COOLDOWN_S", 4.0, "per person, between pulls", ge=0, unit="seconds"
    )
    discord_order_cooldown_s: float = setting(
        "VANIKEYS_DISCORD_ORDER_COOLDOWN_S", 15.0, "per person, between orders", ge=0, unit="seconds"
    )
    discord_odds_cooldown_s: float = setting(
        "VANIKEYS_DISCORD_ODDS_COOLDOWN_S",
        3.0,
        "per person, between /odds and order quotes (new patterns cost CPU)",
        ge=0,
        unit="seconds",
    )
    discord_command_cooldown_s: float = setting(
        "VANIKEYS_DISCORD_COMMAND_COOLDOWN_S", 1.0, "per person, between other commands", ge=0, unit="seconds"
    )
    discord_order_progress_gap_s: float = setting(
        "VANIKEYS_DISCORD_ORDER_PROGRESS_GAP_S", 2.5, "per channel, between order progress edits", ge=0, unit="seconds"
    )
    discord_shards: str | None = setting(
        "VANIKEYS_DISCORD_SHARDS",
        None,
        "the Discord shards this process runs, out of a total shared by all processes (default: all, here)",
        accepts=N_('"FIRST-LAST/TOTAL" or "ID,ID,.../TOTAL", such as 0-3/8'),
    )

    # logs and the process
    log_format: Literal["human", "json"] = setting(
        "VANIKEYS_LOG_FORMAT", "human", "human, or json: one line per event with job id, user and provider job id"
    )
    malloc_arenas: int = setting(
        "VANIKEYS_MALLOC_ARENAS",
        2,
        "glibc malloc arenas the bot may use, so a long-running bot's memory does not creep (0: glibc's default)",
        ge=0,
        unit="arenas",
    )
    malloc_arena_max: str | None = setting(
        "MALLOC_ARENA_MAX", None, "glibc's own setting: when set, it wins over VANIKEYS_MALLOC_ARENAS"
    )
    user: str | None = setting(
        "USER",
        None,
        "who `vanikeys admin` records as making a change when --by is not given (the login name otherwise)",
    )

    # tests and benchmarks
    crash_at: str | None = setting(
        "VANIKEYS_CRASH_AT",
        None,
        "tests only: the process exits abruptly at this fault point (bot/faults.py, e.g. job.found)",
        accepts=N_("a fault point named in bot/faults.py (job.accepted … job.refunded)"),
    )
    require_gpu: bool = setting(
        "VANIKEYS_REQUIRE_GPU",
        False,
        "tests only: a missing GPU or CuPy fails the GPU tests instead of skipping them (scripts/gpu_check.sh)",
    )
    peers: Path | None = setting(
        "VANIKEYS_PEERS",
        None,
        "benchmarks only: where VanitySearch is built for the side-by-side figures (default ~/.cache/vanikeys-peers)",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a time zone") from None
        return zone

    @field_validator("crash_at")
    @classmethod
    def _declared_fault_point(cls, name: str | None) -> str | None:
        from bot.fault_points import FAULT_POINTS

        if name is not None and name not in FAULT_POINTS:
            raise ValueError(f"not a fault point: use one of {', '.join(FAULT_POINTS)}")
        return name

    @field_validator("telegram_webhook_url")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith("https://"):
            raise ValueError("not https")
        return url

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _header_safe(cls, secret: str | None) -> str | None:
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ValueError("not header-safe")
        return secret

    @field_validator("vault_key_file", "peers", "card_font")
    @classmethod
    def _home(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None

    @property
    def is_postgres(self) -> bool:
        """Whether VANIKEYS_DB is a PostgreSQL URL rather than a SQLite path."""
        scheme, sep, _ = self.db.partition("://")
        return bool(sep) and scheme in ("postgres", "postgresql")


def load_settings(
    environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
) -> VanikeysSettings:
    """The settings from `environ` (default: the process environment) over the .env file; ConfigError names a bad
    value."""
    return load(VanikeysSettings, environ, dotenv_path)


__all__ = ["SECTIONS", "ConfigError", "VanikeysSettings", "load_settings"]
