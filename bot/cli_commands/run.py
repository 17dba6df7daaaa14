"""`vanikeys bot`: every configured front end (the console when no chat platform is), the webhook and /metrics."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
from typing import TYPE_CHECKING

from bot.cli_commands import fail, settings, storage_faults
from gpu_worker.i18n import _
from gpu_worker.localized import in_current_locale

if TYPE_CHECKING:
    from bot.config import Settings
    from payments.config import StripeSettings

log = logging.getLogger("vanikeys")


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `bot` (run every configured front end) to the subcommands."""
    bot_cmd = commands.add_parser("bot", description=_("Run every configured front end."))
    bot_cmd.set_defaults(func=cmd_bot)


def cmd_bot(args: argparse.Namespace) -> int:
    """Run the bot until interrupted: every configured front end, or the console when none is.

    Returns 0 on a clean stop, 2 with one line for bad settings, a storage fault or a rejected chat token.
    """
    from bot import logs
    from bot.config import ConfigError
    from bot.memory import limit_malloc_arenas

    config = settings()
    stripe = _stripe_settings()
    platforms = [
        name for name, token in (("discord", config.discord_token), ("telegram", config.telegram_token)) if token
    ]
    # With no chat platform the console is the front end, and log lines would interleave with it.
    try:
        logs.setup(logging.INFO if platforms else logging.WARNING, secrets=logs.configured_secrets(config, stripe))
    except ConfigError as exc:
        return fail(in_current_locale(exc))
    limit_malloc_arenas(config.malloc_arenas)  # before the bot's threads start
    try:
        return asyncio.run(_bot(config, stripe, platforms))
    except KeyboardInterrupt:
        return 0
    except storage_faults() + (ConfigError,) as exc:
        return fail(in_current_locale(exc))
    except Exception as exc:
        if _is_rejected_token(exc):
            error = f"{type(exc).__name__}: {exc}"
            return fail(_("{error}. Check DISCORD_TOKEN / TELEGRAM_TOKEN.", error=error))
        raise


def _stripe_settings() -> StripeSettings | None:
    """Validated before anything starts: half a Stripe configuration is an error, not "no payments"."""
    from payments.config import StripeSettings
    from payments.errors import PaymentsError

    try:
        return StripeSettings.from_env()
    except PaymentsError as exc:
        raise SystemExit(fail(in_current_locale(exc))) from None


def _is_rejected_token(exc: BaseException) -> bool:
    import discord
    import telegram.error

    return isinstance(exc, (discord.LoginFailure, telegram.error.InvalidToken))


async def _bot(settings: Settings, stripe: StripeSettings | None, platforms: list[str]) -> int:
    """Run every front end (the console when no platform is configured) until one stops or SIGTERM."""
    stopping = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows' event loop
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    # Telegram is reached first, while storage opens: the bot's own modules load and the database migrates during
    # the round trip. No front end accepts a command before create_app has opened, migrated and checked the vault.
    reaching = (
        asyncio.create_task(_reach_telegram(settings), name="telegram check") if "telegram" in platforms else None
    )
    await asyncio.sleep(0)  # its first step: python-telegram-bot imported, the request under way
    try:
        return await _serve(settings, stripe, platforms, stopping, reaching)
    finally:
        if reaching is not None:
            reaching.cancel()
            await asyncio.gather(reaching, return_exceptions=True)


async def _reach_telegram(settings: Settings) -> None:
    """Telegram's getMe with the token (retried like every start-up check): a refused token or no network ends the
    start with one line, before any front end starts."""
    from bot.settings import load_settings
    from bot.startup import check_telegram

    one = load_settings()
    await check_telegram(
        settings.telegram_token or "", one.telegram_api_base_url, one.telegram_api_file_url, settings.start_retry_s
    )


async def _reached(reaching: asyncio.Task[None], stopping: asyncio.Event) -> bool:
    """Wait for the Telegram check (its StartupFault raised here, one line) or SIGTERM, whichever comes first:
    False when SIGTERM came first."""
    stop = asyncio.create_task(stopping.wait(), name="sigterm")
    try:
        await asyncio.wait([reaching, stop], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        await asyncio.gather(stop, return_exceptions=True)
    if not reaching.done():
        return False
    reaching.result()
    return True


async def _serve(
    settings: Settings,
    stripe: StripeSettings | None,
    platforms: list[str],
    stopping: asyncio.Event,
    reaching: asyncio.Task[None] | None,
) -> int:
    if reaching is not None:  # the app's modules load on a worker thread while the event loop connects to Telegram
        await asyncio.to_thread(importlib.import_module, "bot.app")
    from bot import metrics
    from bot.app import create_app
    from bot.startup import check_services

    metrics_config = metrics.MetricsConfig.from_env()
    await check_services(settings, stripe)  # Stripe and the GPU providers reached, or one line and exit 2
    async with create_app(settings) as app, contextlib.AsyncExitStack() as stack:
        if reaching is not None:
            if not await _reached(reaching, stopping):
                return 0  # SIGTERM while Telegram was still being reached
            app.reached.add("telegram")
        await stack.enter_async_context(metrics.metrics_server(app, metrics_config))
        if stripe is not None:
            from bot.payment_issues import PaymentIssues
            from bot.web.server import web_subapps
            from payments.webhook import webhook_server

            webhook = await stack.enter_async_context(
                webhook_server(
                    stripe,
                    app.service.apply_instruction,
                    report=PaymentIssues(app.db).record,
                    subapps=web_subapps(app),
                    **metrics.webhook_routes(app, metrics_config, stripe.webhook_host),
                )
            )
            log.info("Stripe webhook listening at %s", webhook.url)
        elif settings.web_enabled:  # no webhook: the public pages get the same address to themselves
            from bot.web.server import web_server

            await stack.enter_async_context(web_server(app, settings.webhook_host, settings.webhook_port))
        front_ends = [
            asyncio.create_task(importlib.import_module(f"bot.frontends.{platform}").run(app, settings), name=platform)
            for platform in platforms
        ]
        if not platforms:
            from bot.frontends.console import run_console

            front_ends.append(
                asyncio.create_task(
                    run_console(app.service, user_name="you", community_name="console", as_json=False), name="console"
                )
            )
        stop = asyncio.create_task(stopping.wait(), name="sigterm")
        try:
            done, _ = await asyncio.wait([*front_ends, stop], return_when=asyncio.FIRST_COMPLETED)
            if not platforms and (stripe is not None or settings.web_enabled) and not stop.done():
                # The console reached end of input (a container has none): payments still need the webhook.
                serving = "the Stripe webhook" if stripe is not None else "the web pages"
                log.warning("console closed; still serving %s until stopped (Ctrl-C or SIGTERM)", serving)
                await stop
        finally:
            for task in [*front_ends, stop]:
                task.cancel()
            await asyncio.gather(*front_ends, stop, return_exceptions=True)
        for task in done:
            if task is not stop and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return 0
