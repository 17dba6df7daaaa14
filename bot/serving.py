"""Serving one aiohttp application on host:port for as long as a context lasts: the /metrics listener and the
public pages' own server (the Stripe webhook's server lives in payments/, which the bot does not share code with)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bot.config import ConfigError
from gpu_worker.i18n import N_
from gpu_worker.localized import phrase

if TYPE_CHECKING:
    from aiohttp import web


@asynccontextmanager
async def serving(
    application: web.Application, host: str, port: int, *, what: str, port_setting: str
) -> AsyncIterator[int]:
    """Listen on host:port (0: any free port) and yield the bound port; a port that cannot be had is one
    ConfigError naming `what` and the setting to change, never a traceback."""
    from aiohttp import web

    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise ConfigError(
            phrase(
                N_("cannot serve {what} on {address} ({reason}): set {setting} to a free port"),
                what=what,
                address=f"{host}:{port}",
                reason=err.strerror,
                setting=port_setting,
            )
        ) from err
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
