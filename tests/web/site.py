"""A live bot with the web pages on a loopback port, run on its own thread and event loop, seeded with real pulls.

The browser tests drive it with Playwright's sync API while the bot keeps running
beside them; `call` runs a coroutine on the bot's loop (to ask the service what
the page should say).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bot.answers import CommunityRef, UserRef
from bot.app import App, create_app
from bot.config import Settings
from bot.results import tier_at_least
from bot.web.initdata import sign
from bot.web.server import web_server
from tests.bot.conftest import RecordingFrontEnd, small_settings

BOT_TOKEN = "7000999:AAE-web-test-token"
ALICE = UserRef("telegram", "7000001", "Alice Shown")
BOB = UserRef("telegram", "7000002", "Bob Hidden")
GROUP = CommunityRef("telegram", "-100555000111", "Rollers Club")
OTHER_GROUP = CommunityRef("telegram", "-100555000222", "Quiet Corner")
GRANT = 987_653  # a distinctive balance: no page may show it
PATTERN = "^abc xyz"  # at 24 keys a pull, about 9% of keys rate Rare or better


def init_data(
    user: UserRef, *, token: str = BOT_TOKEN, auth_date: float | None = None, extra: dict[str, str] | None = None
) -> str:
    """initData as Telegram signs it for this user."""
    fields = {
        "auth_date": str(int(time.time() if auth_date is None else auth_date)),
        "query_id": "AAH-test-query",
        "user": json.dumps({"id": int(user.user_id), "first_name": user.display_name}, separators=(",", ":")),
        **(extra or {}),
    }
    return urlencode({**fields, "hash": sign(fields, token)})


@dataclass
class LiveSite:
    settings: Settings
    url: str = ""
    app: App | None = None
    slug: str = ""
    frontend: RecordingFrontEnd = field(default_factory=lambda: RecordingFrontEnd("telegram"))
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stop: asyncio.Event | None = None

    def start(self) -> LiveSite:
        ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True, name="web-site")
        self._thread.start()
        ready.result(timeout=120)
        return self

    def _run(self, ready: Future[None]) -> None:
        asyncio.run(self._main(ready))

    async def _main(self, ready: Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with create_app(self.settings) as app, web_server(app, "127.0.0.1", 0) as port:
                self.app = app
                app.service.register_frontend(self.frontend)
                await self._seed(app)
                self.url = f"http://127.0.0.1:{port}"
                ready.set_result(None)
                await self._stop.wait()
                await app.service.wait_idle()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    async def _seed(self, app: App) -> None:
        service = app.service
        for person in (ALICE, BOB):
            await service.grant(person, GRANT)
        await service.configure(ALICE, GROUP, "gallery", "on", is_admin=True)
        await service.profile(ALICE, GROUP, share=True)  # Alice chose to show her profile; Bob did not
        rare = 0
        for attempt in range(40):  # 10-pulls until both people have a Rare-or-better best in the group
            person = (ALICE, BOB)[attempt % 2]
            answer = await service.pull(person, GROUP, PATTERN, "btc", 10)
            rare += tier_at_least(answer.best.tier, "Rare")
            if rare >= 3 and attempt >= 3:
                break
        await service.pull(ALICE, OTHER_GROUP, "^xyz", "btc", 1)
        await service.pull(BOB, None, "dead", "eth", 1, allow_easy=True)
        config = await service.config(ALICE, GROUP, is_admin=True)
        self.slug = config.config.gallery_slug or ""

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=120)

    def secrets(self) -> list[str]:
        """Every private key the bot delivered (what no page may contain)."""
        return [s.value for _, delivery in self.frontend.deliveries for s in delivery.secrets]

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=60)


def site_settings(tmp: Path, **overrides: Any) -> Settings:
    base = dict(
        web_mode="on", telegram_token=BOT_TOKEN, free_pulls_per_day=0, pull_price=1, web_requests_per_minute=100_000
    )
    base.update(overrides)
    return small_settings(tmp, **base)
