"""Checks on the chat platforms: Discord (the bot user, the install settings, an invite URL) and Telegram
(getMe, the webhook or polling, group privacy mode)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from bot.doctor.model import Context, Finding, fail, ok, skip, warn

DISCORD_SCOPES = ("bot", "applications.commands")
PORTAL = "https://discord.com/developers/applications"


def discord_permissions() -> tuple[int, list[str]]:
    """The permission bits a reveal needs (bot/frontends/discord/permissions.py), and their names."""
    import discord

    from bot.frontends.discord.permissions import REVEAL_PERMISSIONS

    value = discord.Permissions(**{attribute: True for attribute, _ in REVEAL_PERMISSIONS}).value
    return value, [label for _, label in REVEAL_PERMISSIONS]


def invite_url(application_id: str) -> str:
    """The Discord invite link for the application, with the scopes and the permissions a reveal needs."""
    permissions, _ = discord_permissions()
    return "https://discord.com/oauth2/authorize?" + urlencode(
        {"client_id": application_id, "scope": " ".join(DISCORD_SCOPES), "permissions": str(permissions)}
    )


async def discord(ctx: Context) -> list[Finding]:
    """Check DISCORD_TOKEN, the application's install settings and the invite link; skipped without a token."""
    token = ctx.settings.discord_token
    if not token:
        return [skip("discord", "not configured (set DISCORD_TOKEN to run it)")]
    headers = {"Authorization": f"Bot {token}"}
    status, me = await ctx.call("Discord", "GET", f"{ctx.discord_api}/users/@me", headers=headers)
    if status == 401:
        return [
            fail(
                "discord token",
                "Discord rejects DISCORD_TOKEN (401)",
                f"{PORTAL} → your application → Bot → Reset Token, and set the new token",
            )
        ]
    if status != 200 or not isinstance(me, dict):
        return [
            fail(
                "discord token",
                f"Discord answered /users/@me with HTTP {status}",
                "try again later; https://discordstatus.com",
            )
        ]
    found = [ok("discord token", f"bot user {me.get('username')} (id {me.get('id')})")]
    status, app = await ctx.call("Discord", "GET", f"{ctx.discord_api}/applications/@me", headers=headers)
    if status != 200 or not isinstance(app, dict):
        return found + [
            fail(
                "discord application",
                f"Discord answered /applications/@me with HTTP {status}",
                "check that the token is the application's bot token",
            )
        ]
    found.append(_install_settings(app))
    found.append(ok("discord invite", invite_url(str(app.get("id")))))
    return found


def _install_settings(app: dict[str, Any]) -> Finding:
    """The default install link's scopes and permissions (Installation → Guild Install in the portal)."""
    params = app.get("install_params") or (
        ((app.get("integration_types_config") or {}).get("0") or {}).get("oauth2_install_params")
    )
    needed, labels = discord_permissions()
    where = f"{PORTAL}/{app.get('id')}/installation → Guild Install"
    if not params:
        return warn(
            "discord install settings",
            "no default install link: the app's Add App button is off",
            f"{where}: scopes {' '.join(DISCORD_SCOPES)}, permissions {', '.join(labels)}; or invite it with "
            "the URL below",
        )
    scopes = set(params.get("scopes") or ())
    missing_scopes = [s for s in DISCORD_SCOPES if s not in scopes]
    granted = int(params.get("permissions") or 0)
    missing = [label for label, bit in zip(labels, _bits(needed), strict=True) if not granted & bit]
    if missing_scopes or missing:
        what = ([f"scopes lack {', '.join(missing_scopes)}"] if missing_scopes else []) + (
            [f"permissions lack {', '.join(missing)}"] if missing else []
        )
        return warn(
            "discord install settings",
            "; ".join(what),
            f"{where}: scopes {' '.join(DISCORD_SCOPES)}, permissions {', '.join(labels)}",
        )
    extra = granted & ~needed
    return ok(
        "discord install settings",
        f"scopes {' '.join(sorted(scopes))}; permissions {granted}"
        + (f" (more than the {needed} needed)" if extra else ""),
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
        return [skip("telegram", "not configured (set TELEGRAM_TOKEN to run it)")]
    base = settings.telegram_api_base_url.rstrip("/")
    status, body = await ctx.call("Telegram", "GET", f"{base}{token}/getMe")
    if status in (401, 404):
        return [
            fail(
                "telegram token",
                f"Telegram rejects TELEGRAM_TOKEN ({status})",
                "ask @BotFather for the bot's token (/mybots → the bot → API Token) and set it",
            )
        ]
    if status != 200 or not isinstance(body, dict) or not body.get("ok"):
        return [fail("telegram token", f"Telegram answered getMe with HTTP {status}", "try again later")]
    me = body["result"]
    found = [ok("telegram token", f"bot @{me.get('username')} (id {me.get('id')})")]
    if me.get("can_read_all_group_messages"):
        found.append(ok("telegram privacy mode", "off: every command in a group reaches the bot"))
    else:
        found.append(
            warn(
                "telegram privacy mode",
                "on: in a group with other bots a plain /pull reaches this bot "
                "only when it spoke last (/pull@" + str(me.get("username")) + " always does)",
                "@BotFather → /setprivacy → the bot → Disable (the bot reads commands only), then "
                "remove and re-add it to each group",
            )
        )
    status, body = await ctx.call("Telegram", "GET", f"{base}{token}/getWebhookInfo")
    if status != 200 or not isinstance(body, dict) or not body.get("ok"):
        return found + [
            fail("telegram updates", f"Telegram answered getWebhookInfo with HTTP {status}", "try again later")
        ]
    found.append(_updates(settings.telegram_webhook_url, body["result"]))
    return found


def _updates(configured: str | None, info: dict[str, Any]) -> Finding:
    current = info.get("url") or ""
    pending = int(info.get("pending_update_count") or 0)
    if configured is None:
        if current:
            return warn(
                "telegram updates",
                f"polling is configured but a webhook is set ({current})",
                "polling deletes it at start: if another deployment uses that webhook, give each its own bot token",
            )
        return ok("telegram updates", f"polling (no webhook set), {pending} update(s) waiting")
    if not current:
        return warn(
            "telegram updates",
            "TELEGRAM_WEBHOOK_URL is set but Telegram has no webhook yet",
            "start the bot: it registers the webhook",
        )
    if current != configured:
        return fail(
            "telegram updates",
            f"Telegram sends updates to {current}, not TELEGRAM_WEBHOOK_URL {configured}",
            "start the bot to register its webhook, or set TELEGRAM_WEBHOOK_URL to the one in use",
        )
    if info.get("last_error_message"):
        return fail(
            "telegram updates",
            f"Telegram cannot deliver to {current}: {info['last_error_message']}",
            "make that HTTPS URL reach TELEGRAM_WEBHOOK_LISTEN:TELEGRAM_WEBHOOK_PORT (a reverse proxy "
            "with a valid certificate)",
        )
    return ok("telegram updates", f"webhook {current}, {pending} update(s) waiting")
