"""Per-community settings (pull channel, announcement channel, pulls on/off, free-pull override), in the database.

Who may change them is the front end's knowledge (Discord `manage_guild`,
Telegram group admins); the service passes `is_admin` and refuses others
before anything here runs.
"""

from __future__ import annotations

import re
import secrets
import time

from bot.answers import CommunityConfig, CommunityRef, ServiceError, UserRef
from bot.storage import Database
from gpu_worker.errors import VanikeysError
from gpu_worker.i18n import LOCALES, N_, NAMES, _, negotiate
from gpu_worker.numbers import parse_int

MAX_CHANNEL_CHARS = 100
# A channel is stored as the platform's own id: a Discord snowflake, a Telegram chat or topic id (negative for
# groups). A mention (<#123>) is read as its id; any other text (@everyone, on, <b>x</b>) is refused.
_CHANNEL_ID = re.compile(r"<#(?P<mention>[0-9]{1,20})>|(?P<id>-?[0-9]{1,20})")
_CHANNEL_HINT = {
    "discord": N_("choose it in the command's channel option"),
    "telegram": N_("give the chat id, a number such as -1001234567890"),
}
_CHANNEL_ID_HINT = N_("give the channel's id (digits)")
MAX_LABEL_CHARS = 100
CLEAR_WORDS = ("none", "off", "clear", "default", "-")
ON_WORDS = ("on", "yes", "true", "1", "allow", "allowed")
OFF_WORDS = ("off", "no", "false", "0", "deny", "disallow")

SETTINGS: dict[str, str] = {
    "pull_channel": "the only channel where pulls run (a channel, or none for anywhere)",
    "announce_channel": "where Epic and rarer pulls are also announced (a channel, or none)",
    "pulls": "whether pulls are allowed here at all (on or off)",
    "free_pulls": "free pulls a day for pulls here, at most the operator's daily free pulls (a number, or default)",
    "gallery": "a public web page of this community's Rare-and-up cards and season (on or off; off by default)",
    "language": f"the language of the bot's public messages here ({', '.join(LOCALES)}, or default: each person's own)",
}


def default_config(community: CommunityRef, operator_free_pulls: int) -> CommunityConfig:
    """A community's settings before any admin changed them: pulls anywhere, no announcements, the operator's free
    pulls.
    """
    return CommunityConfig(
        community=community,
        pull_channel=None,
        pull_channel_label="",
        announce_channel=None,
        announce_channel_label="",
        pulls_allowed=True,
        free_pulls_per_day=None,
        operator_free_pulls=operator_free_pulls,
    )


async def load_config(db: Database, community: CommunityRef, operator_free_pulls: int) -> CommunityConfig:
    """The community's stored settings, or `default_config` when it has none."""
    row = await db.fetchone(
        "SELECT * FROM community_settings WHERE platform = ? AND community_id = ?",
        (community.platform, community.community_id),
    )
    if row is None:
        return default_config(community, operator_free_pulls)
    return CommunityConfig(
        community=community,
        pull_channel=row["pull_channel"],
        pull_channel_label=row["pull_channel_label"],
        announce_channel=row["announce_channel"],
        announce_channel_label=row["announce_channel_label"],
        pulls_allowed=bool(row["pulls_allowed"]),
        free_pulls_per_day=row["free_pulls_per_day"],
        operator_free_pulls=operator_free_pulls,
        gallery=bool(row["gallery"]),
        gallery_slug=row["gallery_slug"],
        language=row["language"],
    )


async def save_setting(
    db: Database,
    community: CommunityRef,
    admin: UserRef,
    setting: str,
    value: str,
    label: str,
    operator_free_pulls: int,
) -> str:
    """Validate and store one setting; returns the one-line description of the change."""
    name = setting.strip().lower().replace("-", "_") if isinstance(setting, str) else ""
    if name not in SETTINGS:
        raise ServiceError(
            "bad_setting",
            _("{setting} is not a setting: use one of {names}", setting=_shown(setting), names=", ".join(SETTINGS)),
        )
    text = value.strip() if isinstance(value, str) else ""
    label = "".join(ch for ch in (label or "") if ch.isprintable()).strip()[:MAX_LABEL_CHARS]
    columns: dict[str, object]
    if name in ("pull_channel", "announce_channel"):
        if not text or text.lower() in CLEAR_WORDS:
            columns = {name: None, f"{name}_label": ""}
            change = (
                _("pull_channel cleared: pulls run in any channel")
                if name == "pull_channel"
                else _("{name} cleared", name=name)
            )
        else:
            channel = _CHANNEL_ID.fullmatch(text) if len(text) <= MAX_CHANNEL_CHARS else None
            if channel is None:
                hint = _(_CHANNEL_HINT.get(community.platform, _CHANNEL_ID_HINT))
                raise ServiceError(
                    "bad_setting",
                    _("{name} takes a channel, not that text: {hint}, or none to clear it", name=name, hint=hint),
                )
            channel_id = channel["mention"] or channel["id"]
            columns = {name: channel_id, f"{name}_label": label}
            change = _("{name} set to {channel}", name=name, channel=label or channel_id)
    elif name == "pulls":
        allowed = _on_off(text, "pulls")
        columns = {"pulls_allowed": int(allowed)}
        change = _("pulls allowed here") if allowed else _("pulls turned off here")
    elif name == "language":
        if not text or text.lower() in CLEAR_WORDS:
            columns = {"language": None}
            change = _("language back to the default: each answer in the language of the person it answers")
        else:
            language = negotiate(text, pseudo=False) if len(text) <= 20 else None
            if language is None:
                raise ServiceError(
                    "bad_setting", _("language takes one of {codes}, or default", codes=", ".join(LOCALES))
                )
            columns = {"language": language}
            change = _("language set to {name} ({code})", name=NAMES[language], code=language)
    elif name == "gallery":
        shown = _on_off(text, "gallery")
        slug = await gallery_slug(db, community, community_title=community.title) if shown else None
        columns = {"gallery": int(shown)} | ({"gallery_slug": slug} if slug else {})
        change = _("gallery on: {url}", url=f"/web/c/{slug}") if shown else _("gallery off: the page is gone")
    else:
        if not text or text.lower() in CLEAR_WORDS:
            columns = {"free_pulls_per_day": None}
            change = _("free pulls back to the operator's {n} a day", n=operator_free_pulls)
        else:
            try:
                count = parse_int(text, what=_("free pulls a day"), minimum=0, maximum=operator_free_pulls)
            except VanikeysError as exc:
                raise ServiceError("bad_setting", exc.message) from None
            columns = {"free_pulls_per_day": count}
            change = _("free pulls here set to {n} a day", n=count)
    await _upsert(db, community, admin, columns)
    return change


async def _upsert(db: Database, community: CommunityRef, admin: UserRef, columns: dict[str, object]) -> None:
    now = time.time()
    names = list(columns)
    updates = ", ".join(f"{n} = excluded.{n}" for n in names)
    async with db.transaction() as tx:
        await tx.execute(
            f"INSERT INTO community_settings (platform, community_id, {', '.join(names)}, updated_by, updated_at) "
            f"VALUES (?, ?, {', '.join('?' * len(names))}, ?, ?) ON CONFLICT (platform, community_id) DO UPDATE SET "
            f"{updates}, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            (community.platform, community.community_id, *columns.values(), admin.user_id, now),
        )


def _on_off(text: str, name: str) -> bool:
    if text.lower() in ON_WORDS:
        return True
    if text.lower() in OFF_WORDS:
        return False
    raise ServiceError("bad_setting", _("{name} takes on or off", name=name))


async def gallery_slug(db: Database, community: CommunityRef, *, community_title: str = "") -> str:
    """The community's gallery address: kept once made, so a link shared earlier keeps working."""
    row = await db.fetchone(
        "SELECT gallery_slug FROM community_settings WHERE platform = ? AND community_id = ?",
        (community.platform, community.community_id),
    )
    if row is not None and row["gallery_slug"]:
        return str(row["gallery_slug"])
    words = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in community_title.lower())
    stem = "-".join(part for part in words.split("-") if part)[:24].strip("-") or "community"
    return f"{stem}-{secrets.token_hex(3)}"  # random: the address reveals no platform id and cannot be guessed


def describe(config: CommunityConfig) -> tuple[str, ...]:
    """The settings as the lines `/config` shows, one per setting, in the order it lists them."""
    free = (
        _(
            "{n} a day (override; the operator allows {operator})",
            n=config.effective_free_pulls,
            operator=config.operator_free_pulls,
        )
        if config.free_pulls_per_day is not None
        else _("{n} a day (the operator's default)", n=config.operator_free_pulls)
    )
    on, off = _("on"), _("off")
    language = (
        f"{NAMES[config.language]} ({config.language})"
        if config.language in NAMES
        else _("default (each person's own)")
    )
    return (
        f"pull_channel: {config.pull_channel_label or config.pull_channel or _('any channel')}",
        f"announce_channel: {config.announce_channel_label or config.announce_channel or _('none')}",
        f"pulls: {on if config.pulls_allowed else off}",
        f"free_pulls: {free}",
        f"gallery: {f'{on} (/web/c/{config.gallery_slug})' if config.gallery else off}",
        f"language: {language}",
    )


def _shown(text: object) -> str:
    shown = str(text)[:30]
    return repr(shown)
