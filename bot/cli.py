"""The `vanikeys` command: the engine's subcommands (grind, odds, combine, bench) plus `bot` and `console`.

    vanikeys bot                                   every configured front end (console when none is)
    vanikeys console [--user NAME] [--community NAME] [--json]
    vanikeys vault rotate --old OLD_KEY_FILE --new NEW_KEY_FILE   re-seal every waiting secret under a new key
    vanikeys card FORMAT IDENTIFIER PATTERN [--out FILE]   a reveal card (PNG) for an identifier
    vanikeys admin ...                             the operator's command line (bot/admin.py)
    vanikeys backup DEST / restore SRC             backups that restore (bot/backup.py)
    vanikeys doctor [--json]                       check every configured dependency live (bot/doctor)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gpu_worker.cli import build_parser, run

from bot import logs
from bot.admin import add_admin_commands
from bot.backup import add_backup_commands
from bot.config import ConfigError, Settings
from bot.memory import limit_malloc_arenas

if TYPE_CHECKING:
    from payments.config import StripeSettings

log = logging.getLogger("vanikeys")


def add_bot_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bot_cmd = commands.add_parser("bot", help="run the bot: Discord and/or Telegram when their tokens are set, "
                                              "else the console", description="Run every configured front end.")
    bot_cmd.set_defaults(func=cmd_bot)
    console_cmd = commands.add_parser("console", help="use the bot from this terminal (or a pipe)",
                                      description="The chat commands (/pull, /order, ...) typed at the console.")
    console_cmd.add_argument("--user", default="you", metavar="NAME", help="who you are at the console (default: you)")
    console_cmd.add_argument("--community", default="console", metavar="NAME",
                             help="the community for leaderboards (default: console)")
    console_cmd.add_argument("--json", action="store_true", help="one JSON object per reply, private deliveries marked")
    console_cmd.set_defaults(func=cmd_console)
    vault_cmd = commands.add_parser("vault", help="manage the vault of undelivered private keys",
                                    description="Manage the vault key.")
    vault_actions = vault_cmd.add_subparsers(dest="vault_action", required=True, metavar="ACTION")
    rotate_cmd = vault_actions.add_parser(
        "rotate", help="re-seal every waiting secret from the old key to the new one, in one transaction",
        description="Re-seal every undelivered secret in VANIKEYS_DB from --old to --new in one transaction. "
                    "Each is a key file's path (--new is created with a fresh key when it does not exist) or a key.")
    rotate_cmd.add_argument("--old", required=True, metavar="KEY_FILE", help="the key the secrets are sealed with")
    rotate_cmd.add_argument("--new", required=True, metavar="KEY_FILE", help="the key to seal them with")
    rotate_cmd.set_defaults(func=cmd_vault_rotate)
    card_cmd = commands.add_parser("card", help="render a reveal card (PNG) for an identifier and a pattern",
                                   description="Score IDENTIFIER against PATTERN, rate it as the best of one pull, "
                                               "and draw its card (never a secret).")
    card_cmd.add_argument("format", metavar="FORMAT", help="btc, did, eth or trx")
    card_cmd.add_argument("identifier", metavar="IDENTIFIER", help="the address or DID")
    card_cmd.add_argument("pattern", metavar="PATTERN", help="the pattern, e.g. ^Love")
    card_cmd.add_argument("--out", metavar="FILE", help="where to write the PNG (default: a name from the identifier)")
    card_cmd.add_argument("--exact-case", action="store_true", help="match letters in exact case")
    card_cmd.add_argument("--fuzzy", action="store_true", help="accept look-alike characters")
    card_cmd.add_argument("--community", default="", metavar="NAME", help="a server name for the card's footer")
    card_cmd.set_defaults(func=cmd_card)
    add_admin_commands(commands)
    add_backup_commands(commands)
    doctor_cmd = commands.add_parser("doctor", help="check every configured dependency live, with each fix",
                                     description="Check the chat tokens, Stripe, the GPU providers, storage, the "
                                                 "vault key, free disk and the clock: one line each (bot/doctor).")
    doctor_cmd.add_argument("--json", action="store_true", help="one JSON object per check")
    doctor_cmd.set_defaults(func=cmd_doctor)
    costs_cmd = commands.add_parser("costs", help="GPU cost per pull and per order, by provider, beside revenue",
                                    description="What grinding cost over the last days (bot/costs.py).")
    costs_cmd.add_argument("--days", default="7", metavar="N", help="how many days back (default 7)")
    costs_cmd.set_defaults(func=cmd_costs)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise SystemExit(_fail(str(exc))) from None


def _fail(message: str) -> int:
    print(f"vanikeys: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _storage_faults() -> tuple[type[BaseException], ...]:
    """Faults that stop the bot from starting, answered with one line and exit code 2 (never a traceback)."""
    from bot.storage import StorageError
    from bot.vault import VaultError

    return StorageError, VaultError


def cmd_console(args: argparse.Namespace) -> int:
    user = args.user.strip()
    if not user or len(user) > 64:
        return _fail("--user must be a name of 1 to 64 characters")
    try:
        return asyncio.run(_console(_settings(), user, args.community.strip() or None, args.json))
    except _storage_faults() as exc:
        return _fail(str(exc))


def cmd_vault_rotate(args: argparse.Namespace) -> int:
    from bot.storage.opening import storage_faults_answered

    with storage_faults_answered():
        return asyncio.run(_vault_rotate(_settings(), args.old, args.new))


async def _vault_rotate(settings: Settings, old_text: str, new_text: str) -> int:
    from bot.storage.opening import open_configured
    from bot.vault import fingerprint, load_key_argument, rotate

    old = load_key_argument(old_text, create=False)
    new = load_key_argument(new_text, create=True)
    db = await open_configured(settings)
    try:
        moved = await rotate(db, old, new)
    finally:
        await db.close()
    where = "VANIKEYS_VAULT_KEY" if settings.vault_key else f"the key file {settings.resolved_vault_key_file}"
    print(f"re-sealed {moved} secret(s) in {db.description} under key {fingerprint(new)}: now replace {where} "
          f"with the new key ({new_text}) in every bot process, then start the bot")
    return 0


async def _console(settings: Settings, user: str, community: str | None, as_json: bool) -> int:
    from bot.app import create_app
    from bot.frontends.console import run_console
    from bot.web.server import web_server, web_subapps

    async with create_app(settings) as app:
        return await run_console(app.service, user_name=user, community_name=community, as_json=as_json)


def cmd_card(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.answers import ServiceError
    from bot.service import card_for_identifier

    settings = _settings()
    try:
        card = card_for_identifier(args.format, args.identifier, args.pattern, pull_keys=settings.pull_budget,
                                   exact_case=args.exact_case, fuzzy=args.fuzzy,
                                   community_title=args.community.strip()[:60])
    except ServiceError as exc:
        return _fail(exc.message)
    out = Path(args.out) if args.out else Path(card.filename)
    try:
        out.write_bytes(card.png)
    except OSError as exc:
        return _fail(f"cannot write {out}: {exc.strerror or type(exc).__name__}")
    key = card.key
    badge = ", full match" if key.full else ""
    print(f"{out}: {key.identifier} {key.score}/{key.max_score} {key.tier}{badge}, "
          f"{card.width}x{card.height} PNG")
    return 0


def cmd_costs(args: argparse.Namespace) -> int:
    from gpu_worker.errors import VanikeysError
    from gpu_worker.numbers import parse_int

    try:
        days = parse_int(args.days, what="--days", minimum=1, maximum=3650)
    except VanikeysError as exc:
        return _fail(exc.message)
    from bot.storage.opening import storage_faults_answered

    with storage_faults_answered():
        return asyncio.run(_costs(_settings(), days))


async def _costs(settings: Settings, days: int) -> int:
    from bot.costs import cost_report
    from bot.settings import load_settings
    from bot.storage.opening import open_configured

    usd_per_token = load_settings().usd_per_token  # validated with the rest by _settings()
    db = await open_configured(settings)
    try:
        print((await cost_report(db, days, usd_per_token=usd_per_token)).render())
    finally:
        await db.close()
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.doctor import cmd_doctor as doctor

    return doctor(args)


def cmd_bot(args: argparse.Namespace) -> int:
    settings = _settings()
    stripe = _stripe_settings()
    platforms = [name for name, token in (("discord", settings.discord_token), ("telegram", settings.telegram_token))
                 if token]
    # With no chat platform the console is the front end, and log lines would interleave with it.
    try:
        logs.setup(logging.INFO if platforms else logging.WARNING, secrets=logs.configured_secrets(settings, stripe))
    except ConfigError as exc:
        return _fail(str(exc))
    limit_malloc_arenas(settings.malloc_arenas)  # before the bot's threads start
    try:
        return asyncio.run(_bot(settings, stripe, platforms))
    except KeyboardInterrupt:
        return 0
    except (ConfigError, *_storage_faults()) as exc:
        return _fail(str(exc))
    except Exception as exc:
        if _is_rejected_token(exc):
            return _fail(f"{type(exc).__name__}: {exc}. Check DISCORD_TOKEN / TELEGRAM_TOKEN.")
        raise


def _stripe_settings() -> StripeSettings | None:
    """Validated before anything starts: half a Stripe configuration is an error, not "no payments"."""
    from payments.config import StripeSettings
    from payments.errors import PaymentsError

    try:
        return StripeSettings.from_env()
    except PaymentsError as exc:
        raise SystemExit(_fail(exc.message)) from None


def _is_rejected_token(exc: BaseException) -> bool:
    import discord
    import telegram.error

    return isinstance(exc, (discord.LoginFailure, telegram.error.InvalidToken))


async def _bot(settings: Settings, stripe: StripeSettings | None, platforms: list[str]) -> int:
    """Run every front end (the console when no platform is configured) until one stops or SIGTERM."""
    from bot.app import create_app
    from bot.frontends.console import run_console
    from bot.web.server import web_server, web_subapps

    stopping = asyncio.Event()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows' event loop
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    from bot import metrics

    from bot.startup import check_services

    metrics_config = metrics.MetricsConfig.from_env()
    await check_services(settings, stripe)  # Stripe and the GPU providers reached, or one line and exit 2
    async with create_app(settings) as app, contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(metrics.metrics_server(app, metrics_config))
        if stripe is not None:
            from payments.webhook import webhook_server

            from bot.payment_issues import PaymentIssues

            webhook = await stack.enter_async_context(webhook_server(
                stripe, app.service.apply_instruction, report=PaymentIssues(app.db).record,
                subapps=web_subapps(app), **metrics.webhook_routes(app, metrics_config, stripe.webhook_host)))
            log.info("Stripe webhook listening at %s", webhook.url)
        else:  # no webhook: the public pages (when on) get the same address to themselves
            await stack.enter_async_context(web_server(app, settings.webhook_host, settings.webhook_port))
        front_ends = [asyncio.create_task(importlib.import_module(f"bot.frontends.{platform}").run(app, settings),
                                          name=platform) for platform in platforms]
        if not platforms:
            front_ends.append(asyncio.create_task(
                run_console(app.service, user_name="you", community_name="console", as_json=False), name="console"))
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


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(extra=add_bot_commands), argv)


if __name__ == "__main__":
    sys.exit(main())
