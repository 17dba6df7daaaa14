"""Settings: the bot's view of the one typed configuration (bot/settings.py), with its derived values.

Every value comes from bot.settings.VanikeysSettings (the environment and a
.env file, real variables winning); a field here is copied from the
VanikeysSettings field of the same name. Nothing here is a secret default:
with no variables set the bot runs on the console, the local grinder, a
SQLite file and free daily pulls.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gpu_worker.config_fields import ConfigError as ConfigError  # re-exported: every caller imports it from here

if TYPE_CHECKING:
    from bot.settings import VanikeysSettings

BACKENDS = ("auto", "local", "python", "native", "cuda", "runpod")
WEB_PREFIX = "/web"  # every public page sits under this, beside the Stripe webhook on the same server (bot/web)
GPU_BACKENDS = ("cuda", "runpod")


@dataclass(frozen=True)
class Settings:
    """The bot's settings as the code uses them (bot/settings.py reads and validates them from the environment)."""

    # platforms and services (None: not configured)
    discord_token: str | None = None
    telegram_token: str | None = None
    runpod_api_key: str | None = None
    runpod_endpoint_id: str | None = None
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None

    # storage and keys
    db_path: Path = Path("vanikeys.db")
    db_url: str | None = None  # postgresql://… (VANIKEYS_DB): the shared store, in place of db_path
    db_connect_timeout_s: float = 30.0  # keep retrying an unreachable PostgreSQL this long at start
    start_retry_s: float = 60.0  # keep retrying an unreachable chat API, Stripe or RunPod this long at start
    job_retention_days: float = 30.0  # settled jobs' step logs (and refunded jobs) pruned after this; 0: never
    vault_key: str | None = None  # 32 bytes as 64 hex chars or urlsafe base64
    vault_key_file: Path | None = None  # default: next to the database, "<db>.vaultkey"
    vault_grace_s: float = 24 * 3600  # keep delivered secrets this long, then purge

    # grinding
    backend: str = "auto"  # auto | local | python | native | cuda | runpod
    pull_budget_gpu: int = 1 << 28  # keys per pull on a GPU
    pull_budget_cpu: int | None = None  # keys per pull on a CPU; None: about a second's work (cpu_build)
    gpu_keys_per_s: float = 2.0e9  # planning rate for order time estimates
    cpu_keys_per_s: float | None = None  # None: estimated from the core count and cpu_build
    grind_slots: int | None = None  # pulls ground at once, shared fairly by front ends; None: the grinder's own

    # prices and limits (tokens are integers)
    pull_price: int = 10  # tokens per pull once the free pulls are used
    ten_pull_pulls: int = 9  # a 10-pull costs this many pulls
    free_pulls_per_day: int = 3
    daily_spend_limit: int = 1000  # tokens a user may spend per UTC day
    keys_per_token: float = 1.0e9  # order price: ceil(expected keys / this) ...
    order_premium: int = 20  # ... plus this
    max_order_s: float = 24 * 3600  # refuse orders expected to take longer than this
    order_attempt_factor: float = 8.0  # give up (and refund) after this many times the expected keys
    order_progress_interval_s: float = 2.0
    job_lease_s: float = 60.0  # a job claimed by a process that stops renewing is taken over after this
    malloc_arenas: int = 2  # glibc malloc arenas for the bot's process (bot/memory.py); 0: glibc's default

    # community: streak days and weekly seasons are counted in this time zone
    time_zone: str = "UTC"  # an IANA name, e.g. "Europe/Berlin"
    streak_milestones: tuple[int, ...] = (3, 7, 14, 30)  # streak lengths that give bonus free pulls
    streak_bonus_pulls: int = 1  # free pulls per milestone (never tokens)
    card_font: Path | None = None  # a TrueType font for cards' words; None: DejaVu Sans where installed (bot/cards.py)

    # web
    public_base_url: str = "http://localhost:8080"
    public_url_configured: bool = False  # VANIKEYS_PUBLIC_URL was set: chat answers may link to the web pages
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080
    web_mode: str = "auto"  # VANIKEYS_WEB: auto (on when VANIKEYS_PUBLIC_URL is set) | on | off
    trusted_proxies: tuple[str, ...] = ()  # VANIKEYS_TRUSTED_PROXIES: peers whose X-Forwarded-For/-Proto count
    web_requests_per_minute: int = 60  # per client, across the web pages (bot/web/)
    miniapp_max_age_s: float = 3600.0  # Telegram Mini App initData older than this is refused

    @property
    def web_enabled(self) -> bool:
        """Whether the public pages are served: VANIKEYS_WEB=on, or auto with a public URL configured."""
        return self.web_mode == "on" or (self.web_mode == "auto" and self.public_url_configured)

    @property
    def web_url(self) -> str | None:
        """The public pages' base address for links in chat answers (None: no public address configured)."""
        if not (self.web_enabled and self.public_url_configured):
            return None
        return self.public_base_url.rstrip("/") + WEB_PREFIX

    @property
    def stripe_configured(self) -> bool:
        """Whether both the Stripe key and webhook secret are set."""
        return bool(self.stripe_api_key and self.stripe_webhook_secret)

    @property
    def runpod_configured(self) -> bool:
        """Whether both the RunPod key and endpoint id are set."""
        return bool(self.runpod_api_key and self.runpod_endpoint_id)

    @property
    def effective_backend(self) -> str:
        """The backend a plain "auto" means: RunPod when configured, otherwise the local grinder."""
        if self.backend == "auto":
            return "runpod" if self.runpod_configured else "local"
        return self.backend

    @property
    def on_gpu(self) -> bool:
        """Whether pulls grind on a GPU (a GPU provider, or the local backend with CuPy and a device)."""
        return self.effective_backend in GPU_BACKENDS or (
            self.effective_backend in ("local",) and _local_gpu_available()
        )

    @property
    def cpu_build(self) -> str:
        """Which build grinds on a CPU: "native" (compiled kernel) where a C++ compiler is, else "python"."""
        if self.effective_backend == "python" or not _native_compiler_available():
            return "python"
        return "native"

    @property
    def pull_budget(self) -> int:
        """Keys one pull checks: the GPU or CPU budget setting, else a default for the CPU build."""
        if self.on_gpu:
            return self.pull_budget_gpu
        if self.pull_budget_cpu is not None:
            return self.pull_budget_cpu
        return 1 << 22 if self.cpu_build == "native" else 1 << 15

    @property
    def keys_per_s(self) -> float:
        """The grinding rate assumed for prices and estimates: the setting, else a measured per-core default."""
        if self.on_gpu:
            return self.gpu_keys_per_s
        if self.cpu_keys_per_s is not None:
            return self.cpu_keys_per_s
        # Measured on a 2-core x86-64 box (BENCHMARKS.md), per core and rounded down.
        per_core = 2.0e6 if self.cpu_build == "native" else 3.0e4
        return per_core * (os.cpu_count() or 1)

    @property
    def database(self) -> str | Path:
        """What open_database takes: the PostgreSQL URL when set, else the SQLite file."""
        return self.db_url or self.db_path

    @property
    def resolved_vault_key_file(self) -> Path:
        """Where the vault key lives when VANIKEYS_VAULT_KEY is not set (next to a SQLite file by default)."""
        if self.vault_key_file:
            return self.vault_key_file
        if self.db_url:
            return Path("vanikeys.vaultkey")
        return self.db_path.with_name(self.db_path.name + ".vaultkey")

    def pull_cost_pulls(self, count: int) -> int:
        """How many paid pulls `count` pulls cost (a 10-pull costs `ten_pull_pulls`)."""
        return self.ten_pull_pulls if count == 10 else count

    def order_price(self, expected_keys: float) -> int:
        """An order's price in tokens: its expected keys at `keys_per_token`, rounded up, plus the premium."""
        return math.ceil(expected_keys / self.keys_per_token) + self.order_premium

    def replace(self, **changes: object) -> Settings:
        """A copy with `changes` applied (tests and derived settings)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env") -> Settings:
        """The settings from `environ` (default: the process environment) over .env; ConfigError names a bad value."""
        from bot.settings import load_settings  # pydantic-settings loads only when settings are read

        return cls.from_settings(load_settings(environ, dotenv_path=dotenv_path))

    @classmethod
    def from_settings(cls, one: VanikeysSettings) -> Settings:
        """This view of the one configuration: every same-named field, and VANIKEYS_DB split by its kind."""
        names = {f.name for f in dataclasses.fields(cls)} & set(type(one).model_fields)
        kwargs: dict[str, object] = {name: getattr(one, name) for name in names}
        if one.is_postgres:
            kwargs["db_url"] = one.db
        else:
            kwargs["db_path"] = Path(one.db).expanduser()
        kwargs["public_url_configured"] = "public_base_url" in one.model_fields_set
        return cls(**kwargs)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1)
def _native_compiler_available() -> bool:
    from gpu_worker.grinders.native import compiler

    return compiler() is not None


@functools.lru_cache(maxsize=1)
def _local_gpu_available() -> bool:
    try:
        import cupy  # only whether it imports
    except Exception:
        return False
    try:
        return bool(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return False
