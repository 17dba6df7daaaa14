"""Settings from the environment (a .env file honoured): tokens, paths, and every price in one place.

Real environment variables win over the .env file. Nothing here is a secret
default: with no variables set the bot runs on the console, the local
grinder, a SQLite file and free daily pulls.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

BACKENDS = ("auto", "local", "python", "native", "cuda", "runpod")
GPU_BACKENDS = ("cuda", "runpod")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the variable and what to set."""


@dataclass(frozen=True)
class Settings:
    # platforms and services (None: not configured)
    discord_token: str | None = None
    telegram_token: str | None = None
    runpod_api_key: str | None = None
    runpod_endpoint_id: str | None = None
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None

    # storage and keys
    db_path: Path = Path("vanikeys.db")
    db_url: str | None = None               # postgresql://… (VANIKEYS_DB): the shared store, in place of db_path
    db_connect_timeout_s: float = 30.0      # keep retrying an unreachable PostgreSQL this long at start
    start_retry_s: float = 60.0             # keep retrying an unreachable chat API, Stripe or RunPod this long at start
    job_retention_days: float = 30.0        # settled jobs' step logs (and refunded jobs) pruned after this; 0: never
    vault_key: str | None = None            # 32 bytes as 64 hex chars or urlsafe base64
    vault_key_file: Path | None = None      # default: next to the database, "<db>.vaultkey"
    vault_grace_s: float = 24 * 3600        # keep delivered secrets this long, then purge

    # grinding
    backend: str = "auto"                   # auto | local | python | native | cuda | runpod
    pull_budget_gpu: int = 1 << 28          # keys per pull on a GPU
    pull_budget_cpu: int | None = None      # keys per pull on a CPU; None: about a second's work (cpu_build)
    gpu_keys_per_s: float = 2.0e9           # planning rate for order time estimates
    cpu_keys_per_s: float | None = None     # None: estimated from the core count and cpu_build

    # prices and limits (tokens are integers)
    pull_price: int = 10                    # tokens per pull once the free pulls are used
    ten_pull_pulls: int = 9                 # a 10-pull costs this many pulls
    free_pulls_per_day: int = 3
    daily_spend_limit: int = 1000           # tokens a user may spend per UTC day
    keys_per_token: float = 1.0e9           # order price: ceil(expected keys / this) ...
    order_premium: int = 20                 # ... plus this
    max_order_s: float = 24 * 3600          # refuse orders expected to take longer than this
    order_attempt_factor: float = 8.0       # give up (and refund) after this many times the expected keys
    order_progress_interval_s: float = 2.0
    job_lease_s: float = 60.0               # a job claimed by a process that stops renewing is taken over after this
    malloc_arenas: int = 2                  # glibc malloc arenas for the bot's process (bot/memory.py); 0: glibc's default

    # community: streak days and weekly seasons are counted in this time zone
    time_zone: str = "UTC"                  # an IANA name, e.g. "Europe/Berlin"
    streak_milestones: tuple[int, ...] = (3, 7, 14, 30)  # streak lengths that give bonus free pulls
    streak_bonus_pulls: int = 1             # free pulls per milestone (never tokens)

    # web
    public_base_url: str = "http://localhost:8080"
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080

    @property
    def stripe_configured(self) -> bool:
        return bool(self.stripe_api_key and self.stripe_webhook_secret)

    @property
    def runpod_configured(self) -> bool:
        return bool(self.runpod_api_key and self.runpod_endpoint_id)

    @property
    def effective_backend(self) -> str:
        """The backend a plain "auto" means: RunPod when configured, otherwise the local grinder."""
        if self.backend == "auto":
            return "runpod" if self.runpod_configured else "local"
        return self.backend

    @property
    def on_gpu(self) -> bool:
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
        if self.on_gpu:
            return self.pull_budget_gpu
        if self.pull_budget_cpu is not None:
            return self.pull_budget_cpu
        return 1 << 22 if self.cpu_build == "native" else 1 << 15

    @property
    def keys_per_s(self) -> float:
        if self.on_gpu:
            return self.gpu_keys_per_s
        if self.cpu_keys_per_s is not None:
            return self.cpu_keys_per_s
        # Measured on a 2-core x86-64 box (BENCHMARKS.md), per core and rounded down.
        per_core = 2.0e6 if self.cpu_build == "native" else 3.0e4
        return per_core * (os.cpu_count() or 1)

    @property
    def database(self) -> str | Path:
        """What Database.open takes: the PostgreSQL URL when set, else the SQLite file."""
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
        return math.ceil(expected_keys / self.keys_per_token) + self.order_premium

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env") -> Settings:
        values: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        return _settings_from(values)


@functools.lru_cache(maxsize=1)
def _native_compiler_available() -> bool:
    from gpu_worker.grinders.native import compiler

    return compiler() is not None


@functools.lru_cache(maxsize=1)
def _local_gpu_available() -> bool:
    try:
        import cupy  # type: ignore[import-not-found]  # noqa: F401
    except Exception:
        return False
    try:
        return bool(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return False


_STRINGS = {
    "DISCORD_TOKEN": "discord_token",
    "TELEGRAM_TOKEN": "telegram_token",
    "RUNPOD_API_KEY": "runpod_api_key",
    "RUNPOD_ENDPOINT_ID": "runpod_endpoint_id",
    "STRIPE_API_KEY": "stripe_api_key",
    "STRIPE_WEBHOOK_SECRET": "stripe_webhook_secret",
    "VANIKEYS_VAULT_KEY": "vault_key",
    "VANIKEYS_PUBLIC_URL": "public_base_url",
    "VANIKEYS_WEBHOOK_HOST": "webhook_host",
}
_PATHS = {"VANIKEYS_DB": "db_path", "VANIKEYS_VAULT_KEY_FILE": "vault_key_file"}
_INTS = {
    "VANIKEYS_PULL_BUDGET_GPU": ("pull_budget_gpu", 1),
    "VANIKEYS_PULL_BUDGET_CPU": ("pull_budget_cpu", 1),
    "VANIKEYS_PULL_PRICE": ("pull_price", 0),
    "VANIKEYS_TEN_PULL_PULLS": ("ten_pull_pulls", 0),
    "VANIKEYS_FREE_PULLS_PER_DAY": ("free_pulls_per_day", 0),
    "VANIKEYS_DAILY_SPEND_LIMIT": ("daily_spend_limit", 0),
    "VANIKEYS_ORDER_PREMIUM": ("order_premium", 0),
    "VANIKEYS_STREAK_BONUS_PULLS": ("streak_bonus_pulls", 0),
    "VANIKEYS_WEBHOOK_PORT": ("webhook_port", 1),
    "VANIKEYS_MALLOC_ARENAS": ("malloc_arenas", 0),
}
_FLOATS = {
    "VANIKEYS_VAULT_GRACE_S": ("vault_grace_s", 0.0),
    "VANIKEYS_GPU_KEYS_PER_S": ("gpu_keys_per_s", 1e-9),
    "VANIKEYS_CPU_KEYS_PER_S": ("cpu_keys_per_s", 1e-9),
    "VANIKEYS_KEYS_PER_TOKEN": ("keys_per_token", 1e-9),
    "VANIKEYS_MAX_ORDER_S": ("max_order_s", 1e-9),
    "VANIKEYS_ORDER_ATTEMPT_FACTOR": ("order_attempt_factor", 1e-9),
    "VANIKEYS_ORDER_PROGRESS_INTERVAL_S": ("order_progress_interval_s", 0.0),
    "VANIKEYS_JOB_LEASE_S": ("job_lease_s", 1.0),
    "VANIKEYS_DB_CONNECT_TIMEOUT_S": ("db_connect_timeout_s", 0.0),
    "VANIKEYS_START_RETRY_S": ("start_retry_s", 0.0),
    "VANIKEYS_JOB_RETENTION_DAYS": ("job_retention_days", 0.0),
}


def _settings_from(values: Mapping[str, str]) -> Settings:
    kwargs: dict[str, object] = {}
    for var, name in _STRINGS.items():
        if values.get(var, "").strip():
            kwargs[name] = values[var].strip()
    for var, name in _PATHS.items():
        if values.get(var, "").strip():
            kwargs[name] = Path(values[var].strip()).expanduser()
    database = values.get("VANIKEYS_DB", "").strip()
    if database.split("://", 1)[0] in ("postgres", "postgresql") and "://" in database:
        kwargs.pop("db_path", None)
        kwargs["db_url"] = database
    for var, (name, minimum) in _INTS.items():
        if values.get(var, "").strip():
            kwargs[name] = _number(var, values[var], int, minimum)
    for var, (name, fminimum) in _FLOATS.items():
        if values.get(var, "").strip():
            kwargs[name] = _number(var, values[var], float, fminimum)
    backend = values.get("VANIKEYS_BACKEND", "").strip().lower()
    if backend:
        if backend not in BACKENDS:
            raise ConfigError(f"VANIKEYS_BACKEND={backend!r} is not a backend: set one of {', '.join(BACKENDS)}")
        kwargs["backend"] = backend
    kwargs.update(_community_settings(values))
    return Settings(**kwargs)  # type: ignore[arg-type]


def _number(var: str, text: str, kind: type, minimum: float) -> int | float:
    try:
        value = kind(text.strip())
    except ValueError:
        raise ConfigError(f"{var}={text.strip()!r} is not a number: set a {kind.__name__} such as {kind(minimum)}") from None
    if value < minimum or (kind is float and not math.isfinite(value)):
        raise ConfigError(f"{var}={text.strip()!r} is too small: set at least {minimum}")
    return value


def _community_settings(values: Mapping[str, str]) -> dict[str, object]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    kwargs: dict[str, object] = {}
    zone = values.get("VANIKEYS_TIME_ZONE", "").strip()
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"VANIKEYS_TIME_ZONE={zone!r} is not a time zone: set an IANA name such as "
                              "UTC or Europe/Berlin") from None
        kwargs["time_zone"] = zone
    milestones = values.get("VANIKEYS_STREAK_MILESTONES")
    if milestones is not None and milestones.strip():
        text = milestones.strip()
        days: list[int] = []
        if text.lower() != "none":
            for part in text.split(","):
                part = part.strip()
                if not part.isascii() or not part.isdigit() or len(part) > 4 or int(part) < 1:
                    raise ConfigError(f"VANIKEYS_STREAK_MILESTONES={text!r}: set day counts separated by commas, "
                                      "such as 3,7,30 (or none)")
                days.append(int(part))
        kwargs["streak_milestones"] = tuple(sorted(set(days)))
    return kwargs
