"""Service answers as Discord embeds and messages. Pure functions: no I/O, no secrets outside `delivery_messages`.

Addresses are shown twice: in markdown with the matched parts bold and
underlined (readable in the reveal), and in a code block with a caret line
under the matched characters (copyable, and it survives clients that strip
formatting). Only `delivery_messages` ever sees a private key, and its output
goes to a DM alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import discord
from discord.utils import escape_markdown

from gpu_worker.humanize import compact, duration, plural

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
)

MAX_MESSAGE = 2000
MAX_FIELD = 1024
MAX_DESCRIPTION = 4096

TIER_COLOURS: dict[str, int] = {
    "Common": 0x95A5A6,
    "Uncommon": 0x2ECC71,
    "Rare": 0x3498DB,
    "Epic": 0x9B59B6,
    "Legendary": 0xF1C40F,
    "Mythic": 0xE91E63,
}
TIER_EMOJI: dict[str, str] = {
    "Common": "⚪", "Uncommon": "🟢", "Rare": "🔵", "Epic": "🟣", "Legendary": "🟡", "Mythic": "🔴",
}
NEUTRAL = 0x5865F2
ERROR = 0xED4245

CLOSED_DMS_STEPS = ("To get it: open this server's menu → **Privacy Settings** → turn on **Direct Messages**, then "
                    "send `/keys` (here or in a DM with me).")
CLOSED_DMS_HELP = "I couldn't DM you your private key, so it is safe in the vault. " + CLOSED_DMS_STEPS
FULL_MATCH_BADGE = "✨ full match"


def tier_colour(tier: str) -> discord.Colour:
    return discord.Colour(TIER_COLOURS.get(tier, NEUTRAL))


def highlighted(key: ShownKey) -> str:
    """The identifier in markdown, matched parts in bold and underlined."""
    return "".join(f"__**{escape_markdown(text)}**__" if hit else escape_markdown(text)
                   for text, hit in key.segments())


def caret_block(key: ShownKey) -> str:
    """The identifier in a code block with ^ under every matched character."""
    marks = [" "] * len(key.identifier)
    for start, end in key.spans:
        for i in range(max(0, start), min(end, len(marks))):
            marks[i] = "^"
    return f"```\n{key.identifier}\n{''.join(marks).rstrip()}\n```"


def one_in(value: float) -> str:
    """"1 in 4.2M" style, for odds and rarity."""
    if not math.isfinite(value) or value <= 0:
        return "never"
    if value < 1.5:
        return "every time"
    return f"1 in {compact(value)}"


def one_in_unit(value: float, unit: str) -> str:
    """"1 in 4.2M pulls", "every pull" or "never": a count of `unit`s that reads as English."""
    text = one_in(value)
    if text == "every time":
        return f"every {unit}"
    return text if text == "never" else f"{text} {unit}s"


def percent(value: float) -> str:
    if value <= 0:
        return "0%"
    return f"{value * 100:.3g}%" if value < 0.995 else f"{value * 100:.1f}%"


# --- pulls ---------------------------------------------------------------------


def pull_embed(answer: PullAnswer, puller_name: str, avatar_url: str | None = None) -> discord.Embed:
    """The reveal: the best key as the headline, a 10-pull's keys best first below it."""
    best = answer.best
    title = f"{TIER_EMOJI.get(best.tier, '')} {best.tier}" + (f" · {FULL_MATCH_BADGE}" if best.full else "")
    if answer.count > 1:
        title += f" · best of {answer.count}"
    embed = discord.Embed(title=title.strip(), colour=tier_colour(best.tier),
                          description=f"{highlighted(best)}\n{caret_block(best)}", url=answer.odds.web_url)
    embed.set_author(name=f"{puller_name} pulled {answer.pattern} ({answer.format_title})", icon_url=avatar_url)
    embed.add_field(name="Score", value=f"{best.score}/{best.max_score}")
    embed.add_field(name="Rarity", value=one_in_unit(best.one_in_pulls, "pull"))
    embed.add_field(name="Full match odds", value=f"{percent(answer.odds.p_full_in_pull)} per pull "
                                                  f"({one_in_unit(answer.odds.expected_keys, 'key')})")
    if answer.count > 1:
        lines = [f"{TIER_EMOJI.get(k.tier, '')} `{k.score}/{k.max_score}` {_key_line(k)}" for k in best_first(answer)]
        for number, value in enumerate(_split_lines(lines, MAX_FIELD)):
            name = f"All {answer.count} pulls, best first" if number == 0 else f"All {answer.count} pulls (continued)"
            embed.add_field(name=name, value=value, inline=False)
    if answer.is_new_personal_best and answer.personal_best is not None:
        previous = answer.personal_best.previous_one_in
        was = f" (was {one_in_unit(previous, 'pull')})" if previous is not None else ""
        embed.add_field(name="🏆 NEW personal best", value=f"best {answer.pattern} so far{was}", inline=False)
    # what it cost is the puller's business (/history), not the channel's; the reveal comes before the DM
    cut_short = f"{answer.cut_short.note} · " if answer.cut_short is not None else ""
    embed.set_footer(text=f"{answer.keys_checked:,} keys in {answer.elapsed_s:.2f} s on {answer.backend} · "
                          f"{cut_short}private key by DM (or /keys)")
    return embed


def rolling_embed(puller_name: str, step: int) -> discord.Embed:
    """The suspense before a reveal: neutral colour, nothing about the tier, one more die per step."""
    return discord.Embed(title=f"{'🎲' * (step + 1)} Rolling…", colour=discord.Colour(NEUTRAL),
                         description=f"{escape_markdown(puller_name)} is pulling. The result lands here in a moment.")


def best_first(answer: PullAnswer) -> list[ShownKey]:
    """The best key first (the headline), the rest rarest first; ties keep pull order."""
    rest = [k for i, k in enumerate(answer.keys) if i != answer.best_index]
    return [answer.best, *sorted(rest, key=lambda k: (-_rarity_value(k.one_in_pulls), -k.score))]


def _rarity_value(one_in_pulls: float) -> float:
    return one_in_pulls if math.isfinite(one_in_pulls) else math.inf


def _key_line(key: ShownKey) -> str:
    """A key for a list: highlighted, or plain in a code span when the markdown would not fit a field."""
    text = highlighted(key)
    return text if len(text) <= MAX_FIELD // 2 else f"`{key.identifier}`"


def closed_dms_text() -> str:
    return CLOSED_DMS_HELP


# --- orders --------------------------------------------------------------------


def order_embed(order: OrderView) -> discord.Embed:
    found = order.found
    if found is not None:
        colour = tier_colour(found.tier)
    elif order.status in ("failed", "refunded"):
        colour = discord.Colour(ERROR)
    else:
        colour = discord.Colour(NEUTRAL)
    embed = discord.Embed(title=f"Order {_status_title(order)}: {order.pattern}", colour=colour,
                          description=escape_markdown(order.message))
    embed.set_author(name=f"{order.user.label}'s order ({order.format_id})")
    if found is not None:
        embed.add_field(name="Found", value=_fit(f"{highlighted(found)}\n{caret_block(found)}", MAX_FIELD), inline=False)
    else:
        progress = (f"{progress_bar(order.percent)} {order.percent:.1f}% of expected" if order.percent <= 100
                    else f"{progress_bar(100)} past the expected keys: the match may come at any moment")
        embed.add_field(name="Progress", value=progress, inline=False)
    embed.add_field(name="Keys checked", value=f"{order.keys_checked:,} of ~{compact(order.expected_keys)}")
    if order.rate_keys_per_s > 0:
        embed.add_field(name="Speed", value=f"{compact(order.rate_keys_per_s)} keys/s")
    if order.eta_s is not None and found is None and order.status not in ("failed", "refunded"):
        embed.add_field(name="ETA", value=duration(order.eta_s, short=True))
    embed.set_footer(text=f"order {order.order_id}"
                          + (" · split-key: the secret is an offset for `vanikeys combine`" if order.split else ""))
    return embed


def order_receipt_text(answer: OrderAnswer) -> str:
    """Private to the buyer: what was paid and what is left (never in a channel)."""
    return (f"Paid {answer.order.price} tokens for your order of `{answer.order.pattern}`; "
            f"your balance is now {answer.balance_after} tokens. {answer.note[:1].upper()}{answer.note[1:]}.")


def order_finished_text(order: OrderView, mention: str) -> str:
    if order.found is not None:
        where = "by DM" if order.delivered else "in the vault: DMs are closed, open them and send /keys"
        return f"🎉 {mention} your order for `{order.pattern}` is done: your key is {where}."
    return f"{mention} your order for `{order.pattern}` ended: {order.message}"


def progress_bar(value_percent: float, width: int = 16) -> str:
    filled = max(0, min(width, round(value_percent / 100 * width)))
    return "█" * filled + "░" * (width - filled)


def _status_title(order: OrderView) -> str:
    return {"accepted": "placed", "submitted": "queued", "running": "grinding", "found": "found",
            "delivered": "complete", "failed": "failed", "refunded": "refunded"}.get(order.status, order.status)


# --- private delivery (DM only) --------------------------------------------------------


def delivery_messages(delivery: KeyDelivery) -> list[str]:
    """The DM text carrying the secrets, cut into messages Discord accepts. Only ever sent to a DM."""
    head = f"🔑 **Your {delivery.kind}** · `{delivery.pattern}` · {delivery.format_id}"
    blocks = []
    for number, secret in enumerate(delivery.secrets, 1):
        lines = [f"**{number}.** `{secret.identifier}`" + (f" · {secret.tier} {secret.score}/{secret.max_score}"
                                                             if secret.tier else "")]
        label = "offset (combine with your key)" if secret.secret_kind == "offset" else secret.export_kind.upper()
        lines.append(f"{label}: ||`{secret.value}`||")
        if secret.jwk:
            lines.append(f"JWK: ||`{secret.jwk}`||")
        blocks.append("\n".join(lines))
    tail = escape_markdown(delivery.note) if delivery.note else ""
    return _pack([head, *blocks, *([tail] if tail else [])], MAX_MESSAGE)


# --- everything else -------------------------------------------------------------


def odds_embed(answer: OddsAnswer) -> discord.Embed:
    embed = discord.Embed(title=f"Odds for {answer.pattern} ({answer.format_title})", colour=discord.Colour(NEUTRAL),
                          url=answer.web_url)  # the title links to the web calculator when there is one
    embed.add_field(name="One key matches fully", value=one_in(answer.expected_keys))
    embed.add_field(name="One pull finds it", value=f"{percent(answer.p_full_in_pull)} ({answer.pull_keys:,} keys)")
    embed.add_field(name="Pull price", value=f"{answer.pull_price} tokens")
    scores = [f"≥{s}: {one_in(1 / p) if p > 0 else 'never'}" for s, p in enumerate(answer.p_at_least) if s > 0]
    if scores:
        embed.add_field(name="Per key, score at least", value=_fit(" · ".join(scores), MAX_FIELD), inline=False)
    if answer.order_price is not None:
        embed.add_field(name="Exact order", value=f"{answer.order_price} tokens, about {duration(answer.order_expected_s, short=True)}",
                        inline=False)
    else:
        embed.add_field(name="Exact order", value=escape_markdown(answer.order_refusal or "not available"), inline=False)
    return embed


def balance_embed(answer: BalanceAnswer) -> discord.Embed:
    embed = discord.Embed(title=f"{answer.tokens} tokens", colour=discord.Colour(ERROR if answer.frozen else NEUTRAL))
    embed.add_field(name="Free pulls today", value=f"{answer.free_pulls_left} of {answer.free_pulls_per_day}")
    embed.add_field(name="Spent today", value=f"{answer.spent_today} of {answer.daily_spend_limit}")
    embed.add_field(name="Prices", value=f"pull {answer.pull_price} · 10-pull {answer.ten_pull_price}")
    if answer.debt:
        embed.add_field(name="Owed", value=f"{answer.debt} tokens: pulls and orders are paused until a top-up "
                                           "settles it (`/topup`)", inline=False)
    return embed


def topup_embed(answer: TopupAnswer) -> discord.Embed:
    embed = discord.Embed(title="Top up", description=escape_markdown(answer.message), colour=discord.Colour(NEUTRAL))
    for pack in answer.packs:
        embed.add_field(name=pack.pack_id, value=f"{pack.tokens} tokens · {pack.price}")
    return embed


def keys_text(answer: KeysAnswer) -> str:
    """What /keys did, said once: the service's line, or with DMs closed, what waits and the steps to get it."""
    if not answer.undelivered:
        return _fit(answer.message, MAX_MESSAGE)
    sent = f"{plural(len(answer.delivered), 'key')} sent to you privately; " if answer.delivered else ""
    waiting = plural(len(answer.undelivered), "key")
    return _fit(f"{sent}{waiting} could not be sent by DM and {'wait' if len(answer.undelivered) > 1 else 'waits'} "
                f"safely in the vault. {CLOSED_DMS_STEPS}", MAX_MESSAGE)


def history_embed(answer: HistoryAnswer) -> discord.Embed:
    lines = [f"<t:{int(e.at.timestamp())}:d> `{e.tokens:+}` {e.kind} · {escape_markdown(e.detail)}"
             for e in answer.entries]
    embed = discord.Embed(title=f"History · balance {answer.balance} tokens", colour=discord.Colour(NEUTRAL),
                          description=_fit_lines(lines, MAX_DESCRIPTION) or "Nothing yet: try `/pull`.")
    return embed


def leaderboard_embed(answer: LeaderboardAnswer) -> discord.Embed:
    lines = [f"**{e.rank}.** {escape_markdown(e.user.label)} · {TIER_EMOJI.get(e.key.tier, '')} {e.key.tier} "
             f"({one_in_unit(e.key.one_in_pulls, 'pull')}) · `{e.pattern}`\n{highlighted(e.key)}"
             for e in answer.entries]
    title = f"Rarest pulls in {answer.community.title}" if answer.community and answer.community.title else "Rarest pulls"
    return discord.Embed(title=title, colour=discord.Colour(TIER_COLOURS["Legendary"]),
                         description=_fit_lines(lines, MAX_DESCRIPTION) or "No pulls yet: be the first with `/pull`.")


def season_embed(answer: SeasonLeaderboardAnswer) -> discord.Embed:
    lines = [f"**{e.rank}.** {escape_markdown(e.user.label)} · {TIER_EMOJI.get(e.key.tier, '')} {e.key.tier} "
             f"({one_in_unit(e.key.one_in_pulls, 'pull')}) · `{e.pattern}`\n{highlighted(e.key)}"
             for e in answer.entries]
    where = answer.community.title if answer.community and answer.community.title else "everywhere"
    embed = discord.Embed(title=f"Season {answer.season} in {where}", colour=discord.Colour(TIER_COLOURS["Epic"]),
                          description=_fit_lines(lines, MAX_DESCRIPTION) or "No pulls this week yet: be the first.")
    embed.set_footer(text=f"ends {answer.ends_at:%a %d %b %H:%M} ({answer.ends_at.tzname()})")
    return embed


def profile_embed(answer: ProfileAnswer) -> discord.Embed:
    embed = discord.Embed(title=f"{answer.user.label}'s profile", colour=discord.Colour(NEUTRAL))
    embed.add_field(name="Pulls", value=f"{answer.total_pulls:,}")
    embed.add_field(name="Streak", value=f"{plural(answer.streak.days, 'day')} (best {answer.streak.best_days})")
    embed.add_field(name=f"Season {answer.season}",
                    value=f"rank {answer.season_rank}" if answer.season_rank is not None else "no pull here yet")
    lines = [f"{TIER_EMOJI.get(p.key.tier, '')} {p.key.tier} ({one_in_unit(p.key.one_in_pulls, 'pull')}) · "
             f"`{p.pattern}`\n{_key_line(p.key)}" for p in answer.best_pulls]
    for number, value in enumerate(_split_lines(lines, MAX_FIELD)):
        embed.add_field(name="Best pulls" if number == 0 else "Best pulls (continued)", value=value, inline=False)
    return embed


def config_embed(answer: ConfigAnswer) -> discord.Embed:
    embed = discord.Embed(title=f"Settings for {answer.config.community.title or 'this server'}",
                          colour=discord.Colour(NEUTRAL), description=escape_markdown(answer.message))
    if answer.lines:
        embed.add_field(name="Now", value=_fit("\n".join(escape_markdown(line) for line in answer.lines), MAX_FIELD),
                        inline=False)
    return embed


def card_embed(answer: CardAnswer, filename: str) -> discord.Embed:
    key = answer.key
    embed = discord.Embed(title=f"{TIER_EMOJI.get(key.tier, '')} {key.tier} · {answer.pattern}".strip(),
                          colour=tier_colour(key.tier), description=highlighted(key))
    embed.set_image(url=f"attachment://{filename}")
    return embed


def help_embed(answer: HelpAnswer) -> discord.Embed:
    embed = discord.Embed(title="VaniKeys", colour=discord.Colour(NEUTRAL),
                          description="Pull for vanity crypto addresses. Results are public, private keys come by DM.")
    for command in answer.commands:
        embed.add_field(name=command.usage, value=command.summary, inline=False)
    embed.add_field(name="Formats", value=", ".join(f"`{fid}` {title}" for fid, title in answer.formats), inline=False)
    if answer.notes:
        embed.add_field(name="Good to know", value=_fit("\n".join(answer.notes), MAX_FIELD), inline=False)
    return embed


def error_text(message: str) -> str:
    return _fit(f"⚠️ {message}", MAX_MESSAGE)


# --- size limits -------------------------------------------------------------------


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit_lines(lines: list[str], limit: int) -> str:
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def _split_lines(lines: list[str], limit: int) -> list[str]:
    """Whole lines packed into chunks of at most `limit` characters: nothing dropped, no markup cut in half."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = _fit(line, limit)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            candidate = line
        current = candidate
    if current:
        chunks.append(current)
    return chunks


def _pack(blocks: list[str], limit: int) -> list[str]:
    """Join blocks into as few messages as fit; a block is never split (a key is never cut in half)."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        if len(block) > limit:
            raise ValueError("a single key block exceeds a Discord message")
        candidate = f"{current}\n\n{block}" if current else block
        if len(candidate) > limit:
            messages.append(current)
            candidate = block
        current = candidate
    if current:
        messages.append(current)
    return messages


def pull_digest_line(answer: PullAnswer, puller_name: str) -> str:
    """One reveal the bot could not post before it stopped, for the digest it posts after the restart."""
    best = best_first(answer)[0]
    count = f" ×{len(answer.keys)}" if len(answer.keys) > 1 else ""
    return _fit(f"**{escape_markdown(puller_name)}** `{answer.pattern}`{count}: {_key_line(best)} {best.tier}"
                f"{' ✨' if best.full else ''}", MAX_MESSAGE // 4)


def late_reveal_digests(lines: list[str]) -> list[tuple[int, str]]:
    """Kept reveal lines as digest messages: (how many lines, the message), each within a Discord message."""
    digests: list[tuple[int, str]] = []
    chunk: list[str] = []
    for line in lines:
        if chunk and len(_late_digest([*chunk, line])) > MAX_MESSAGE:
            digests.append((len(chunk), _late_digest(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        digests.append((len(chunk), _fit(_late_digest(chunk), MAX_MESSAGE)))
    return digests


def _late_digest(lines: list[str]) -> str:
    title = f"🎰 {plural(len(lines), 'more pull')} (from before the bot restarted):"
    return "\n".join([title, *(f"• {line}" for line in lines)])


def gift_text(answer: GiftAnswer) -> str:
    return answer.message


def streak_text(answer: StreakAnswer) -> str:
    return answer.message


# Every answer type (bot/answers.py) and what renders it on Discord, with the platform's extra arguments filled
# in; tests/bot/test_render_registry.py fails when a type has no entry here or its entry cannot render it.
RENDERERS: dict[type, Callable[[Any], object]] = {
    PullAnswer: lambda answer: pull_embed(answer, answer.user.label),
    OrderView: order_embed,
    OrderAnswer: order_receipt_text,
    OddsAnswer: odds_embed,
    BalanceAnswer: balance_embed,
    TopupAnswer: topup_embed,
    KeysAnswer: keys_text,
    KeyDelivery: delivery_messages,
    HistoryAnswer: history_embed,
    LeaderboardAnswer: leaderboard_embed,
    SeasonLeaderboardAnswer: season_embed,
    ProfileAnswer: profile_embed,
    ConfigAnswer: config_embed,
    CardAnswer: lambda answer: card_embed(answer, answer.filename),
    HelpAnswer: help_embed,
    GiftAnswer: gift_text,
    StreakAnswer: streak_text,
}
