"""The bot's container health: a heartbeat the running bot rewrites, and `python -m bot.health` that reads it.

Healthy means: the heartbeat is fresh (the event loop runs), the storage answered a query in the last
round, every configured front end (a chat token is set) is connected, and, with Stripe configured, the
webhook answers /healthz (payments/healthcheck.py). The heartbeat file sits in the temporary directory,
named after the database, so bots on one host never read each other's; it holds no secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.storage import Database

log = logging.getLogger(__name__)

INTERVAL_S = 10.0
STALE_AFTER_S = 3 * INTERVAL_S
STORAGE_TIMEOUT_S = 5.0

Probe = Callable[[], tuple[bool, str]]  # (connected, what it is doing), called on the event loop


def heartbeat_file(database: str | Path) -> Path:
    """Where the bot using `database` writes its heartbeat."""
    name = hashlib.sha256(str(database).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"vanikeys-health-{name}.json"


def _not_started() -> tuple[bool, str]:
    return False, "configured but not started"


@dataclass
class Health:
    """What the running bot reports: front ends register a probe while they run."""

    db: Database
    path: Path
    probes: dict[str, Probe] = field(default_factory=dict)

    def expect(self, name: str) -> None:
        """A configured front end: unhealthy until it watches, and again once it stops."""
        self.probes[name] = _not_started

    def watch(self, name: str, probe: Probe) -> None:
        """Report `name` (a front end) through `probe` from now on."""
        self.probes[name] = probe

    def stopped(self, name: str) -> None:
        """Report `name` as stopped."""
        self.probes[name] = lambda: (False, "stopped")

    async def snapshot(self) -> dict[str, object]:
        """The heartbeat's content now: storage reachable (within STORAGE_TIMEOUT_S) and each front end's probe."""
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that arrives as the
            # query finishes, and the bot's shutdown would then wait on this task forever.
            async with asyncio.timeout(STORAGE_TIMEOUT_S):
                await self.db.fetchone("SELECT 1")
            storage = {"ok": True, "detail": self.db.description}
        except Exception as exc:  # any failure to answer is what this reports
            why = getattr(exc, "why", None) or exc  # StorageUnavailable's text is for chat users; .why is the cause
            storage = {"ok": False, "detail": f"{self.db.description}: {type(exc).__name__}: {why}"}
        frontends = {}
        for name, probe in self.probes.items():
            try:
                ok, detail = probe()
            except Exception as exc:
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            frontends[name] = {"ok": ok, "detail": detail}
        return {"at": time.time(), "pid": os.getpid(), "storage": storage, "frontends": frontends}

    async def write(self) -> None:
        """Write the heartbeat file atomically; a failure to write is logged, not raised."""
        body = json.dumps(await self.snapshot())
        partial = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        try:
            partial.write_text(body)
            os.replace(partial, self.path)
        except OSError as exc:
            log.warning("health heartbeat not written to %s: %s", self.path, exc.strerror or exc)

    async def beat_forever(self) -> None:
        """Write the heartbeat every INTERVAL_S until cancelled; then remove it (a stopped bot is not healthy)."""
        try:
            while True:
                await self.write()
                await asyncio.sleep(INTERVAL_S)
        finally:
            try:
                self.path.unlink(missing_ok=True)  # a stopped bot is not healthy
            except OSError:
                pass


def check(path: Path, *, now: float | None = None) -> list[str]:
    """What is wrong according to the heartbeat at `path` (empty: healthy)."""
    try:
        beat = json.loads(path.read_text())
    except FileNotFoundError:
        return [f"no heartbeat at {path}: the bot is not running (or is still starting)"]
    except (OSError, ValueError) as exc:
        return [f"unreadable heartbeat at {path}: {exc}"]
    age = (time.time() if now is None else now) - float(beat.get("at", 0))
    problems = []
    if age > STALE_AFTER_S:
        problems.append(f"the heartbeat is {age:.0f} s old: the bot's event loop is stuck or it stopped")
    if not beat["storage"]["ok"]:
        problems.append(f"storage unreachable: {beat['storage']['detail']}")
    for name, state in beat["frontends"].items():
        if not state["ok"]:
            problems.append(f"{name} not connected: {state['detail']}")
    return problems


def main() -> int:
    """The bot container's health check: 0 when the heartbeat is fresh and everything in it is up (and the webhook
    answers, with Stripe), else 1.
    """
    from bot.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"unhealthy: {exc}")
        return 1
    problems = check(heartbeat_file(settings.database))
    for problem in problems:
        print(f"unhealthy: {problem}")
    if problems:
        return 1
    from payments import healthcheck

    return healthcheck.main()  # with Stripe configured, the webhook must answer too


if __name__ == "__main__":
    sys.exit(main())
