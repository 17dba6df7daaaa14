"""Answers as Telegram HTML: everything user-supplied escaped, every message within 4096 characters.

Each function returns one message. Lines are built separately and joined by
`fit`, which drops whole lines (never half a tag) when a message would be too
long, so what we send always parses.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

from bot.answers import (
    BalanceAnswer,
    CardAnswer,
    ConfigAnswer,
    GiftAnswer,
    HelpAnswer,
    HistoryAnswer,
    KeyDelivery,
    KeysAnswer,
    LeaderboardAnswer,
    OddsAnswer,
    OrderAnswer,
    OrderView,
    ProfileAnswer,
    PullAnswer,
    SeasonLeaderboardAnswer,
    ShownKey,
    StreakAnswer,
    TopupAnswer,
    UserRef,
    history_kind,
)
from bot.frontends.telegram.config import StarsPack
from bot.frontends.telegram.text_size import MAX_MESSAGE, utf16_len
from gpu_worker.humanize import duration, large, tier_name
from gpu_worker.i18n import N_, _, fixed, ngettext, number, percent as share, short_datetime as when

TIER_MARKS = {
    "Common": "⚪",
    "Uncommon": "🟢",
    "Rare": "🔵",
    "Epic": "🟣",
    "Legendary": "🟠",
    "Mythic": "🌈",
}


def esc(text: object) -> str:
    """`text` as HTML-safe text for Telegram's HTML parse mode (quotes escaped too: safe inside attributes)."""
    return html.escape(str(text), quote=True)


def fit(lines: list[str], limit: int = MAX_MESSAGE) -> str:
    """Join lines; if too long, keep the leading lines that fit and say how many were cut.

    Measured on the HTML source, which is never shorter than the text Telegram counts."""
    text = "\n".join(lines)
    if utf16_len(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        marker = "\n" + ngettext("… {n} more line not shown", "… {n} more lines not shown", len(lines) - index)
        cost = utf16_len(line) + (1 if kept else 0)
        if used + cost + utf16_len(marker) > limit:
            return "\n".join(kept) + marker
        kept.append(line)
        used += cost
    return "\n".join(kept)  # pragma: no cover - the loop always returns when text is too long


def human_count(value: float) -> str:
    """A key count in words (`large`); `∞` for an infinite or undefined count."""
    if math.isinf(value) or math.isnan(value):
        return "∞"
    return large(value)


def percent(p: float) -> str:
    """A probability as a percentage from 1% up, as "1 in N" below it, and `0%` for none."""
    if p >= 0.01:
        return f"{fixed(p * 100)}%"
    if p <= 0:
        return "0%"
    return _("1 in {count}", count=human_count(1 / p))


def no_mentions(text: str) -> str:
    """A word joiner after every @, so Telegram never turns a typed name into a mention of someone."""
    return text.replace("@", "@\u2060")


def user_label(user: UserRef) -> str:
    """The person's name, bold, HTML-escaped and never a mention."""
    return f"<b>{no_mentions(esc(user.label))}</b>"


def highlighted(key: ShownKey) -> str:
    """The identifier with its matched parts bold and underlined (Telegram allows no tags inside <code>)."""
    return "".join(f"<b><u>{esc(text)}</u></b>" if hit else esc(text) for text, hit in key.segments())


def rarity_line(key: ShownKey) -> str:
    """Tier by "1 in X pulls"; a full match is a badge beside the tier, never a tier of its own."""
    mark = TIER_MARKS.get(key.tier, "")
    badge = _(" · ✨ full match") if key.full else ""
    return _(
        "{mark} <b>{tier}</b> · score {score}/{max_score} · 1 in {count} pulls{badge}",
        mark=mark,
        tier=esc(tier_name(key.tier)),
        score=key.score,
        max_score=key.max_score,
        count=human_count(key.one_in_pulls),
        badge=badge,
    )


def best_first(answer: PullAnswer) -> list[ShownKey]:
    """A 10-pull's keys, rarest first (the service orders them so; older answers are sorted here)."""
    return sorted(answer.keys, key=lambda k: (k.one_in_pulls, k.score), reverse=True)


def odds_line(odds: OddsAnswer) -> str:
    """One line: a full match's odds in keys, and one pull's chance of one."""
    return _(
        "Odds: a full match is 1 in {expected} keys; one pull ({keys} keys) finds one {chance}",
        expected=human_count(odds.expected_keys),
        keys=human_count(odds.pull_keys),
        chance=percent(odds.p_full_in_pull),
    )


def render_pull(
    answer: PullAnswer, *, deep_link: str | None, before_delivery: bool = False, key_below: bool = False
) -> str:
    """The public result: who pulled, the address with the match highlighted, rarity, score, odds.

    key_below: the reveal heads the private message that carries the key, so it says nothing of delivery."""
    lines = [
        _(
            "🎰 {who} pulled <code>{pattern}</code> · {format}",
            who=user_label(answer.user),
            pattern=esc(answer.pattern),
            format=esc(answer.format_title),
        ),
    ]
    ordered = best_first(answer)
    if len(ordered) == 1:
        lines += [highlighted(ordered[0]), rarity_line(ordered[0])]
    else:
        lines.append(_("Best of {count}: {key}", count=len(ordered), key=highlighted(ordered[0])))
        lines.append(rarity_line(ordered[0]))
        for index, key in enumerate(ordered, 1):
            mark = TIER_MARKS.get(key.tier, "")
            lines.append(f"{index}. {highlighted(key)} {mark} {key.score}/{key.max_score}")
    lines += render_reveal_extras(answer)
    lines.append(odds_line(answer.odds))
    if answer.odds.web_url:
        lines.append(web_odds_link(answer.odds.web_url))
    # What it cost is private (the balance and purchases never go to a group).
    lines.append(
        "<i>"
        + _(
            "{keys} keys in {seconds} s on {backend}",
            keys=human_count(answer.keys_checked),
            seconds=fixed(answer.elapsed_s),
            backend=esc(answer.backend),
        )
        + "</i>"
    )
    if answer.cut_short is not None:
        lines.append(f"<i>{esc(answer.cut_short.note)}</i>")
    if key_below:
        pass
    elif before_delivery:
        lines.append(
            _(
                "🔑 The private key goes to the puller's private chat with the bot (the button fetches it "
                "if it does not arrive)."
            )
        )
    elif answer.delivered:
        lines.append(_("🔑 The private key went to a private chat with the bot."))
    elif deep_link:
        lines.append(
            _(
                '🔒 The key is safe in the vault: <a href="{link}">open a private chat with the bot</a> to receive it.',
                link=esc(deep_link),
            )
        )
    elif answer.delivery_note:
        lines.append(f"🔒 {esc(answer.delivery_note)}")
    return fit(lines)


def render_pull_digest_line(answer: PullAnswer) -> str:
    """One reveal inside a busy group's digest ("3 more pulls: …")."""
    best = best_first(answer)[0]
    count = f" ×{len(answer.keys)}" if len(answer.keys) > 1 else ""
    return (
        f"{user_label(answer.user)} <code>{esc(answer.pattern)}</code>{count}: {highlighted(best)} "
        f"{TIER_MARKS.get(best.tier, '')} {esc(tier_name(best.tier))}{' ✨' if best.full else ''}"
    )


def render_rolling(user: UserRef, pattern: str, step: int) -> str:
    """The suspense before a reveal: no tier colour, just the reels turning."""
    reels = ["🎰 ▫️▫️▫️", "🎰 ✴️▫️▫️", "🎰 ✴️✴️▫️", "🎰 ✴️✴️✴️"][min(step, 3)]
    return _(
        "{reels} {who} is pulling <code>{pattern}</code>… rolling",
        reels=reels,
        who=user_label(user),
        pattern=esc(pattern),
    )


def render_odds(odds: OddsAnswer) -> str:
    """The /odds answer: the full match's odds, one pull's chance and price, the order price and time (or why it
    cannot be ordered), and the web link when there is one. Fits one message."""
    lines = [
        _("🎲 Odds for <code>{pattern}</code> · {format}", pattern=esc(odds.pattern), format=esc(odds.format_title)),
        ngettext(
            "Full match ({n} character): {odds}",
            "Full match ({n} characters): {odds}",
            odds.max_score,
            odds=_("every key")
            if odds.expected_keys < 1.5
            else _("1 in {count} keys", count=human_count(odds.expected_keys)),
        ),
        ngettext(
            "One pull ({keys} keys): {chance} for a full match, {n} token",
            "One pull ({keys} keys): {chance} for a full match, {n} tokens",
            odds.pull_price,
            keys=human_count(odds.pull_keys),
            chance=percent(odds.p_full_in_pull),
        ),
    ]
    if odds.order_price is not None:
        lines.append(
            ngettext(
                "Order the exact match: {n} token, about {time}",
                "Order the exact match: {n} tokens, about {time}",
                odds.order_price,
                time=duration(odds.order_expected_s),
            )
        )
    elif odds.order_refusal:
        lines.append(_("Order: {why}", why=esc(odds.order_refusal)))
    if odds.web_url:
        lines.append(web_odds_link(odds.web_url))
    return fit(lines)


def _keys_progress(order: OrderView) -> str:
    if order.keys_checked > order.expected_keys:  # luck, not a percentage past 100
        return _(
            "{keys} keys, past the ~{expected} expected",
            keys=human_count(order.keys_checked),
            expected=human_count(order.expected_keys),
        )
    return _(
        "{keys} of ~{expected} keys ({percent})",
        keys=human_count(order.keys_checked),
        expected=human_count(order.expected_keys),
        percent=share(order.percent / 100),
    )


def web_odds_link(url: str) -> str:
    """A link to the web page with every tier's chance."""
    return _('📊 <a href="{url}">Every tier\'s chance, on the web</a>', url=esc(url))


ORDER_STATUS = {
    "accepted": N_("⏳ accepted"),
    "submitted": N_("⏳ submitted"),
    "running": N_("⚙️ grinding"),
    "found": N_("✅ found"),
    "delivered": N_("✅ delivered"),
    "failed": N_("❌ failed"),
    "refunded": N_("↩️ refunded"),
}


def render_order(order: OrderView, *, public: bool = True) -> str:
    """The order's progress message. In public it says what is happening, never money or refunds."""
    status = ORDER_STATUS.get(order.status)
    lines = [
        _(
            "🧾 Order for <code>{pattern}</code> ({format}) by {who}: {status}",
            pattern=esc(order.pattern),
            format=esc(order.format_id),
            who=user_label(order.user),
            status=_(status) if status else esc(order.status),
        ),
        _keys_progress(order)
        + (_(" · {rate} keys/s", rate=human_count(order.rate_keys_per_s)) if order.rate_keys_per_s else "")
        + (
            _(" · about {time} left", time=duration(order.eta_s))
            if order.eta_s is not None and order.status == "running"
            else ""
        ),
    ]
    if order.found is not None:
        lines += [highlighted(order.found), rarity_line(order.found)]
    if order.message and (not public or order.status in ("accepted", "submitted", "running")):
        lines.append(esc(order.message))
    return fit(lines)


def render_order_accepted(answer: OrderAnswer) -> str:
    """Public: the order and when to expect it (the service's note says the time once)."""
    lines = [render_order(answer.order)]
    if answer.note:
        lines.append(esc(answer.note))
    return fit(lines)


def render_order_receipt(answer: OrderAnswer) -> str:
    """Private: what the order cost and what is left."""
    return ngettext(
        "🧾 Your order for <code>{pattern}</code> ({format}): paid {n} token; your balance is now {balance}.",
        "🧾 Your order for <code>{pattern}</code> ({format}): paid {n} tokens; your balance is now {balance}.",
        answer.order.price,
        pattern=esc(answer.order.pattern),
        format=esc(answer.order.format_id),
        balance=number(answer.balance_after),
    )


def render_order_quote(odds: OddsAnswer) -> str:
    """The quote under the Order button: price, expected time and odds for the exact match; or why it cannot be
    ordered."""
    if odds.order_price is None:
        return _(
            "🧾 <code>{pattern}</code> cannot be ordered: {why}",
            pattern=esc(odds.pattern),
            why=esc(odds.order_refusal or _("too hard")),
        )
    return ngettext(
        "🧾 Order the exact match <code>{pattern}</code> ({format}) for <b>{n} token</b>? Expected about "
        "{time} (1 in {expected} keys).",
        "🧾 Order the exact match <code>{pattern}</code> ({format}) for <b>{n} tokens</b>? Expected about "
        "{time} (1 in {expected} keys).",
        odds.order_price,
        pattern=esc(odds.pattern),
        format=esc(odds.format_id),
        time=duration(odds.order_expected_s),
        expected=human_count(odds.expected_keys),
    )


def render_delivery(delivery: KeyDelivery) -> list[str]:
    """The private messages that carry secrets: one, or more when a 10-pull would pass 4096 characters."""
    header = (
        _(
            "🔑 Your order for <code>{pattern}</code> ({format}), for your eyes only.",
            pattern=esc(delivery.pattern),
            format=esc(delivery.format_id),
        )
        if delivery.kind == "order"
        else _(
            "🔑 Your pull for <code>{pattern}</code> ({format}), for your eyes only.",
            pattern=esc(delivery.pattern),
            format=esc(delivery.format_id),
        )
    )
    footer = esc(delivery.note) if delivery.note else ""
    blocks = []
    for secret in delivery.secrets:
        label = (
            _("Offset (combine it with your key)")
            if secret.secret_kind == "offset"
            else esc(secret.export_kind.upper())
        )
        tier = f" · {esc(tier_name(secret.tier))} {secret.score}/{secret.max_score}" if secret.tier else ""
        block = (
            f"<code>{esc(secret.identifier)}</code>{tier}\n"
            f"{label}: <tg-spoiler><code>{esc(secret.value)}</code></tg-spoiler>"
        )
        if secret.jwk:
            block += f"\nJWK: <pre>{esc(secret.jwk)}</pre>"
        blocks.append(block)
    messages: list[str] = []
    current = header
    for block in blocks + ([footer] if footer else []):
        if utf16_len(current) + 2 + utf16_len(block) > MAX_MESSAGE:
            messages.append(current)
            current = block
        else:
            current += "\n\n" + block
    messages.append(current)
    return messages


def render_balance(answer: BalanceAnswer) -> str:
    """The /balance answer: tokens, today's free pulls, prices and spend against the daily limit, and any debt."""
    lines = [
        ngettext(
            "💰 {who}: <b>{n}</b> token", "💰 {who}: <b>{n}</b> tokens", answer.tokens, who=user_label(answer.user)
        ),
        _("Free pulls left today: {left}/{per_day}", left=answer.free_pulls_left, per_day=answer.free_pulls_per_day),
        _(
            "Pull {pull} · 10-pull {ten} tokens · spent today {spent}/{limit}",
            pull=number(answer.pull_price),
            ten=number(answer.ten_pull_price),
            spent=number(answer.spent_today),
            limit=number(answer.daily_spend_limit),
        ),
    ]
    if answer.debt:
        lines.append(
            ngettext(
                "⚠️ You owe {n} token after a reversed payment; paid actions are paused until it is paid.",
                "⚠️ You owe {n} tokens after a reversed payment; paid actions are paused until it is paid.",
                answer.debt,
            )
        )
    return fit(lines)


def render_topup(answer: TopupAnswer | None, stars_packs: tuple[StarsPack, ...], free_pulls_per_day: int = 0) -> str:
    """Stars first (Telegram's rule for digital goods); a card link only where the operator enabled it."""
    lines = [_("💳 Top up")]
    if stars_packs:
        lines.append(_("⭐ Pay with Telegram Stars:"))
        for star_pack in stars_packs:
            lines.append(
                ngettext(
                    "• {n} token for {stars} ⭐",
                    "• {n} tokens for {stars} ⭐",
                    star_pack.tokens,
                    stars=number(star_pack.stars),
                )
            )
    if answer is not None:
        if answer.url:
            lines.append(
                _(
                    '<a href="{url}">Pay by card (Stripe)</a>: {message}',
                    url=esc(answer.url),
                    message=esc(answer.message),
                )
            )
        elif not answer.configured:
            lines.append(_("💳 Card payments: {message}", message=esc(answer.message)))
        else:
            lines.append(_("💳 Or by card: {message}", message=esc(answer.message)))
            for pack in answer.packs:
                lines.append(
                    ngettext(
                        "• <code>{pack}</code>: {n} token for {price} (/topup {pack})",
                        "• <code>{pack}</code>: {n} tokens for {price} (/topup {pack})",
                        pack.tokens,
                        pack=esc(pack.pack_id),
                        price=esc(pack.price),
                    )
                )
    if len(lines) == 1:
        lines.append(
            ngettext(
                "Buying tokens is not set up on this bot; you still get {n} free pull a day.",
                "Buying tokens is not set up on this bot; you still get {n} free pulls a day.",
                free_pulls_per_day,
            )
        )
    return fit(lines)


def render_keys(answer: KeysAnswer) -> str:
    """The service's /keys message, escaped."""
    return esc(answer.message)


def render_history(answer: HistoryAnswer) -> str:
    """The /history answer: the balance, then one line per ledger entry (time, kind, tokens, detail); cut to fit."""
    lines = [
        ngettext(
            "📜 {who}: balance {n} token", "📜 {who}: balance {n} tokens", answer.balance, who=user_label(answer.user)
        )
    ]
    if not answer.entries:
        lines.append(_("Nothing yet: try /pull."))
    for entry in answer.entries:
        tokens = f"{entry.tokens:+d}" if entry.tokens else "±0"
        lines.append(f"{entry.at:%Y-%m-%d %H:%M} · {esc(history_kind(entry.kind))} · {tokens} · {esc(entry.detail)}")
    return fit(lines)


def render_leaderboard(answer: LeaderboardAnswer) -> str:
    """The /leaderboard answer: the ranked rarest pulls here (for no community: `everyone`); cut to fit."""
    where = esc(answer.community.title) if answer.community and answer.community.title else _("everyone")
    lines = [_("🏆 Rarest pulls · {where}", where=where)]
    if not answer.entries:
        lines.append(_("No pulls yet: be the first with /pull."))
    for entry in answer.entries:
        lines.append(
            f"{entry.rank}. {user_label(entry.user)} <code>{esc(entry.pattern)}</code> "
            f"{highlighted(entry.key)} · {rarity_line(entry.key)}"
        )
    return fit(lines)


def render_help(answer: HelpAnswer) -> str:
    """The /help answer: each command's usage and summary, the formats, the match options, the service's notes."""
    lines = [_("🔑 <b>VaniKeys</b>: pull for vanity crypto keys.")]
    for command in answer.commands:
        lines.append(f"<code>{esc(command.usage)}</code>: {esc(command.summary)}")
    lines.append(
        _(
            "Formats: {formats}",
            formats=", ".join(f"<code>{esc(fid)}</code> {esc(title)}" for fid, title in answer.formats),
        )
    )
    lines.append(
        _("Options: add <code>--exact</code> for exact case, <code>--fuzzy</code> for look-alikes (0/o, 1/i/l…).")
    )
    for note in answer.notes:
        lines.append(esc(note))
    return fit(lines)


def render_reveal_extras(answer: PullAnswer) -> list[str]:
    """Lines a reveal gains from the community features: a new personal best, a streak."""
    lines = []
    if answer.is_new_personal_best:
        lines.append(_("🏅 <b>NEW personal best</b> for this pattern!"))
    if answer.streak is not None and answer.streak.days >= 2:
        lines.append(ngettext("🔥 {n}-day streak", "🔥 {n}-day streak", answer.streak.days))
    return lines


def render_config(answer: ConfigAnswer) -> str:
    """The /config answer: the group's settings, the service's message, and how admins change a setting."""
    lines = [_("⚙️ <b>Settings for this group</b>")] + [f"• {esc(line)}" for line in answer.lines]
    lines.append(esc(answer.message))
    lines.append(
        _(
            "Admins change them with <code>/config &lt;setting&gt; &lt;value&gt;</code>; "
            "a channel here is a topic's id (or the group's own id)."
        )
    )
    return fit(lines)


def render_season(answer: SeasonLeaderboardAnswer) -> str:
    """The /season answer: this season's ranked rarest pulls here and when the season ends; cut to fit."""
    where = esc(answer.community.title) if answer.community and answer.community.title else _("everyone")
    lines = [
        _(
            "🏆 Season {season} · {where} · until {ends}",
            season=esc(answer.season),
            where=where,
            ends=when(answer.ends_at),
        )
    ]
    if not answer.entries:
        lines.append(_("No pulls this season yet: be the first with /pull."))
    for entry in answer.entries:
        lines.append(
            f"{entry.rank}. {user_label(entry.user)} <code>{esc(entry.pattern)}</code> "
            f"{highlighted(entry.key)} · {rarity_line(entry.key)}"
        )
    return fit(lines)


def render_profile(answer: ProfileAnswer) -> str:
    """The /profile answer: pulls, season rank, streak, and the person's best pulls; cut to fit."""
    rank = f"#{answer.season_rank}" if answer.season_rank else _("no pull yet")
    lines = [
        ngettext(
            "👤 {who} · {n} pull · season {season}: {rank}",
            "👤 {who} · {n} pulls · season {season}: {rank}",
            answer.total_pulls,
            who=user_label(answer.user),
            season=esc(answer.season),
            rank=rank,
        ),
        f"🔥 {esc(answer.streak.message)}",
    ]
    if not answer.best_pulls:
        lines.append(_("No pulls yet: try /pull."))
    for best in answer.best_pulls:
        lines.append(f"• <code>{esc(best.pattern)}</code> {highlighted(best.key)} · {rarity_line(best.key)}")
    return fit(lines)


def render_card_caption(card: CardAnswer) -> str:
    """A card photo's caption: pattern, format, the highlighted key and its rarity, within a caption's 1,024
    characters."""
    return fit(
        [f"🃏 <code>{esc(card.pattern)}</code> · {esc(card.format_id)}", highlighted(card.key), rarity_line(card.key)],
        1024,
    )


def render_gift(answer: GiftAnswer) -> str:
    """A gift's outcome, as the service words it."""
    return f"🎁 {esc(answer.message)}"


def render_streak(answer: StreakAnswer) -> str:
    """A streak's state, as the service words it."""
    return f"🔥 {esc(answer.message)}"


# Every answer type (bot/answers.py) and what renders it on Telegram, with the platform's extra arguments filled
# in; tests/bot/test_render_registry.py fails when a type has no entry here or its entry cannot render it.
RENDERERS: dict[type, Callable[[Any], object]] = {
    PullAnswer: lambda answer: render_pull(answer, deep_link=None),
    OrderView: render_order,
    OrderAnswer: render_order_receipt,
    OddsAnswer: render_odds,
    BalanceAnswer: render_balance,
    TopupAnswer: lambda answer: render_topup(answer, ()),
    KeysAnswer: render_keys,
    KeyDelivery: render_delivery,
    HistoryAnswer: render_history,
    LeaderboardAnswer: render_leaderboard,
    SeasonLeaderboardAnswer: render_season,
    ProfileAnswer: render_profile,
    ConfigAnswer: render_config,
    CardAnswer: render_card_caption,
    HelpAnswer: render_help,
    GiftAnswer: render_gift,
    StreakAnswer: render_streak,
}
