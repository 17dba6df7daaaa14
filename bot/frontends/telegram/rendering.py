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

from gpu_worker.humanize import duration, plural

from bot.answers import (
    BalanceAnswer,
    CardAnswer,
    ConfigAnswer,
    GiftAnswer,
    ProfileAnswer,
    SeasonLeaderboardAnswer,
    HelpAnswer,
    HistoryAnswer,
    KeyDelivery,
    KeysAnswer,
    LeaderboardAnswer,
    OddsAnswer,
    OrderAnswer,
    OrderView,
    PullAnswer,
    ShownKey,
    StreakAnswer,
    TopupAnswer,
    UserRef,
)

from bot.frontends.telegram.config import StarsPack
from bot.frontends.telegram.text_size import MAX_MESSAGE, utf16_len

TIER_MARKS = {
    "Common": "⚪",
    "Uncommon": "🟢",
    "Rare": "🔵",
    "Epic": "🟣",
    "Legendary": "🟠",
    "Mythic": "🌈",
}


def esc(text: object) -> str:
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
        marker = f"\n… {len(lines) - index} more lines not shown"
        cost = utf16_len(line) + (1 if kept else 0)
        if used + cost + utf16_len(marker) > limit:
            return "\n".join(kept) + marker
        kept.append(line)
        used += cost
    return "\n".join(kept)  # pragma: no cover - the loop always returns when text is too long


def human_count(value: float) -> str:
    if math.isinf(value) or math.isnan(value):
        return "∞"
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if value >= size:
            return f"{value / size:.1f} {word}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def percent(p: float) -> str:
    if p >= 0.01:
        return f"{p * 100:.1f}%"
    if p <= 0:
        return "0%"
    return f"1 in {human_count(1 / p)}"


def no_mentions(text: str) -> str:
    """A word joiner after every @, so Telegram never turns a typed name into a mention of someone."""
    return text.replace("@", "@\u2060")


def user_label(user: UserRef) -> str:
    return f"<b>{no_mentions(esc(user.label))}</b>"


def highlighted(key: ShownKey) -> str:
    """The identifier with its matched parts bold and underlined (Telegram allows no tags inside <code>)."""
    return "".join(f"<b><u>{esc(text)}</u></b>" if hit else esc(text) for text, hit in key.segments())


def rarity_line(key: ShownKey) -> str:
    """Tier by "1 in X pulls"; a full match is a badge beside the tier, never a tier of its own."""
    mark = TIER_MARKS.get(key.tier, "")
    badge = " · ✨ full match" if key.full else ""
    return (f"{mark} <b>{esc(key.tier)}</b> · score {key.score}/{key.max_score} · "
            f"1 in {human_count(key.one_in_pulls)} pulls{badge}")


def best_first(answer: PullAnswer) -> list[ShownKey]:
    """A 10-pull's keys, rarest first (the service orders them so; older answers are sorted here)."""
    return sorted(answer.keys, key=lambda k: (k.one_in_pulls, k.score), reverse=True)


def odds_line(odds: OddsAnswer) -> str:
    return (f"Odds: a full match is 1 in {human_count(odds.expected_keys)} keys; "
            f"one pull ({human_count(odds.pull_keys)} keys) finds one {percent(odds.p_full_in_pull)}")


def render_pull(answer: PullAnswer, *, deep_link: str | None, before_delivery: bool = False,
                key_below: bool = False) -> str:
    """The public result: who pulled, the address with the match highlighted, rarity, score, odds.

    key_below: the reveal heads the private message that carries the key, so it says nothing of delivery."""
    lines = [
        f"🎰 {user_label(answer.user)} pulled <code>{esc(answer.pattern)}</code> · {esc(answer.format_title)}",
    ]
    ordered = best_first(answer)
    if len(ordered) == 1:
        lines += [highlighted(ordered[0]), rarity_line(ordered[0])]
    else:
        lines.append(f"Best of {len(ordered)}: {highlighted(ordered[0])}")
        lines.append(rarity_line(ordered[0]))
        for index, key in enumerate(ordered, 1):
            mark = TIER_MARKS.get(key.tier, "")
            lines.append(f"{index}. {highlighted(key)} {mark} {key.score}/{key.max_score}")
    lines += render_reveal_extras(answer)
    lines.append(odds_line(answer.odds))
    if answer.odds.web_url:
        lines.append(web_odds_link(answer.odds.web_url))
    # What it cost is private (the balance and purchases never go to a group).
    lines.append(f"<i>{human_count(answer.keys_checked)} keys in {answer.elapsed_s:.1f} s on {esc(answer.backend)}</i>")
    if answer.cut_short is not None:
        lines.append(f"<i>{esc(answer.cut_short.note)}</i>")
    if key_below:
        pass
    elif before_delivery:
        lines.append("🔑 The private key goes to the puller's private chat with the bot (the button fetches it "
                     "if it does not arrive).")
    elif answer.delivered:
        lines.append("🔑 The private key went to a private chat with the bot.")
    elif deep_link:
        lines.append(f'🔒 The key is safe in the vault: <a href="{esc(deep_link)}">open a private chat with the bot</a> to receive it.')
    elif answer.delivery_note:
        lines.append(f"🔒 {esc(answer.delivery_note)}")
    return fit(lines)


def render_pull_digest_line(answer: PullAnswer) -> str:
    """One reveal inside a busy group's digest ("3 more pulls: …")."""
    best = best_first(answer)[0]
    count = f" ×{len(answer.keys)}" if len(answer.keys) > 1 else ""
    return (f"{user_label(answer.user)} <code>{esc(answer.pattern)}</code>{count}: {highlighted(best)} "
            f"{TIER_MARKS.get(best.tier, '')} {esc(best.tier)}{' ✨' if best.full else ''}")


def render_rolling(user: UserRef, pattern: str, step: int) -> str:
    """The suspense before a reveal: no tier colour, just the reels turning."""
    reels = ["🎰 ▫️▫️▫️", "🎰 ✴️▫️▫️", "🎰 ✴️✴️▫️", "🎰 ✴️✴️✴️"][min(step, 3)]
    return f"{reels} {user_label(user)} is pulling <code>{esc(pattern)}</code>… rolling"


def render_odds(odds: OddsAnswer) -> str:
    lines = [
        f"🎲 Odds for <code>{esc(odds.pattern)}</code> · {esc(odds.format_title)}",
        f"Full match ({plural(odds.max_score, 'character')}): "
        + ("every key" if odds.expected_keys < 1.5 else f"1 in {human_count(odds.expected_keys)} keys"),
        f"One pull ({human_count(odds.pull_keys)} keys): {percent(odds.p_full_in_pull)} for a full match, {odds.pull_price} tokens",
    ]
    if odds.order_price is not None:
        lines.append(f"Order the exact match: {odds.order_price} tokens, about {duration(odds.order_expected_s)}")
    elif odds.order_refusal:
        lines.append(f"Order: {esc(odds.order_refusal)}")
    if odds.web_url:
        lines.append(web_odds_link(odds.web_url))
    return fit(lines)


def _keys_progress(order: OrderView) -> str:
    if order.keys_checked > order.expected_keys:  # luck, not a percentage past 100
        return f"{human_count(order.keys_checked)} keys, past the ~{human_count(order.expected_keys)} expected"
    return f"{human_count(order.keys_checked)} of ~{human_count(order.expected_keys)} keys ({order.percent:.1f}%)"


def web_odds_link(url: str) -> str:
    return f'📊 <a href="{esc(url)}">Every tier\'s chance, on the web</a>'


def render_order(order: OrderView, *, public: bool = True) -> str:
    """The order's progress message. In public it says what is happening, never money or refunds."""
    status = {
        "accepted": "⏳ accepted",
        "submitted": "⏳ submitted",
        "running": "⚙️ grinding",
        "found": "✅ found",
        "delivered": "✅ delivered",
        "failed": "❌ failed",
        "refunded": "↩️ refunded",
    }.get(order.status, esc(order.status))
    lines = [
        f"🧾 Order for <code>{esc(order.pattern)}</code> ({esc(order.format_id)}) by {user_label(order.user)}: {status}",
        _keys_progress(order)
        + (f" · {human_count(order.rate_keys_per_s)} keys/s" if order.rate_keys_per_s else "")
        + (f" · about {duration(order.eta_s)} left" if order.eta_s is not None and order.status == "running" else ""),
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
    return (f"🧾 Your order for <code>{esc(answer.order.pattern)}</code> ({esc(answer.order.format_id)}): "
            f"paid {answer.order.price} tokens; your balance is now {answer.balance_after}.")


def render_order_quote(odds: OddsAnswer) -> str:
    if odds.order_price is None:
        return f"🧾 <code>{esc(odds.pattern)}</code> cannot be ordered: {esc(odds.order_refusal or 'too hard')}"
    return (f"🧾 Order the exact match <code>{esc(odds.pattern)}</code> ({esc(odds.format_id)}) for "
            f"<b>{odds.order_price} tokens</b>? Expected about {duration(odds.order_expected_s)} "
            f"(1 in {human_count(odds.expected_keys)} keys).")


def render_delivery(delivery: KeyDelivery) -> list[str]:
    """The private messages that carry secrets: one, or more when a 10-pull would pass 4096 characters."""
    what = "order" if delivery.kind == "order" else "pull"
    header = f"🔑 Your {what} for <code>{esc(delivery.pattern)}</code> ({esc(delivery.format_id)}), for your eyes only."
    footer = esc(delivery.note) if delivery.note else ""
    blocks = []
    for secret in delivery.secrets:
        label = "Offset (combine it with your key)" if secret.secret_kind == "offset" else esc(secret.export_kind.upper())
        tier = f" · {esc(secret.tier)} {secret.score}/{secret.max_score}" if secret.tier else ""
        block = f"<code>{esc(secret.identifier)}</code>{tier}\n{label}: <tg-spoiler><code>{esc(secret.value)}</code></tg-spoiler>"
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
    lines = [
        f"💰 {user_label(answer.user)}: <b>{answer.tokens}</b> tokens",
        f"Free pulls left today: {answer.free_pulls_left}/{answer.free_pulls_per_day}",
        f"Pull {answer.pull_price} · 10-pull {answer.ten_pull_price} tokens · spent today {answer.spent_today}/{answer.daily_spend_limit}",
    ]
    if answer.debt:
        lines.append(f"⚠️ You owe {answer.debt} tokens after a reversed payment; paid actions are paused until it is paid.")
    return fit(lines)


def render_topup(answer: TopupAnswer | None, stars_packs: tuple[StarsPack, ...], free_pulls_per_day: int = 0) -> str:
    """Stars first (Telegram's rule for digital goods); a card link only where the operator enabled it."""
    lines = ["💳 Top up"]
    if stars_packs:
        lines.append("⭐ Pay with Telegram Stars:")
        for star_pack in stars_packs:
            lines.append(f"• {star_pack.tokens} tokens for {star_pack.stars} ⭐")
    if answer is not None:
        if answer.url:
            lines.append(f'<a href="{esc(answer.url)}">Pay by card (Stripe)</a>: {esc(answer.message)}')
        elif not answer.configured:
            lines.append("💳 Card payments: " + esc(answer.message))
        else:
            lines.append("💳 Or by card: " + esc(answer.message))
            for pack in answer.packs:
                lines.append(f"• <code>{esc(pack.pack_id)}</code>: {pack.tokens} tokens for {esc(pack.price)} "
                             f"(/topup {esc(pack.pack_id)})")
    if len(lines) == 1:
        lines.append(f"Buying tokens is not set up on this bot; you still get {free_pulls_per_day} free pulls a day.")
    return fit(lines)


def render_keys(answer: KeysAnswer) -> str:
    return esc(answer.message)


def render_history(answer: HistoryAnswer) -> str:
    lines = [f"📜 {user_label(answer.user)}: balance {answer.balance} tokens"]
    if not answer.entries:
        lines.append("Nothing yet: try /pull.")
    for entry in answer.entries:
        tokens = f"{entry.tokens:+d}" if entry.tokens else "±0"
        lines.append(f"{entry.at:%Y-%m-%d %H:%M} · {esc(entry.kind)} · {tokens} · {esc(entry.detail)}")
    return fit(lines)


def render_leaderboard(answer: LeaderboardAnswer) -> str:
    where = esc(answer.community.title) if answer.community and answer.community.title else "everyone"
    lines = [f"🏆 Rarest pulls · {where}"]
    if not answer.entries:
        lines.append("No pulls yet: be the first with /pull.")
    for entry in answer.entries:
        lines.append(f"{entry.rank}. {user_label(entry.user)} <code>{esc(entry.pattern)}</code> {highlighted(entry.key)} · {rarity_line(entry.key)}")
    return fit(lines)


def render_help(answer: HelpAnswer) -> str:
    lines = ["🔑 <b>VaniKeys</b>: pull for vanity crypto keys."]
    for command in answer.commands:
        lines.append(f"<code>{esc(command.usage)}</code>: {esc(command.summary)}")
    lines.append("Formats: " + ", ".join(f"<code>{esc(fid)}</code> {esc(title)}" for fid, title in answer.formats))
    lines.append("Options: add <code>--exact</code> for exact case, <code>--fuzzy</code> for look-alikes (0/o, 1/i/l…).")
    for note in answer.notes:
        lines.append(esc(note))
    return fit(lines)


def render_reveal_extras(answer: PullAnswer) -> list[str]:
    """Lines a reveal gains from the community features: a new personal best, a streak."""
    lines = []
    if answer.is_new_personal_best:
        lines.append("🏅 <b>NEW personal best</b> for this pattern!")
    if answer.streak is not None and answer.streak.days >= 2:
        lines.append(f"🔥 {answer.streak.days}-day streak")
    return lines


def render_config(answer: ConfigAnswer) -> str:
    lines = ["⚙️ <b>Settings for this group</b>"] + [f"• {esc(line)}" for line in answer.lines]
    lines.append(esc(answer.message))
    lines.append("Admins change them with <code>/config &lt;setting&gt; &lt;value&gt;</code>; "
                 "a channel here is a topic's id (or the group's own id).")
    return fit(lines)


def render_season(answer: SeasonLeaderboardAnswer) -> str:
    where = esc(answer.community.title) if answer.community and answer.community.title else "everyone"
    lines = [f"🏆 Season {esc(answer.season)} · {where} · until {answer.ends_at:%a %d %b %H:%M}"]
    if not answer.entries:
        lines.append("No pulls this season yet: be the first with /pull.")
    for entry in answer.entries:
        lines.append(f"{entry.rank}. {user_label(entry.user)} <code>{esc(entry.pattern)}</code> "
                     f"{highlighted(entry.key)} · {rarity_line(entry.key)}")
    return fit(lines)


def render_profile(answer: ProfileAnswer) -> str:
    rank = f"#{answer.season_rank}" if answer.season_rank else "no pull yet"
    lines = [f"👤 {user_label(answer.user)} · {answer.total_pulls} pulls · season {esc(answer.season)}: {rank}",
             f"🔥 {esc(answer.streak.message)}"]
    if not answer.best_pulls:
        lines.append("No pulls yet: try /pull.")
    for best in answer.best_pulls:
        lines.append(f"• <code>{esc(best.pattern)}</code> {highlighted(best.key)} · {rarity_line(best.key)}")
    return fit(lines)


def render_card_caption(card: CardAnswer) -> str:
    return fit([f"🃏 <code>{esc(card.pattern)}</code> · {esc(card.format_id)}", highlighted(card.key),
                rarity_line(card.key)], 1024)


def render_gift(answer: GiftAnswer) -> str:
    return f"🎁 {esc(answer.message)}"


def render_streak(answer: StreakAnswer) -> str:
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
