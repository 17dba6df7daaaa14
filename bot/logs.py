"""Structured logging: one line per event, human by default, JSON lines with VANIKEYS_LOG_FORMAT=json.

An event line carries the job id, the user ref (platform:id) and the
provider's job id where there is one, so `grep <job id>` follows a job from
the command to its delivery. Lines logged while a job is being driven carry
its job id and user too (a context variable set per job task).

Every line passes through a redactor before it is written: the configured
tokens (Discord, Telegram, RunPod, Stripe, the vault key) and anything shaped
like a Stripe secret or a Telegram bot token become `<redacted>`, whichever
library logged it (httpx, for one, logs Telegram URLs with the token inside).
Secrets found for users are never passed to a logger in the first place.

A fault that lasts (the database unreachable or its disk full) is an episode
(`FaultEpisode`, `STORAGE`): one WARNING line with its cause when it starts,
each failure under it at DEBUG with its traceback, and one line when it clears
saying how long it lasted and how many operations failed meanwhile.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO, Any

from bot.config import ConfigError
from gpu_worker.i18n import N_
from gpu_worker.localized import phrase

FORMAT_ENV = "VANIKEYS_LOG_FORMAT"
REDACTED = "<redacted>"
_SECRET_SHAPES = re.compile(
    r"(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}"  # Stripe API keys
    r"|whsec_[A-Za-z0-9+/=_-]{8,}"  # Stripe webhook signing secrets
    r"|(?<![0-9])[0-9]{6,12}:[A-Za-z0-9_-]{30,}"  # Telegram bot tokens
)

_job: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("vanikeys_job", default=None)

log = logging.getLogger("vanikeys.events")


def user_ref(platform: str, user_id: str) -> str:
    """A user as logs name them: "platform:user_id"."""
    return f"{platform}:{user_id}"


def bind_job(job_id: str, platform: str, user_id: str) -> None:
    """Tag every line logged from here on in this task (a job's own task) with the job and its user."""
    _job.set((job_id, user_ref(platform, user_id)))


def event(
    name: str,
    *,
    job_id: str | None = None,
    user: str | None = None,
    provider_job_id: str | None = None,
    level: int = logging.INFO,
    logger: logging.Logger | None = None,
    **fields: Any,
) -> None:
    """Log one event: `name` (e.g. job.found) and its fields, never a secret."""
    (logger or log).log(
        level,
        name,
        extra={
            "vk_event": name,
            "vk_job_id": job_id,
            "vk_user": user,
            "vk_provider_job_id": provider_job_id,
            "vk_fields": fields,
        },
    )


class FaultEpisode:
    """One lasting fault of one kind, logged as an episode rather than once per failed operation."""

    def __init__(
        self, what: str, logger: logging.Logger | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.what = what
        self._log = logger or logging.getLogger(f"vanikeys.faults.{what}")
        self._clock = clock
        self._lock = threading.Lock()  # aiosqlite's and asyncpg's loggers may call from other threads
        self._since: float | None = None
        self._failures = 0
        self._cause = ""

    @property
    def active(self) -> bool:
        """Whether the fault is ongoing (failed since it last cleared)."""
        return self._since is not None

    def failed(self, cause: BaseException | str, *, during: str = "") -> bool:
        """Note one failure; True when it started the episode (the WARNING line was written)."""
        text = cause if isinstance(cause, str) else describe(cause)
        with self._lock:
            started = self._since is None
            if started:
                self._since, self._failures, self._cause = self._clock(), 0, text
            self._failures += 1
        if started:
            self._log.warning(
                "%s unavailable: %s%s; failures are logged at DEBUG until it recovers",
                self.what,
                text,
                f" (during {during})" if during else "",
            )
        exc_info = cause if isinstance(cause, BaseException) else None
        self._log.debug("%s failure%s: %s", self.what, f" during {during}" if during else "", text, exc_info=exc_info)
        return started

    def cleared(self) -> None:
        """An operation succeeded: end the episode, if one is open, with its summary."""
        if self._since is None:
            return
        with self._lock:
            if self._since is None:
                return
            lasted, failures, cause = self._clock() - self._since, self._failures, self._cause
            self._since = None
        self._log.warning(
            "%s recovered after %.1f s: %d operation%s failed meanwhile (first cause: %s)",
            self.what,
            lasted,
            failures,
            "" if failures == 1 else "s",
            cause,
        )


def describe(exc: BaseException) -> str:
    """An exception as one line: its type and message (the cause for an operator), no traceback."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# The process's one storage episode: the stores report faults and recoveries, callers only say what they skipped.
STORAGE = FaultEpisode("storage")


class EpisodeFilter(logging.Filter):
    """For a library logger that logs each retry of a lasting fault with a traceback (asyncpg's pool):
    its records with an exception join `episode` instead (DEBUG, after the episode's one WARNING)."""

    def __init__(self, episode: FaultEpisode) -> None:
        super().__init__()
        self._episode = episode

    def filter(self, record: logging.LogRecord) -> bool:
        """Pass records without an exception; fold those with one into the episode and drop them."""
        if not record.exc_info or record.exc_info[1] is None:
            return True
        self._episode.failed(record.exc_info[1], during=record.getMessage())
        return False


def _context(record: logging.LogRecord) -> dict[str, Any]:
    bound = _job.get()
    job_id = getattr(record, "vk_job_id", None) or (bound[0] if bound else None)
    user = getattr(record, "vk_user", None) or (bound[1] if bound else None)
    out: dict[str, Any] = {}
    if job_id:
        out["job_id"] = job_id
    if user:
        out["user"] = user
    provider_job_id = getattr(record, "vk_provider_job_id", None)
    if provider_job_id:
        out["provider_job_id"] = provider_job_id
    return out


class _Redacting(logging.Formatter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _SECRET_SHAPES.sub(REDACTED, text)

    def _message(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return message


class JsonFormatter(_Redacting):
    """One JSON object per line (ts, level, logger, event or message, fields), with known secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line, secrets redacted."""
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        name = getattr(record, "vk_event", None)
        if name:
            line["event"] = name
        else:
            line["message"] = self._message(record)
        line.update(_context(record))
        for key, value in (getattr(record, "vk_fields", None) or {}).items():
            line.setdefault(key, value)
        return self.redact(json.dumps(line, default=str, ensure_ascii=False))


class HumanFormatter(_Redacting):
    """One readable line per record: time, level, logger, event or message, then key=value fields; secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one readable line, secrets redacted."""
        at = datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        name = getattr(record, "vk_event", None)
        head = name if name else self._message(record)
        pairs = {**_context(record), **(getattr(record, "vk_fields", None) or {})}
        tail = "".join(f" {key}={_human(value)}" for key, value in pairs.items() if value is not None)
        return self.redact(f"{at} {record.levelname} {record.name}: {head}{tail}")


def _human(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (not text or any(c.isspace() or c == '"' for c in text)) else text


def formatter(fmt: str | None = None, secrets: Iterable[str] = ()) -> logging.Formatter:
    """The formatter VANIKEYS_LOG_FORMAT (or `fmt`) names, redacting `secrets`; ConfigError for a format other than
    human or json.
    """
    if fmt is None:
        from bot.settings import load_settings

        fmt = load_settings().log_format
    chosen = fmt.strip().lower() or "human"
    if chosen not in ("human", "json"):
        raise ConfigError(
            phrase(N_("{setting} is not a log format: set human or json"), setting=f"{FORMAT_ENV}={chosen!r}")
        )
    return JsonFormatter(secrets) if chosen == "json" else HumanFormatter(secrets)


def configured_secrets(settings: Any = None, stripe: Any = None) -> list[str]:
    """Every token the configuration holds: these never appear in a log line."""
    values = [
        getattr(settings, name, None)
        for name in (
            "discord_token",
            "telegram_token",
            "runpod_api_key",
            "stripe_api_key",
            "stripe_webhook_secret",
            "vault_key",
        )
    ]
    values += [getattr(stripe, name, None) for name in ("api_key", "webhook_secret")]
    return [v for v in values if isinstance(v, str) and v]


def setup(
    level: int = logging.INFO, *, fmt: str | None = None, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    """Replace the root logger's handlers with one that writes redacted lines in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt, secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
