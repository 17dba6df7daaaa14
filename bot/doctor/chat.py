"""Checks on the chat platforms: Discord (the bot user, the install settings, an invite URL) and Telegram
(getMe, the webhook or polling, group privacy mode)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from bot.doctor.model import Context, Finding, fail, ok, skip, warn
from gpu_worker.i18n import N_, _

DISCORD_SCOPES = ("bot", "applications.commands")
PORTAL = "https://discord.com/developers/applications"


def discord_permissions() -> tuple[int, list[str]]:
    """The permission bits a reveal needs (bot/frontends/discord/permissions.py), and their names."""
    import discord

    from bot.frontends.discord.permissions import REVEAL_PERMISSIONS

    value = discord.Permissions(**{attribute: True for attribute, _label in REVEAL_PERMISSIONS}).value
    return value, [label for _attribute, label in REVEAL_PERMISSIONS]


def invite_url(application_id: str) -> str:
    """The Discord invite link for the application, with the scopes and the permissions a reveal needs."""
    permissions, _labels = discord_permissions()
    return "https://discord.com/oauth2/authorize?" + urlencode(
        {"client_id": application_id, "scope": " ".join(DISCORD_SCOPES), "permissions": str(permissions)}
    )


async def discord(ctx: Context) -> list[Finding]:
    """Check DISCORD_TOKEN, the application's install settings and the invite link; skipped without a token."""
    token = ctx.settings.discord_token
    if not token:
        return [skip(N_("discord"), _("not configured (set {variable} to run it)", variable="DISCORD_TOKEN"))]
    headers = {"Authorization": f"Bot {token}"}
    status, me = await ctx.call("Discord", "GET", f"{ctx.discord_api}/users/@me", headers=headers)
    if status == 401:
        return [
            fail(
                N_("discord token"),
                _("Discord rejects {variable} ({status})", variable="DISCORD_TOKEN", status=401),
                _("{portal} → your application → Bot → Reset Token, and set the new token", portal=PORTAL),
            )
        ]
    if status != 200 or not isinstance(me, dict):
        return [
            fail(
                N_("discord token"),
                _("Discord answered {request} with HTTP {status}", request="/users/@me", status=status),
                _("try again later; {url}", url="https://discordstatus.com"),
            )
        ]
    found = [ok(N_("discord token"), _("bot user {name} (id {id})", name=me.get("username"), id=me.get("id")))]
    status, app = await ctx.call("Discord", "GET", f"{ctx.discord_api}/applications/@me", headers=headers)
    if status != 200 or not isinstance(app, dict):
        return found + [
            fail(
                N_("discord application"),
                _("Discord answered {request} with HTTP {status}", request="/applications/@me", status=status),
                _("check that the token is the application's bot token"),
            )
        ]
    found.append(_install_settings(app))
    found.append(ok(N_("discord invite"), invite_url(str(app.get("id")))))
    return found


def _install_settings(app: dict[str, Any]) -> Finding:
    """The default install link's scopes and permissions (Installation → Guild Install in the portal)."""
    params = app.get("install_params") or (
        ((app.get("integration_types_config") or {}).get("0") or {}).get("oauth2_install_params")
    )
    needed, labels = discord_permissions()
    where = f"{PORTAL}/{app.get('id')}/installation → Guild Install"
    wanted = _(
        "{where}: scopes {scopes}, permissions {permissions}",
        where=where,
        scopes=" ".join(DISCORD_SCOPES),
        permissions=", ".join(labels),
    )
    if not params:
        return warn(
            N_("discord install settings"),
            _("no default install link: the app's Add App button is off"),
            _("{wanted}; or invite it with the URL below", wanted=wanted),
        )
    scopes = set(params.get("scopes") or ())
    missing_scopes = [s for s in DISCORD_SCOPES if s not in scopes]
    granted = int(params.get("permissions") or 0)
    missing = [label for label, bit in zip(labels, _bits(needed), strict=True) if not granted & bit]
    if missing_scopes or missing:
        what = ([_("scopes lack {scopes}", scopes=", ".join(missing_scopes))] if missing_scopes else []) + (
            [_("permissions lack {permissions}", permissions=", ".join(missing))] if missing else []
        )
        return warn(N_("discord install settings"), "; ".join(what), wanted)
    extra = granted & ~needed
    if extra:
        return ok(
            N_("discord install settings"),
            _(
                "scopes {scopes}; permissions {granted} (more than the {needed} needed)",
                scopes=" ".join(sorted(scopes)),
                granted=granted,
                needed=needed,
            ),
        )
    return ok(
        N_("discord install settings"),
        _("scopes {scopes}; permissions {granted}", scopes=" ".join(sorted(scopes)), granted=granted),
    )


def _bits(value: int) -> list[int]:
    return [1 << i for i in range(value.bit_length()) if value >> i & 1]


async def telegram(ctx: Context) -> list[Finding]:
    """Check TELEGRAM_TOKEN, the group privacy mode and how updates arrive (webhook or polling); skipped without a
    token.
    """
    settings = ctx.settings
    token = settings.telegram_token
    if not token:
        return [skip(N_("telegram"), _("not configured (set {variable} to run it)", variable="TELEGRAM_TOKEN"))]
    base = settings.telegram_api_base_url.rstrip("/")
    status, body = await ctx.call("Telegram", "GET", f"{base}{token}/getMe")
    if status in (401, 404):
        return [
            fail(
                N_("telegram token"),
                _("Telegram rejects {variable} ({status})", variable="TELEGRAM_TOKEN", status=status),
                _("ask @BotFather for the bot's token (/mybots → the bot → API Token) and set it"),
            )
        ]
    if status != 200 or not isinstance(body, dict) or not body.get("ok"):
        return [
            fail(
                N_("telegram token"),
                _("Telegram answered {request} with HTTP {status}", request="getMe", status=status),
                _("try again later"),
            )
        ]
    me = body["result"]
    found = [ok(N_("telegram token"), _("bot @{name} (id {id})", name=me.get("username"), id=me.get("id")))]
    if me.get("can_read_all_group_messages"):
        found.append(ok(N_("telegram privacy mode"), _("off: every command in a group reaches the bot")))
    else:
        found.append(
            warn(
                N_("telegram privacy mode"),
                _(
                    "on: in a group with other bots a plain /pull reaches this bot only when it spoke last "
                    "(/pull@{name} always does)",
                    name=me.get("username"),
                ),
                _(
                    "@BotFather → /setprivacy → the bot → Disable (the bot reads commands only), then remove and "
                    "re-add it to each group"
                ),
            )
        )
    status, body = await ctx.call("Telegram", "GET", f"{base}{token}/getWebhookInfo")
    if status != 200 or not isinstance(body, dict) or not body.get("ok"):
        return found + [
            fail(
                N_("telegram updates"),
                _("Telegram answered {request} with HTTP {status}", request="getWebhookInfo", status=status),
                _("try again later"),
            )
        ]
    found.append(_updates(settings.telegram_webhook_url, body["result"]))
    return found


def _updates(configured: str | None, info: dict[str, Any]) -> Finding:
    current = info.get("url") or ""
    pending = int(info.get("pending_update_count") or 0)
    if configured is None:
        if current:
            return warn(
                N_("telegram updates"),
                _("polling is configured but a webhook is set ({url})", url=current),
                _("polling deletes it at start: if another deployment uses that webhook, give each its own bot token"),
            )
        return ok(
            N_("telegram updates"),
            _("polling (no webhook set), {pending} update(s) waiting", pending=pending),
        )
    if not current:
        return warn(
            N_("telegram updates"),
            _("{variable} is set but Telegram has no webhook yet", variable="TELEGRAM_WEBHOOK_URL"),
            _("start the bot: it registers the webhook"),
        )
    if current != configured:
        return fail(
            N_("telegram updates"),
            _(
                "Telegram sends updates to {url}, not {variable} {configured}",
                url=current,
                variable="TELEGRAM_WEBHOOK_URL",
                configured=configured,
            ),
            _(
                "start the bot to register its webhook, or set {variable} to the one in use",
                variable="TELEGRAM_WEBHOOK_URL",
            ),
        )
    if info.get("last_error_message"):
        return fail(
            N_("telegram updates"),
            _("Telegram cannot deliver to {url}: {error}", url=current, error=info["last_error_message"]),
            _(
                "make that HTTPS URL reach {listen}:{port} (a reverse proxy with a valid certificate)",
                listen="TELEGRAM_WEBHOOK_LISTEN",
                port="TELEGRAM_WEBHOOK_PORT",
            ),
        )
    return ok(
        N_("telegram updates"),
        _("webhook {url}, {pending} update(s) waiting", url=current, pending=pending),
    )
