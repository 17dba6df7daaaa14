"""Links to the public pages (bot/web) in chat answers: the odds calculator, the Mini App, a community's gallery."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bot.config import WEB_PREFIX
from gpu_worker.i18n import DEFAULT, _, current

if TYPE_CHECKING:
    from bot.config import Settings
    from gpu_worker.patterns import Pattern


def odds_page_url(web_url: str | None, pattern: Pattern) -> str | None:
    """The calculator showing this pattern (None when no public address is configured)."""
    if web_url is None:
        return None
    query = {"format": pattern.format_id, "pattern": pattern.text}
    if not pattern.case_insensitive and pattern.format_id in ("btc", "did", "trx"):
        query["case"] = "exact"
    if pattern.fuzzy:
        query["fuzzy"] = "on"
    if current() != DEFAULT:  # the page opens in the language of the answer that links to it
        query["lang"] = current()
    return f"{web_url}/odds?{urlencode(query)}"


def miniapp_url(web_url: str | None) -> str | None:
    """The Mini App's address under the public URL, or None without one."""
    return None if web_url is None else f"{web_url}/app"


def gallery_message(settings: Settings, slug: str) -> str:
    """The line that tells an admin where the community's gallery is, or what the operator must set to publish it."""
    if settings.web_url is not None:
        return _("gallery on: {url}", url=f"{settings.web_url}/c/{slug}")
    if settings.web_enabled:
        return _("gallery on: {path} on this bot's web address", path=f"{WEB_PREFIX}/c/{slug}")
    return _(
        "gallery on ({path}), but the web pages are off: the operator sets VANIKEYS_PUBLIC_URL (or VANIKEYS_WEB=on) "
        "to publish it",
        path=f"{WEB_PREFIX}/c/{slug}",
    )
