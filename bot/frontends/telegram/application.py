"""The python-telegram-bot Application: handlers, published commands, polling or webhook.

`running(service, config)` is the one way to bring the bot up (tests use it
against a loopback Bot API); `run(app, settings)` is what `vanikeys bot` awaits.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from aiohttp import web
from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    JobQueue,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.config import ConfigError, Settings
from bot.frontends.telegram.config import TelegramConfig
from bot.frontends.telegram.frontend import TelegramFrontEnd
from bot.frontends.telegram.handlers import TelegramHandlers
from bot.frontends.telegram.kept import CLOSE_TIMEOUT_S, StoredKeeper, post_kept_forever
from bot.frontends.telegram.language import UpdateLanguage
from bot.i18n import DEFAULT, LOCALES, N_, _, use_locale
from bot.service import Service
from bot.startup import check_telegram
from gpu_worker.localized import phrase

if TYPE_CHECKING:  # for the annotation only: importing bot.app would load the grinders and storage for nothing
    from bot.app import App

log = logging.getLogger(__name__)

# The Application ApplicationBuilder().build() makes: python-telegram-bot's default context, bot and stores.
TelegramApplication = Application[
    ExtBot[None],
    ContextTypes.DEFAULT_TYPE,
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    JobQueue[ContextTypes.DEFAULT_TYPE],
]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def quiet_secret_logging() -> None:
    """python-telegram-bot logs every call's parameters at DEBUG (a delivered key among them)
    and httpx logs every URL at INFO (the bot token is in it): keep both out of the logs."""
    for name in ("telegram.Bot", "telegram.ext.ExtBot"):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


@cache
def trust_store() -> ssl.SSLContext:
    """The system's trust store, loaded once per process: httpx loads it anew for every client it makes
    otherwise (about 30 ms of CPU each), and python-telegram-bot makes two per Application."""
    return ssl.create_default_context()


def build_application(service: Service, config: TelegramConfig) -> tuple[TelegramApplication, TelegramHandlers]:
    """The Application (not started) with every handler registered, its front end's outbox keeping to the database,
    and the front end registered with the service; returns it with the handlers (tests reach into them)."""
    quiet_secret_logging()
    builder = (
        ApplicationBuilder()
        .token(config.token)
        .base_url(config.api_base_url)
        .base_file_url(config.api_file_url)
        .concurrent_updates(config.concurrent_updates)
        # Its two clients as python-telegram-bot builds them (pools of 256, and 1 for getUpdates), with one
        # trust store between them.
        .request(HTTPXRequest(connection_pool_size=256, httpx_kwargs={"verify": trust_store()}))
        .get_updates_request(
            HTTPXRequest(
                connection_pool_size=1,
                read_timeout=config.poll_timeout_s + 10,
                httpx_kwargs={"verify": trust_store()},
            )
        )
    )
    # No python-telegram-bot rate limiter: the outbox is the one pacer. With AIORateLimiter as well, two
    # budgets disagreed (its leaky buckets counted chat actions and edits its own way, and its waiters are
    # not served in order), and a key delivery or reveal could wait behind it indefinitely under load.
    if config.webhook_mode:
        builder = builder.updater(None)
    application = builder.build()
    frontend = TelegramFrontEnd(application.bot, config.outbox)
    frontend.outbox.keeper = StoredKeeper(service, renew_every_s=_kept_every_s(service))
    handlers = TelegramHandlers(service, config, frontend)
    application.add_handler(TypeHandler(Update, UpdateLanguage(service)), group=-2)  # before any answer
    application.add_handler(TypeHandler(Update, handlers.refuse_stale), group=-1)
    commands = {
        "start": handlers.start,
        "help": handlers.help,
        "pull": handlers.pull,
        "order": handlers.order,
        "odds": handlers.odds,
        "balance": handlers.balance,
        "topup": handlers.topup,
        "keys": handlers.keys,
        "history": handlers.history,
        "leaderboard": handlers.leaderboard,
        "paysupport": handlers.pay_support,
        "refundstars": handlers.refund_stars,
        "config": handlers.config_command,
        "gift": handlers.gift,
        "profile": handlers.profile,
        "streak": handlers.streak,
        "season": handlers.season,
        "card": handlers.card,
    }
    # block=False: each command and button press runs as its own task, so a slow pull never holds
    # an update slot and a button press is answered at once however busy the bot is.
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback, block=False))
    application.add_handler(CallbackQueryHandler(handlers.button, block=False))
    application.add_handler(PreCheckoutQueryHandler(handlers.pre_checkout, block=False))
    application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, handlers.successful_payment))
    application.add_handler(MessageHandler(filters.StatusUpdate.REFUNDED_PAYMENT, handlers.refunded_payment))
    application.add_error_handler(_log_error)
    service.register_frontend(frontend)
    return application, handlers


async def _log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("update not handled: %s", type(context.error).__name__, exc_info=context.error)


# What makes sense in a group; the rest (balance, keys, history, top-ups) is personal: private chats.
GROUP_COMMANDS = frozenset({"pull", "order", "odds", "leaderboard", "season", "config", "gift", "card", "help"})
# Telegram's own community commands, beside the service's list (translated where they are published).
COMMUNITY_COMMANDS = (
    ("config", N_("Group admins: where pulls go, announcements, free pulls, language")),
    ("gift", N_("Reply to someone's message with /gift TOKENS")),
    ("profile", N_("Your best pulls, streak and season rank ('share' shows it, 'hide' unnames you on the web)")),
    ("streak", N_("Your daily pull streak")),
    ("season", N_("This week's rarest pulls here")),
    ("card", N_("A picture of your latest pull")),
)


def command_menu(service: Service) -> list[BotCommand]:
    """The commands and their descriptions (at most 256 characters) in the current locale."""
    commands = [BotCommand(c.name, c.summary[:256] or c.name) for c in service.help().commands]
    if not any(c.command == "help" for c in commands):
        commands.append(BotCommand("help", _("How to use the bot")))
    commands += [
        BotCommand(name, _(summary)[:256])
        for name, summary in COMMUNITY_COMMANDS
        if name not in {k.command for k in commands}
    ]
    return commands


async def publish_commands(application: TelegramApplication, service: Service) -> None:
    """The command menus people see, per scope and per language (Telegram shows the one for a person's
    language_code, else the default), from the service's own help (one source of truth)."""
    for locale in LOCALES:
        with use_locale(locale):
            commands = command_menu(service)
        group = [c for c in commands if c.command in GROUP_COMMANDS]
        language = None if locale == DEFAULT else locale.split("_")[0]  # None: not sent, the default menus
        if language is None:
            await application.bot.set_my_commands(commands)
        await application.bot.set_my_commands(commands, scope=BotCommandScopeAllPrivateChats(), language_code=language)
        await application.bot.set_my_commands(group, scope=BotCommandScopeAllGroupChats(), language_code=language)


class WebhookServer:
    """Receives Telegram's POSTs (checking the secret header) and queues them for the Application."""

    def __init__(self, application: TelegramApplication, config: TelegramConfig) -> None:
        self.application = application
        self.config = config
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Serve the webhook on `webhook_listen:webhook_port` and register `webhook_url` and its secret with
        Telegram."""
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/" + self.config.webhook_path, self._receive)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.config.webhook_listen, self.config.webhook_port).start()
        await self.application.bot.set_webhook(
            url=self.config.webhook_url or "", secret_token=self.config.webhook_secret, allowed_updates=Update.ALL_TYPES
        )

    async def stop(self) -> None:
        """Stop serving; the webhook stays registered, so Telegram holds updates until the next start."""
        # The webhook stays registered: Telegram keeps updates for us until we are back.
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.config.webhook_secret.encode()):
            return web.Response(status=403)
        try:
            update = Update.de_json(await request.json(), self.application.bot)
        except Exception:
            return web.Response(status=400)
        await self.application.update_queue.put(update)
        return web.Response(status=200)


@asynccontextmanager
async def running(
    service: Service, config: TelegramConfig
) -> AsyncIterator[tuple[TelegramApplication, TelegramHandlers]]:
    """The running bot, for the block's duration: commands published, updates by webhook or long polling, kept
    messages from earlier runs posted. On exit, a bounded shutdown (stop_handlers): what is still queued is kept."""
    application, handlers = build_application(service, config)
    async with application:
        await publish_commands(application, service)
        webhook: WebhookServer | None = None
        if config.webhook_mode:
            webhook = WebhookServer(application, config)
            await webhook.start()
        else:
            await application.bot.delete_webhook()
            updater = application.updater
            assert updater is not None  # polling mode: build_application kept the updater
            await updater.start_polling(timeout=int(config.poll_timeout_s), allowed_updates=Update.ALL_TYPES)
        await application.start()
        keeper = handlers.outbox.keeper
        assert isinstance(keeper, StoredKeeper)
        keeper.start()
        stop_posting = asyncio.Event()
        late = asyncio.create_task(
            post_kept_forever(service, handlers.frontend, keeper.owner, _kept_every_s(service), stop_posting),
            name="telegram-late-reveals",
        )
        try:
            yield application, handlers
        finally:
            stop_posting.set()
            if webhook is not None:
                await webhook.stop()
            elif application.updater is not None and application.updater.running:
                await application.updater.stop()
            await stop_handlers(application, handlers, config.stop_grace_s)
            try:  # ended by the closed outbox, once what went out is forgotten
                await asyncio.wait_for(late, CLOSE_TIMEOUT_S)
            except (TimeoutError, asyncio.CancelledError):
                log.warning("stopping: posting kept messages did not end in time")
            await keeper.close()


def _kept_every_s(service: Service) -> float:
    """How often kept messages' claims are renewed, and lapsed ones looked for: a third of the lapse, which is
    the jobs' lease (a killed process's kept reveals are posted about as soon as its jobs are taken over)."""
    return max(0.2, service.settings.job_lease_s / 3)


async def stop_handlers(application: TelegramApplication, handlers: TelegramHandlers, grace_s: float) -> None:
    """Bounded shutdown: what is queued gets `grace_s` to go out, then the outbox closes and every message
    still waiting fails at once, so no handler waits on it (`Application.stop()` waits for every handler).

    Nothing paid is lost: work that has not got a slot yet is refused before anything is charged; a pull
    already running finishes its grind, and its DM then fails, so the service keeps the key in the vault
    for /keys; a reveal or message still queued (or revealed after the close) is kept (kept.py) and posted
    after the restart."""
    handlers.stopping = True
    await handlers.outbox.idle(timeout=grace_s)
    pending = handlers.outbox.pending()
    await handlers.outbox.close()
    if pending:
        log.info("stopping: %d queued Telegram messages kept to send after the restart", pending)
    if handlers.outbox.dropped_at_close:
        log.warning(
            "stopping: %d queued Telegram messages were not kept (pictures, invoices, key deliveries: "
            "those keys wait in the vault for /keys)",
            handlers.outbox.dropped_at_close,
        )
    await application.stop()


async def run(app: App, settings: Settings) -> None:
    """Run the Telegram bot until cancelled. `app` is bot.app.App (its .service is used)."""
    if not settings.telegram_token:
        raise ConfigError(
            phrase(N_("TELEGRAM_TOKEN is not set: create a bot with @BotFather and set TELEGRAM_TOKEN to its token"))
        )
    config = TelegramConfig.from_env(settings.telegram_token)
    # Reached (getMe) before anything starts: a bad token or no network is one line, not a traceback.
    if "telegram" not in app.reached:  # `vanikeys bot` checks while storage opens
        await check_telegram(config.token, config.api_base_url, config.api_file_url, settings.start_retry_s)
    health = app.health
    async with running(app.service, config) as (application, _handlers):
        mode = "webhook" if config.webhook_mode else "long polling"
        health.watch(
            "telegram",
            lambda: (
                application.running
                and (config.webhook_mode or bool(application.updater and application.updater.running)),
                mode,
            ),
        )
        log.info("Telegram bot running (%s)", mode)
        try:
            await asyncio.Event().wait()
        finally:
            health.stopped("telegram")
