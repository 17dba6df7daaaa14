"""Telegram's limits in every locale (and the pseudo-locale, 40% longer than English): every answer type rendered
in-process at its longest inputs stays within 4,096 UTF-16 units a message and 1,024 a caption, parses as
Telegram HTML, loses no line to the cut that keeps a message within the limit, and every button's callback
data stays within 64 bytes; the command menus' descriptions within 256 characters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from bot.answers import (
    BalanceAnswer,
    CardAnswer,
    CommunityConfig,
    CommunityRef,
    ConfigAnswer,
    CutShort,
    DeliveredSecret,
    HelpAnswer,
    HistoryAnswer,
    HistoryEntry,
    KeyDelivery,
    KeysAnswer,
    LeaderboardAnswer,
    LeaderboardEntry,
    OddsAnswer,
    OrderAnswer,
    OrderView,
    PersonalBest,
    ProfileAnswer,
    ProfilePull,
    PullAnswer,
    SeasonLeaderboardAnswer,
    ShownKey,
    StreakAnswer,
    TopupAnswer,
    TopupPack,
    UserRef,
)
from bot.community import controls
from bot.frontends.telegram import rendering
from bot.frontends.telegram.callbacks import ButtonAction, CallbackCodec
from bot.frontends.telegram.config import StarsPack
from bot.frontends.telegram.frontend import TelegramFrontEnd
from gpu_worker.i18n import LOCALES, PSEUDO, use_locale
from gpu_worker.patterns import MAX_PATTERN_LENGTH
from tests.telegram.fake_bot_api import parse_telegram_html, utf16_len

EVERY_LOCALE = (*LOCALES, PSEUDO)
MAX_CAPTION = 1024
# The longest inputs a person can give: a Telegram name (64 + 64 characters, astral ones count twice), a group
# title (128), the longest pattern the bot accepts, and the longest identifiers (did:key).
NAME = "𝓥" * 64 + " " + "@" * 64
TITLE = "𝕲" * 128
PATTERN = ("^" + "Ab3xY " * 40)[:MAX_PATTERN_LENGTH]
DID = "did:key:zQ3sh" + "Z" * 44
USER = UserRef("telegram", "9" * 12, NAME)
GROUP = CommunityRef("telegram", "-100" + "9" * 12, TITLE)
WHEN = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)


def key(tier: str = "Legendary", full: bool = True) -> ShownKey:
    return ShownKey("did", DID, ((13, 20), (30, 40), (50, 57)), 44, 44, full, tier, 1.2e299)


ODDS = OddsAnswer(
    "did",
    "did:key (secp256k1)",
    PATTERN,
    44,
    1e-300,
    1e300,
    10**12,
    1e-288,
    (1.0,) * 45,
    10**9,
    None,
    1e293,
    "an exact match needs about 1e+300 keys, " * 3,
    "https://x.example/" + "w" * 200,
)
STREAK = StreakAnswer(
    USER,
    9999,
    9999,
    "2026-12-31",
    "America/Argentina/ComodRivadavia",
    10000,
    99,
    "9999-day streak: 99 bonus free pulls today; next bonus at 10000 days",
)


def pull(count: int, **changes: object) -> PullAnswer:
    tiers = ("Mythic", "Legendary", "Epic", "Rare", "Uncommon", "Common")
    keys = tuple(key(tiers[i % 6], i % 2 == 0) for i in range(count))
    base = PullAnswer(
        "job",
        USER,
        GROUP,
        PATTERN,
        "did",
        "did:key (secp256k1)",
        count,
        keys,
        0,
        10**9,
        10,
        10**12,
        10**13,
        "native-cuda-remote",
        99999.9,
        ODDS,
        False,
        "the private keys could not be sent to you privately and were kept safe",
        personal_best=PersonalBest("did " + PATTERN, 1e290, True),
        streak=STREAK,
        cut_short=CutShort(99, 10**9, 10),
    )
    return PullAnswer(**{**base.__dict__, **changes})


def order(status: str, found: bool) -> OrderView:
    return OrderView(
        "order",
        USER,
        GROUP,
        None,
        PATTERN,
        "did",
        True,
        status,
        10**12,
        10**15,
        1e300,
        1e-285,
        1e12,
        1e290,
        key() if found else None,
        status == "delivered",
        "x" * 300,
    )


def entries() -> tuple[LeaderboardEntry, ...]:
    return tuple(LeaderboardEntry(rank, USER, key(), PATTERN, WHEN) for rank in range(1, 11))


def config_answer() -> ConfigAnswer:
    config = CommunityConfig(
        GROUP,
        "-100" + "9" * 12,
        "#" + "c" * 99,
        "-100" + "8" * 12,
        "#" + "a" * 99,
        True,
        10**6,
        10**6,
        True,
        "s" * 30,
        "pt_BR",
    )
    return ConfigAnswer(config, "language", "language set to Português (Brasil) (pt_BR)", controls.describe(config))


def help_answer() -> HelpAnswer:
    from bot.service import Service

    settings = SimpleNamespace(pull_budget=10**12, ten_pull_pulls=10, pull_price=10**6, free_pulls_per_day=10**6)
    return Service.help(SimpleNamespace(settings=settings))  # type: ignore[arg-type]  # help reads only these


def messages() -> Iterator[tuple[str, str, int]]:
    """(what, rendered text, its limit) for every answer the Telegram front end sends, in the current locale."""
    for count in (1, 10):
        for branch in ({"delivered": True}, {"delivered": False}):
            answer = pull(count, **branch)
            yield (
                f"pull x{count}",
                rendering.render_pull(answer, deep_link="https://t.me/" + "B" * 32 + "?start=keys"),
                4096,
            )
            yield (
                f"pull x{count} before delivery",
                rendering.render_pull(answer, deep_link=None, before_delivery=True),
                4096,
            )
            caption = rendering.fit(
                rendering.render_pull(answer, deep_link=None, before_delivery=True).split("\n"), MAX_CAPTION
            )
            yield f"pull x{count} card caption", caption, MAX_CAPTION
        yield f"digest line x{count}", rendering.render_pull_digest_line(pull(count)), 4096
    for step in range(4):
        yield "rolling", rendering.render_rolling(USER, PATTERN, step), 4096
    yield "odds", rendering.render_odds(ODDS), 4096
    yield (
        "odds, orderable",
        rendering.render_odds(OddsAnswer(**{**ODDS.__dict__, "order_price": 10**9, "order_refusal": None})),
        4096,
    )
    for status in ("accepted", "submitted", "running", "found", "delivered", "failed", "refunded"):
        view = order(status, status in ("found", "delivered"))
        yield f"order {status}", rendering.render_order(view), 4096
        yield f"order {status} private", rendering.render_order(view, public=False), 4096
        yield f"order {status} finished", TelegramFrontEnd._finished_text(None, view), 4096  # type: ignore[arg-type]
    accepted = OrderAnswer(order("accepted", False), 10**12, 1e12, "expected time about far beyond any budget; " * 4)
    yield "order accepted", rendering.render_order_accepted(accepted), 4096
    yield "order receipt", rendering.render_order_receipt(accepted), 4096
    yield "order quote", rendering.render_order_quote(OddsAnswer(**{**ODDS.__dict__, "order_price": 10**9})), 4096
    yield "order refused", rendering.render_order_quote(ODDS), 4096
    secret = DeliveredSecret(
        DID,
        "offset",
        "hex",
        "ab" * 32,
        jwk='{"kty":"EC","d":"' + "A" * 43 + '"}',
        score=44,
        max_score=44,
        tier="Mythic",
    )
    for kind in ("pull", "order"):
        for text in rendering.render_delivery(KeyDelivery("job", kind, "did", PATTERN, (secret,) * 10, "n" * 500)):
            yield f"delivery {kind}", text, 4096
    yield (
        "balance",
        rendering.render_balance(BalanceAnswer(USER, 10**12, 10**12, True, 10**6, 10**6, 10**12, 10**12, 10**6, 10**7)),
        4096,
    )
    packs = tuple(TopupPack("p" * 32, 10**9, "$" + "9" * 12) for _ in range(8))
    stars = tuple(StarsPack("s" * 20, 10**9, 10**6) for _ in range(8))
    for answer in (
        None,
        TopupAnswer(True, "m" * 300, None, None, packs),
        TopupAnswer(True, "m" * 300, "https://" + "c" * 500, packs[0], packs),
        TopupAnswer(False, "m" * 300),
    ):
        yield "topup", rendering.render_topup(answer, stars, 10**6), 4096
    yield "topup, nothing on sale", rendering.render_topup(None, (), 10**6), 4096
    yield "keys", rendering.render_keys(KeysAnswer(("a",) * 10, ("b",) * 10, "k" * 300)), 4096
    yield (
        "history",
        rendering.render_history(
            HistoryAnswer(USER, tuple(HistoryEntry(WHEN, "purchase", -(10**12), "d" * 100) for _ in range(25)), 10**12)
        ),
        4096,
    )
    yield "leaderboard", rendering.render_leaderboard(LeaderboardAnswer(GROUP, entries())), 4096
    yield (
        "season",
        rendering.render_season(SeasonLeaderboardAnswer(GROUP, "2026-W53", WHEN - timedelta(days=7), WHEN, entries())),
        4096,
    )
    profile = ProfileAnswer(
        USER,
        GROUP,
        tuple(ProfilePull(key(), PATTERN, WHEN, TITLE) for _ in range(5)),
        10**9,
        STREAK,
        "2026-W53",
        10**6,
        True,
    )
    yield "profile", rendering.render_profile(profile), 4096
    yield "config", rendering.render_config(config_answer()), 4096
    yield "help", rendering.render_help(help_answer()), 4096
    yield (
        "card caption",
        rendering.render_card_caption(CardAnswer(key(), PATTERN, "did", b"", 1, 1, "x.png")),
        MAX_CAPTION,
    )


class CutSpy:
    """Records every message `fit` had to cut: a cut line is text someone does not get to read."""

    def __init__(self) -> None:
        self.cut: list[list[str]] = []
        self.real: Callable[..., str] = rendering.fit

    def __call__(self, lines: list[str], limit: int = 4096) -> str:
        text = self.real(lines, limit)
        if text != "\n".join(lines):
            self.cut.append(lines)
        return text


# Answers whose length grows with what people asked for (a history of 25 rows with 100-character details, a
# digest); cutting whole lines is how they are kept within the limit, and the cut says so.
MAY_CUT = frozenset({"history", "pull x10 card caption", "pull x1 card caption"})


@pytest.mark.parametrize("locale", EVERY_LOCALE)
def test_every_answer_fits_telegram_in_every_locale(locale: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = CutSpy()
    monkeypatch.setattr(rendering, "fit", spy)
    seen = 0
    with use_locale(locale):
        for what, text, limit in messages():
            cut_before = len(spy.cut)
            plain, _links = parse_telegram_html(text)  # raises on a tag a translation broke
            assert utf16_len(plain) <= limit, (locale, what, utf16_len(plain))
            assert utf16_len(text) <= limit, (locale, what, utf16_len(text))
            if what not in MAY_CUT:
                assert len(spy.cut) == cut_before, (locale, what, "lines were cut to fit")
            seen += 1
    assert seen > 50


@pytest.mark.parametrize("locale", EVERY_LOCALE)
def test_buttons_fit_in_every_locale(locale: str) -> None:
    codec = CallbackCodec()
    action = ButtonAction("pull_easy", 10**12, "did", PATTERN, True, True, 10)
    with use_locale(locale):
        keyboards = [
            codec.result_keyboard(10**12, "did", PATTERN, True, True),
            codec.confirm_keyboard(action),
            codec.easy_keyboard(action),
        ]
    for keyboard in keyboards:
        for row in keyboard.inline_keyboard:
            assert utf16_len("".join(b.text for b in row)) <= 120, (locale, [b.text for b in row])
            for button in row:
                assert 1 <= len(button.callback_data.encode()) <= 64


@pytest.mark.parametrize("locale", EVERY_LOCALE)
def test_the_pseudo_locale_and_translations_really_change_the_text(locale: str) -> None:
    """The limits above are measured on translated text, not on English that slipped through."""
    with use_locale(locale):
        text = rendering.render_balance(BalanceAnswer(USER, 5, 0, False, 1, 2, 3, 4, 5, 6))
    assert ("Free pulls left today" in text) == (locale == "en")


def test_command_descriptions_fit_in_every_language() -> None:
    from bot.frontends.telegram.application import command_menu

    class FakeService:
        help = staticmethod(help_answer)

    for locale in EVERY_LOCALE:
        with use_locale(locale):
            menu = command_menu(FakeService())  # type: ignore[arg-type]
        assert menu and all(1 <= len(c.description) <= 256 for c in menu), locale
        assert len({c.command for c in menu}) == len(menu)
