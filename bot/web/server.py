"""Serving the pages: mounted on the Stripe webhook's server when there is one, else on a server of their own
at the same address (VANIKEYS_WEBHOOK_HOST:VANIKEYS_WEBHOOK_PORT)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from bot.app import App
from bot.config import WEB_PREFIX
from bot.serving import serving
from bot.web.app import build_web_app

log = logging.getLogger(__name__)


def web_subapps(app: App) -> list[tuple[str, web.Application]]:
    """What payments.webhook mounts: the pages under /web when they are on (VANIKEYS_WEB / VANIKEYS_PUBLIC_URL)."""
    if not app.settings.web_enabled:
        return []
    token = app.settings.telegram_token
    cooldown_s = 3.0
    if token:
        from bot.frontends.telegram.config import TelegramConfig

        cooldown_s = TelegramConfig.from_env(token).cooldown_s  # the Mini App's pull waits as long as /pull does
    return [(WEB_PREFIX, build_web_app(app, bot_token=token, pull_cooldown_s=cooldown_s))]


@asynccontextmanager
async def web_server(app: App, host: str, port: int) -> AsyncIterator[int | None]:
    """The pages on host:port without the webhook (no Stripe configured); yields the bound port, None when off."""
    subapps = web_subapps(app)
    if not subapps:
        yield None
        return
    root = web.Application()
    for prefix, sub in subapps:
        root.add_subapp(prefix, sub)
    async with serving(root, host, port, what="the web pages", port_setting="VANIKEYS_WEBHOOK_PORT") as bound:
        log.info("web pages listening on %s:%d%s/", host, bound, WEB_PREFIX)
        yield bound
