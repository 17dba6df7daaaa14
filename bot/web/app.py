"""The web pages as an aiohttp sub-application, mounted under /web beside the Stripe webhook.

Every request goes through one guard: GET and HEAD only (the Mini App's signed pull is
the one POST), a token bucket per client (the client as the trusted reverse proxy
reports it, or the peer), bad input answered with a 400 page, anything unexpected
with a 500 page and a log line: never a traceback. Every answer carries a strict
Content-Security-Policy (this origin only) and caching headers.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from bot.answers import ServiceError, ShownKey, UserRef
from bot.app import App
from bot.cards import CardSpec, render_card
from bot.community import visibility
from bot.config import WEB_PREFIX
from bot.frontends.telegram.cooldown import Cooldowns
from bot.frontends.telegram.rendering import human_count, percent
from bot.i18n import N_, _, negotiate, ngettext, set_locale, use_locale
from bot.results import TIER_ORDER, tier_at_least
from bot.service import EASY_FULL_SHARE
from bot.web import gallery as galleries
from bot.web.initdata import InitDataError, MiniAppUser, PullTokens, verify
from bot.web.language import explicit_lang, html_lang, link, page_language, remember_explicit
from bot.web.security import RateLimiter, TrustedProxies, secure_headers
from bot.web.stats import tier_chances
from bot.web.transparency import ReportCache
from gpu_worker.formats import FORMATS
from gpu_worker.humanize import duration, one_in_pulls, tier_name
from gpu_worker.i18n import babel_locale, fixed, gettext_now, number, percent as locale_percent, short_datetime
from gpu_worker.odds import Odds
from gpu_worker.patterns import MAX_PATTERN_LENGTH

log = logging.getLogger(__name__)

INIT_DATA_HEADER = "X-Telegram-Init-Data"
MAX_QUERY_CHARS = 1024
MAX_JSON_BYTES = 4096
CARD_CACHE = 128
PUBLIC_CACHE = "public, max-age=300"
GALLERY_CACHE = "public, max-age=60"
STATIC_CACHE = "public, max-age=86400"
STATIC_FILES = {"style.css": "text/css", "miniapp.js": "text/javascript", "favicon.svg": "image/svg+xml"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadInput(Exception):
    """Something in the request that cannot be used: a 400 page with this one line."""


@dataclass
class Web:
    """What the web handlers share: the bot's App, the templates, rate limits, trusted proxies, caches and Mini App
    tokens.
    """

    app: App
    env: jinja2.Environment
    limiter: RateLimiter
    proxies: TrustedProxies
    reports: ReportCache
    tokens: PullTokens
    bot_token: str | None
    cards: OrderedDict[tuple[str, str, str], bytes]  # (where, pull, name on the card): a name taken off is redrawn
    pull_cooldowns: Cooldowns


WEB = web.AppKey("vanikeys_web", Web)


def build_web_app(app: App, *, bot_token: str | None = None, pull_cooldown_s: float = 3.0) -> web.Application:
    """The /web sub-application. bot_token: Telegram's, which signs the Mini App's initData (None: no Mini App)."""
    settings = app.settings
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # The chat's own catalog calls: `_("{n} keys", n=...)` fills str.format placeholders (as in the code), the
    # result is escaped like any value; `_html` keeps the catalog's own tags and escapes only the values.
    env.install_gettext_callables(_, ngettext, newstyle=False)  # type: ignore[attr-defined]
    env.globals.update(
        _html=_html,
        prefix=WEB_PREFIX,
        human_count=human_count,
        percent=percent,
        one_in_pulls=one_in_pulls,
        duration=duration,
        tiers=TIER_ORDER,
        tier_name=tier_name,
        share=_share,
        number=number,
        fixed=fixed,
        report_time=_report_time,
        day=_day,
        html_lang=html_lang,
        link=link,
        explicit_lang=explicit_lang,
        shown_name=galleries.shown_name,
        translated=gettext_now,  # a label marked with N_ where it is made (a refund reason)
    )
    sub = web.Application(middlewares=[_guard], client_max_size=MAX_JSON_BYTES)
    sub[WEB] = Web(
        app=app,
        env=env,
        limiter=RateLimiter(settings.web_requests_per_minute),
        proxies=TrustedProxies(settings.trusted_proxies),
        reports=ReportCache(app.db, app.service.odds_cache, settings.effective_backend),
        tokens=PullTokens(),
        bot_token=bot_token,
        cards=OrderedDict(),
        pull_cooldowns=Cooldowns(pull_cooldown_s),
    )
    sub.router.add_get("/", index)
    sub.router.add_get("/odds", odds_page)
    sub.router.add_get("/transparency", transparency_page)
    sub.router.add_get("/c/{slug}", gallery_page)
    sub.router.add_get("/c/{slug}/card/{ref}.png", gallery_card)
    sub.router.add_get("/app", miniapp_page)
    sub.router.add_get("/app/me", miniapp_me)
    sub.router.add_get("/app/card/{ref}.png", miniapp_card)
    sub.router.add_post("/app/pull", miniapp_pull)
    sub.router.add_post("/app/visibility", miniapp_visibility)
    sub.router.add_get("/static/{name}", static_file)
    return sub


def _html(message: str, /, **values: object) -> Markup:
    """A catalog message whose own markup (<code>, <em>) is kept, its {placeholders} filled with escaped values."""
    return Markup(gettext_now(message)).format(**values)


def _share(value: float) -> str:
    """A share for tables, as the locale writes a percentage: enough digits for Mythic's tiny ones."""
    if value <= 0:
        return locale_percent(0.0, 0)
    if value >= 0.001:
        return locale_percent(value, 2)
    digits = max(2, -math.floor(math.log10(value * 100)) + 1)  # two significant figures
    return locale_percent(value, digits)


def _report_time(at: float) -> str:
    """When a report was made, as the locale writes a date and time (UTC)."""
    from babel.dates import format_datetime

    return format_datetime(datetime.fromtimestamp(at, tz=UTC), "medium", tzinfo=UTC, locale=babel_locale()) + " UTC"


def _day(at: datetime) -> str:
    """A day as the locale writes it: "Dec 6, 2026", "6 dic 2026"."""
    from babel.dates import format_date

    return format_date(at, "medium", locale=babel_locale())


# ---- the guard ---------------------------------------------------------------------------


def _allowed(request: web.Request) -> bool:
    if request.method in ("GET", "HEAD"):
        return True
    return request.method == "POST" and request.path in (f"{WEB_PREFIX}/app/pull", f"{WEB_PREFIX}/app/visibility")


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    language = page_language(request.query.get("lang"), request.headers.get("Accept-Language"))
    with use_locale(language.locale):
        remember_explicit(language)
        response = await _guarded(request, handler)
    if response.content_type in ("text/html", "application/json"):  # the words depend on the reader's language
        response.headers["Vary"] = "Accept-Language"
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[WEB]
    miniapp = request.path.startswith(f"{WEB_PREFIX}/app")
    response: web.StreamResponse
    try:
        if not _allowed(request):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        if len(request.query_string) > MAX_QUERY_CHARS:
            raise BadInput(_("that address is too long: use the form on the page"))
        static = request.path.startswith(f"{WEB_PREFIX}/static/")  # cheap and cached by the browser: not counted
        wait = 0.0 if static else state.limiter.wait_s(state.proxies.client(request))
        if request.path == WEB_PREFIX:
            response = web.Response(status=308, headers={"Location": f"{WEB_PREFIX}/", "Cache-Control": PUBLIC_CACHE})
        elif wait > 0:
            response = _error(
                state,
                429,
                _("Slow down"),
                _("Too many requests from your address: try again in {seconds} s.", seconds=math.ceil(wait)),
                miniapp=miniapp,
            )
            response.headers["Retry-After"] = str(math.ceil(wait))
        else:
            response = await handler(request)
    except BadInput as exc:
        response = _error(state, 400, _("That did not work"), str(exc), miniapp=miniapp)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = gettext_now(_STATUS_MESSAGES.get(exc.status, exc.reason))
        response = _error(state, exc.status, gettext_now(exc.reason), message, miniapp=miniapp)
        if exc.status == 405:
            response.headers["Allow"] = "GET, HEAD"
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # never a traceback to the client; the log says what broke
        log.error("web %s %s failed: %s: %s", request.method, request.path, type(exc).__name__, exc)
        response = _error(
            state,
            500,
            _("Something broke"),
            _("Something went wrong on our side; try again shortly."),
            miniapp=miniapp,
        )
    secure_headers(response, miniapp=request.path == f"{WEB_PREFIX}/app")
    return response


# What an error page says for a status; its reason (the title) is one of REASONS, also shown translated.
_STATUS_MESSAGES = {404: N_("There is no page here."), 405: N_("This address only answers GET and HEAD.")}
STALE = N_("this request was already sent, or the page is stale: reload the Mini App")
REASONS = (
    N_("No gallery here"),
    N_("No card here"),
    N_("No such file"),
    N_("No Mini App on this bot"),
    N_("Not Found"),
    N_("Method Not Allowed"),
    N_("Unauthorized"),
    N_("Conflict"),
)


def _page(state: Web, template: str, *, status: int = 200, cache: str = "no-store", **context: Any) -> web.Response:
    html = state.env.get_template(template).render(**context)
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = cache
    return response


def _error(state: Web, status: int, title: str, message: str, *, miniapp: bool) -> web.Response:
    if miniapp and status != 404:
        response = web.json_response({"error": message}, status=status)
        response.headers["Cache-Control"] = "no-store"
        return response
    return _page(state, "error.html", status=status, title=title, message=message)


# ---- pages -----------------------------------------------------------------------------


async def index(request: web.Request) -> web.Response:
    """GET /: the landing page."""
    return _page(request.app[WEB], "index.html", cache=PUBLIC_CACHE)


@dataclass(frozen=True)
class OddsForm:
    """The odds page's query: format, pattern and the two matching options, defaults for anything missing."""

    format_id: str = "btc"
    pattern: str = ""
    exact_case: bool = False
    fuzzy: bool = False


def _odds_form(query: Any) -> OddsForm:
    format_id = query.get("format", "btc").strip().lower() or "btc"
    if format_id not in FORMATS:
        raise BadInput(
            _(
                "there is no format {name}: choose one of {formats}",
                name=repr(format_id[:12]),
                formats=", ".join(FORMATS),
            )
        )
    pattern = query.get("pattern", "")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise BadInput(_("a pattern is at most {n} characters; shorten it", n=MAX_PATTERN_LENGTH))
    case = query.get("case", "insensitive")
    if case not in ("insensitive", "exact"):
        raise BadInput(_("case is insensitive or exact"))
    fuzzy = query.get("fuzzy", "")
    if fuzzy not in ("", "on", "1", "true"):
        raise BadInput(_("fuzzy is on or left out"))
    return OddsForm(format_id, pattern.strip(), case == "exact", bool(fuzzy))


async def odds_page(request: web.Request) -> web.Response:
    """GET /odds: the form, and for a pattern its odds or the one-line reason it is refused."""
    state = request.app[WEB]
    service = state.app.service
    form = _odds_form(request.query)
    context: dict[str, Any] = {"form": form, "formats": FORMATS, "answer": None}
    if form.pattern:
        try:
            answer = await service.odds(form.pattern, form.format_id, exact_case=form.exact_case, fuzzy=form.fuzzy)
        except ServiceError as exc:
            return _page(state, "odds.html", status=400, refusal=exc.message, **context)
        model = Odds(answer.p_full, answer.p_at_least, answer.expected_keys)
        context.update(
            answer=answer, chances=tier_chances(model, answer.pull_keys), easy=answer.p_full_in_pull > EASY_FULL_SHARE
        )
    return _page(state, "odds.html", cache=PUBLIC_CACHE, refusal=None, **context)


async def transparency_page(request: web.Request) -> web.Response:
    """GET /transparency: observed against predicted tiers, refunds and providers (cached report)."""
    state = request.app[WEB]
    report = await state.reports.get()
    return _page(state, "transparency.html", cache=PUBLIC_CACHE, report=report)


def _slug(request: web.Request) -> str:
    slug = request.match_info["slug"]
    if not (0 < len(slug) <= 40 and all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in slug)):
        raise BadInput(_("that is not a gallery address: it is letters, digits and dashes, as the bot gave it"))
    return slug


def _ref(request: web.Request) -> str:
    ref = request.match_info["ref"]
    if not (0 < len(ref) <= 64 and all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in ref)):
        raise BadInput(_("that is not a card's address"))
    return ref


async def gallery_page(request: web.Request) -> web.Response:
    """GET /c/{slug}: a community's public gallery; 404 when it has none or turned it off."""
    state = request.app[WEB]
    slug = _slug(request)
    community = await galleries.community_for(state.app.db, slug)
    if community is None:
        raise web.HTTPNotFound(reason="No gallery here")
    shown = await galleries.gallery(state.app.db, slug, community, state.app.settings.time_zone)
    return _page(state, "gallery.html", cache=GALLERY_CACHE, gallery=shown)


async def gallery_card(request: web.Request) -> web.Response:
    """GET /c/{slug}/card/{ref}.png: a pull's card in a community gallery; 404 for a pull not shown there."""
    state = request.app[WEB]
    slug, ref = _slug(request), _ref(request)
    community = await galleries.community_for(state.app.db, slug)
    found = await galleries.gallery_card(state.app.db, community, ref) if community is not None else None
    if found is None:
        raise web.HTTPNotFound(reason="No card here")
    pull, name = found
    png = await _card_png(state, ("gallery", ref, name), pull.key, pull.pattern, pull.community_title, name)
    return _png(png, GALLERY_CACHE)


async def _card_png(
    state: Web, cache_key: tuple[str, str, str], key: ShownKey, pattern: str, community: str, name: str
) -> bytes:
    png = state.cards.get(cache_key)
    if png is None:
        png = await asyncio.to_thread(render_card, CardSpec(key, pattern, community, name))
        state.cards[cache_key] = png
        while len(state.cards) > CARD_CACHE:
            state.cards.popitem(last=False)
    return png


def _png(png: bytes, cache: str) -> web.Response:
    response = web.Response(body=png, content_type="image/png")
    response.headers["Cache-Control"] = cache
    return response


async def static_file(request: web.Request) -> web.Response:
    """GET /static/{name}: one of the bundled static files, with a long cache; 404 for any other name."""
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound(reason="No such file")
    body = resources.files("bot.web").joinpath("static", name).read_bytes()
    response = web.Response(body=body, content_type=STATIC_FILES[name], charset="utf-8")
    response.headers["Cache-Control"] = STATIC_CACHE
    return response


# ---- the Telegram Mini App ---------------------------------------------------------------


async def miniapp_page(request: web.Request) -> web.Response:
    """GET /app: the Telegram Mini App page; 404 when the bot has no Telegram token."""
    state = request.app[WEB]
    if state.bot_token is None:
        raise web.HTTPNotFound(reason="No Mini App on this bot")
    return _page(state, "miniapp.html", cache="no-cache", formats=FORMATS, texts=_miniapp_texts())


def _miniapp_texts() -> dict[str, str]:
    """The words the Mini App's script writes itself, in the page's language (the script holds no text)."""
    return {
        "you": _("You"),
        "not_signed_in": _("Not signed in: {why}"),
        "pulling": _("Pulling…"),
        "card": _("{tier} card"),
        "error": _("error {status}"),
    }


def _mini_user(request: web.Request) -> MiniAppUser:
    state = request.app[WEB]
    if state.bot_token is None:
        raise web.HTTPNotFound(reason="No Mini App on this bot")
    try:
        user = verify(
            request.headers.get(INIT_DATA_HEADER), state.bot_token, max_age_s=state.app.settings.miniapp_max_age_s
        )
    except InitDataError as exc:
        raise web.HTTPUnauthorized(reason=str(exc)) from None
    spoken = negotiate(user.language_code)
    if spoken is not None and not explicit_lang():  # the signed profile's language, as the chat answers it
        set_locale(spoken)
    return user


def _user_ref(user: MiniAppUser) -> UserRef:
    return UserRef("telegram", user.user_id, user.display_name)


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    response = web.json_response(data, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _key_json(key: ShownKey) -> dict[str, Any]:
    return {
        "identifier": key.identifier,
        "segments": key.segments(),
        "tier": key.tier,
        "tier_name": tier_name(key.tier),
        "full": key.full,
        "rarity": one_in_pulls(key.one_in_pulls),
        "score": key.score,
        "max_score": key.max_score,
    }


async def miniapp_me(request: web.Request) -> web.Response:
    """The Mini App user's collection (from signed initData), visibility and a fresh pull token, as JSON."""
    state = request.app[WEB]
    user = _mini_user(request)
    ref = _user_ref(user)
    pulls, total = await galleries.collection(state.app.db, ref)
    return _json(
        {
            "name": user.display_name,
            "total": total,
            "summary": ngettext("{name}: {n} pull", "{name}: {n} pulls", total, name=user.display_name or _("You")),
            "token": state.tokens.issue(user.user_id),
            "shown": await visibility.is_shown(state.app.db, ref),
            "pulls": [
                {
                    "ref": p.ref,
                    "pattern": p.pattern,
                    "at": short_datetime(p.at) + " UTC",
                    "where": p.community_title,
                    "card": tier_at_least(p.key.tier, galleries.CARD_TIER),
                    **_key_json(p.key),
                }
                for p in pulls
            ],
        }
    )


async def miniapp_card(request: web.Request) -> web.Response:
    """The Mini App user's own card for one pull, as PNG; 404 for a pull that is not theirs."""
    state = request.app[WEB]
    user = _mini_user(request)
    ref = _ref(request)
    pull = await galleries.own_pull(state.app.db, _user_ref(user), ref)
    if pull is None:
        raise web.HTTPNotFound(reason="No card here")
    png = await _card_png(
        state, ("own", ref, user.display_name), pull.key, pull.pattern, pull.community_title, user.display_name
    )
    return _png(png, "private, max-age=3600")


async def _signed_body(request: web.Request) -> tuple[MiniAppUser, dict[str, Any]]:
    """The verified user and the request's JSON, whose one-time token is consumed here (a replay is refused)."""
    state = request.app[WEB]
    user = _mini_user(request)
    try:
        body = await request.json()
    except ValueError:
        raise BadInput(_("send the form as JSON")) from None
    if not isinstance(body, dict):
        raise BadInput(_("send the form as a JSON object"))
    if not state.tokens.consume(str(body.get("token", "")), user.user_id):
        raise web.HTTPConflict(reason=STALE)
    return user, body


async def miniapp_pull(request: web.Request) -> web.Response:
    """A pull with the chat command's rules: the same words as /pull, the same service call as a private chat."""
    from bot.frontends.command_args import ArgError, parse_pull
    from gpu_worker.errors import VanikeysError

    state = request.app[WEB]
    user, body = await _signed_body(request)
    token = state.tokens.issue(user.user_id)
    text = body.get("command", "")
    if not isinstance(text, str) or len(text) > MAX_PATTERN_LENGTH + 40:
        return _json({"error": _("type a pattern, as after /pull"), "token": token}, 400)
    try:
        args = parse_pull(text.split())
    except (ArgError, VanikeysError) as exc:
        return _json({"error": str(exc), "token": token}, 400)
    wait = state.pull_cooldowns.wait_left(user.user_id)
    if wait > 0:
        return _json({"error": _("slow down: pull again in {seconds} s", seconds=math.ceil(wait)), "token": token}, 429)
    try:
        answer = await state.app.service.pull(
            _user_ref(user),
            None,
            args.pattern,
            args.format_id,
            args.count,
            exact_case=args.exact_case,
            fuzzy=args.fuzzy,
        )
    except ServiceError as exc:
        state.pull_cooldowns.give_back(user.user_id)  # refused: the corrected retry need not wait
        return _json({"error": exc.message, "token": token}, 400)
    return _json(
        {
            "token": token,
            "pattern": answer.pattern,
            "format": answer.format_title,
            "keys": [_key_json(k) for k in answer.keys],
            "note": answer.delivery_note,
            "odds_url": answer.odds.web_url,
        }
    )


async def miniapp_visibility(request: web.Request) -> web.Response:
    """Set whether the Mini App user's name is shown publicly (signed body {"shown": bool})."""
    state = request.app[WEB]
    user, body = await _signed_body(request)
    shown = body.get("shown")
    if not isinstance(shown, bool):
        raise BadInput(_("shown is true or false"))
    await visibility.set_shown(state.app.db, _user_ref(user), shown)
    return _json({"shown": shown, "token": state.tokens.issue(user.user_id)})
