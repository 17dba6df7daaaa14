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
    history_kind,
    order_status_word,
)
from bot.command_refs import commands
from bot.community.late_reveals import digest_title
from bot.frontends.discord.mentions import plain
from gpu_worker.humanize import compact, duration, tier_name
from gpu_worker.i18n import N_, _, ngettext, number, short_datetime as when

MAX_MESSAGE = 2000
MAX_FIELD = 1024
MAX_DESCRIPTION = 4096
MAX_TITLE = 256
MAX_AUTHOR = 256
MAX_FIELD_NAME = 256
MAX_FOOTER = 2048
MAX_EMBED = 6000  # all of an embed's text together

TIER_COLOURS: dict[str, int] = {
    "Common": 0x95A5A6,
    "Uncommon": 0x2ECC71,
    "Rare": 0x3498DB,
    "Epic": 0x9B59B6,
    "Legendary": 0xF1C40F,
    "Mythic": 0xE91E63,
}
TIER_EMOJI: dict[str, str] = {
    "Common": "⚪",
    "Uncommon": "🟢",
    "Rare": "🔵",
    "Epic": "🟣",
    "Legendary": "🟡",
    "Mythic": "🔴",
}
NEUTRAL = 0x5865F2
ERROR = 0xED4245

CLOSED_DMS_STEPS = N_(
    "To get it: open this server's menu → **Privacy Settings** → turn on **Direct Messages**, "
    "then send {cmd_keys} (here or in a DM with me)."
)
CLOSED_DMS_HELP = N_(
    "I couldn't DM you your private key, so it is safe in the vault. To get it: open this server's "
    "menu → **Privacy Settings** → turn on **Direct Messages**, then send {cmd_keys} (here or in a DM "
    "with me)."
)
FULL_MATCH_BADGE = N_("✨ full match")


def tier_colour(tier: str) -> discord.Colour:
    """The tier's embed colour; NEUTRAL for a tier not in TIER_COLOURS."""
    return discord.Colour(TIER_COLOURS.get(tier, NEUTRAL))


def highlighted(key: ShownKey) -> str:
    """The identifier in markdown, matched parts in bold and underlined."""
    return "".join(f"__**{escape_markdown(text)}**__" if hit else escape_markdown(text) for text, hit in key.segments())


def caret_block(key: ShownKey) -> str:
    """The identifier in a code block with ^ under every matched character."""
    marks = [" "] * len(key.identifier)
    for start, end in key.spans:
        for i in range(max(0, start), min(end, len(marks))):
            marks[i] = "^"
    return f"```\n{key.identifier}\n{''.join(marks).rstrip()}\n```"


def one_in(value: float) -> str:
    """ "1 in 4.2M" style, for odds and rarity."""
    if not math.isfinite(value) or value <= 0:
        return _("never")
    if value < 1.5:
        return _("every time")
    return _("1 in {count}", count=compact(value))


def one_in_unit(value: float, unit: str) -> str:
    """ "1 in 4.2M pulls", "every pull" or "never"; unit is "pull" or "key"."""
    if not math.isfinite(value) or value <= 0:
        return _("never")
    if unit == "key":
        return _("every key") if value < 1.5 else _("1 in {count} keys", count=compact(value))
    return _("every pull") if value < 1.5 else _("1 in {count} pulls", count=compact(value))


def percent(value: float) -> str:
    """value (a fraction, 0.0123 = 1.23%) as a percentage with 3 significant digits (one decimal from 99.5%), the
    decimal sign of the current locale; "0%" for zero or less."""
    if value <= 0:
        return "0%"
    from babel.numbers import get_decimal_symbol

    from gpu_worker.i18n import babel_locale

    shown = f"{value * 100:.3g}" if value < 0.995 else f"{value * 100:.1f}"
    return shown.replace(".", get_decimal_symbol(babel_locale())) + "%"


# --- pulls ---------------------------------------------------------------------


def pull_embed(answer: PullAnswer, puller_name: str, avatar_url: str | None = None) -> discord.Embed:
    """The reveal: the best key as the headline, a 10-pull's keys best first below it."""
    best = answer.best
    title = f"{TIER_EMOJI.get(best.tier, '')} {tier_name(best.tier)}" + (
        f" · {_(FULL_MATCH_BADGE)}" if best.full else ""
    )
    if answer.count > 1:
        title += _(" · best of {count}", count=answer.count)
    embed = discord.Embed(
        title=title.strip(),
        colour=tier_colour(best.tier),
        description=f"{highlighted(best)}\n{caret_block(best)}",
        url=answer.odds.web_url,
    )
    embed.set_author(
        name=_fit(
            _("{who} pulled {pattern} ({format})", who=puller_name, pattern=answer.pattern, format=answer.format_title),
            MAX_AUTHOR,
        ),
        icon_url=avatar_url,
    )
    embed.add_field(name=_("Score"), value=f"{best.score}/{best.max_score}")
    embed.add_field(name=_("Rarity"), value=one_in_unit(best.one_in_pulls, "pull"))
    embed.add_field(
        name=_("Full match odds"),
        value=_(
            "{chance} per pull ({odds})",
            chance=percent(answer.odds.p_full_in_pull),
            odds=one_in_unit(answer.odds.expected_keys, "key"),
        ),
    )
    if answer.count > 1:
        lines = [f"{TIER_EMOJI.get(k.tier, '')} `{k.score}/{k.max_score}` {_key_line(k)}" for k in best_first(answer)]
        for index, value in enumerate(_split_lines(lines, MAX_FIELD)):
            name = (
                _("All {count} pulls, best first", count=answer.count)
                if index == 0
                else _("All {count} pulls (continued)", count=answer.count)
            )
            embed.add_field(name=name, value=value, inline=False)
    if answer.is_new_personal_best and answer.personal_best is not None:
        previous = answer.personal_best.previous_one_in
        value = (
            _("best {pattern} so far (was {before})", pattern=answer.pattern, before=one_in_unit(previous, "pull"))
            if previous is not None
            else _("best {pattern} so far", pattern=answer.pattern)
        )
        embed.add_field(name=_("🏆 NEW personal best"), value=_fit(value, MAX_FIELD), inline=False)
    # what it cost is the puller's business (/history), not the channel's; the reveal comes before the DM
    cut_short = f"{answer.cut_short.note} · " if answer.cut_short is not None else ""
    embed.set_footer(
        text=_(
            "{keys} keys in {seconds} s on {backend} · {cut_short}private key by DM (or {cmd_keys})",
            keys=number(answer.keys_checked),
            seconds=number(answer.elapsed_s, digits=2),
            backend=answer.backend,
            cut_short=cut_short,
            cmd_keys=plain("keys"),  # a footer shows no mentions or markdown
        )
    )
    return embed


def rolling_embed(puller_name: str, step: int) -> discord.Embed:
    """The suspense before a reveal: neutral colour, nothing about the tier, one more die per step."""
    return discord.Embed(
        title=_("{dice} Rolling…", dice="🎲" * (step + 1)),
        colour=discord.Colour(NEUTRAL),
        description=_("{who} is pulling. The result lands here in a moment.", who=escape_markdown(puller_name)),
    )


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
    """The private note, in the current language, that the key stays in the vault until DMs are open and /keys is
    sent."""
    return _(CLOSED_DMS_HELP, **commands("keys"))


# --- orders --------------------------------------------------------------------


def order_embed(order: OrderView) -> discord.Embed:
    """The order's public message: status and pattern, the key found (highlighted, with carets) or the progress,
    keys checked, speed and ETA; coloured by the tier found, red when failed or refunded, else neutral."""
    found = order.found
    if found is not None:
        colour = tier_colour(found.tier)
    elif order.status in ("failed", "refunded"):
        colour = discord.Colour(ERROR)
    else:
        colour = discord.Colour(NEUTRAL)
    embed = discord.Embed(
        title=_fit(_("Order {status}: {pattern}", status=_status_title(order), pattern=order.pattern), MAX_TITLE),
        colour=colour,
        description=escape_markdown(order.message),
    )
    embed.set_author(name=_fit(_("{who}'s order ({format})", who=order.user.label, format=order.format_id), MAX_AUTHOR))
    if found is not None:
        embed.add_field(
            name=_("Found"), value=_fit(f"{highlighted(found)}\n{caret_block(found)}", MAX_FIELD), inline=False
        )
    else:
        progress = (
            _(
                "{bar} {percent} of expected",
                bar=progress_bar(order.percent),
                percent=number(order.percent, digits=1) + "%",
            )
            if order.percent <= 100
            else _("{bar} past the expected keys: the match may come at any moment", bar=progress_bar(100))
        )
        embed.add_field(name=_("Progress"), value=progress, inline=False)
    embed.add_field(
        name=_("Keys checked"),
        value=_("{checked} of ~{expected}", checked=number(order.keys_checked), expected=compact(order.expected_keys)),
    )
    if order.rate_keys_per_s > 0:
        embed.add_field(name=_("Speed"), value=_("{rate} keys/s", rate=compact(order.rate_keys_per_s)))
    if order.eta_s is not None and found is None and order.status not in ("failed", "refunded"):
        embed.add_field(name=_("ETA"), value=duration(order.eta_s, short=True))
    embed.set_footer(
        text=_("order {id}", id=order.order_id)
        + (_(" · split-key: the secret is an offset for `vanikeys combine`") if order.split else "")
    )
    return embed


def order_receipt_text(answer: OrderAnswer) -> str:
    """Private to the buyer: what was paid and what is left (never in a channel)."""
    return ngettext(
        "Paid {n} token for your order of `{pattern}`; your balance is now {balance}. {note}.",
        "Paid {n} tokens for your order of `{pattern}`; your balance is now {balance}. {note}.",
        answer.order.price,
        pattern=answer.order.pattern,
        balance=number(answer.balance_after),
        note=answer.note[:1].upper() + answer.note[1:],
    )


def order_finished_text(order: OrderView, mention: str) -> str:
    """The notice in the channel at an order's end, mentioning `mention`: where the key went (on its way by DM, by DM,
    or the vault) or, with no key found, why it ended."""
    if order.found is not None:
        if order.delivery_pending:  # announced before the DM goes out
            return _(
                "🎉 {mention} your order for `{pattern}` is done: your key is on its way by DM (if it does not "
                "arrive, open your DMs and send {cmd_keys}).",
                mention=mention,
                **commands("keys"),
                pattern=order.pattern,
            )
        if order.delivered:
            return _(
                "🎉 {mention} your order for `{pattern}` is done: your key is by DM.",
                mention=mention,
                pattern=order.pattern,
            )
        return _(
            "🎉 {mention} your order for `{pattern}` is done: your key is in the vault: DMs are closed, open "
            "them and send {cmd_keys}.",
            mention=mention,
            **commands("keys"),
            pattern=order.pattern,
        )
    return _(
        "{mention} your order for `{pattern}` ended: {why}", mention=mention, pattern=order.pattern, why=order.message
    )


def progress_bar(value_percent: float, width: int = 16) -> str:
    """A bar of `width` blocks, value_percent (0-100, clamped) of them filled."""
    filled = max(0, min(width, round(value_percent / 100 * width)))
    return "█" * filled + "░" * (width - filled)


def _status_title(order: OrderView) -> str:
    return order_status_word("delivered" if order.delivery_pending else order.status)


# --- private delivery (DM only) --------------------------------------------------------


def delivery_messages(delivery: KeyDelivery) -> list[str]:
    """The DM text carrying the secrets, cut into messages Discord accepts. Only ever sent to a DM."""
    head = (
        _("🔑 **Your order** · `{pattern}` · {format}", pattern=delivery.pattern, format=delivery.format_id)
        if delivery.kind == "order"
        else _("🔑 **Your pull** · `{pattern}` · {format}", pattern=delivery.pattern, format=delivery.format_id)
    )
    blocks = []
    for position, secret in enumerate(delivery.secrets, 1):
        lines = [
            f"**{position}.** `{secret.identifier}`"
            + (f" · {tier_name(secret.tier)} {secret.score}/{secret.max_score}" if secret.tier else "")
        ]
        label = _("offset (combine with your key)") if secret.secret_kind == "offset" else secret.export_kind.upper()
        lines.append(f"{label}: ||`{secret.value}`||")
        if secret.jwk:
            lines.append(f"JWK: ||`{secret.jwk}`||")
        blocks.append("\n".join(lines))
    tail = escape_markdown(delivery.note) if delivery.note else ""
    return _pack([head, *blocks, *([tail] if tail else [])], MAX_MESSAGE)


# --- everything else -------------------------------------------------------------


def odds_embed(answer: OddsAnswer) -> discord.Embed:
    """The pattern's odds: a full match per key and per pull, the pull price, the per-score odds and, where it can be
    ordered, the exact order's price and time (else why not). The title links to the web calculator."""
    embed = discord.Embed(
        title=_fit(_("Odds for {pattern} ({format})", pattern=answer.pattern, format=answer.format_title), MAX_TITLE),
        colour=discord.Colour(NEUTRAL),
        url=answer.web_url,
    )  # links to the web calculator
    embed.add_field(name=_("One key matches fully"), value=one_in(answer.expected_keys))
    embed.add_field(
        name=_("One pull finds it"),
        value=_("{chance} ({keys} keys)", chance=percent(answer.p_full_in_pull), keys=number(answer.pull_keys)),
    )
    embed.add_field(name=_("Pull price"), value=ngettext("{n} token", "{n} tokens", answer.pull_price))
    scores = [f"≥{s}: {one_in(1 / p) if p > 0 else _('never')}" for s, p in enumerate(answer.p_at_least) if s > 0]
    if scores:
        embed.add_field(name=_("Per key, score at least"), value=_fit(" · ".join(scores), MAX_FIELD), inline=False)
    if answer.order_price is not None:
        embed.add_field(
            name=_("Exact order"),
            value=ngettext(
                "{n} token, about {time}",
                "{n} tokens, about {time}",
                answer.order_price,
                time=duration(answer.order_expected_s, short=True),
            ),
            inline=False,
        )
    else:
        embed.add_field(
            name=_("Exact order"),
            value=_fit(escape_markdown(answer.order_refusal or _("not available")), MAX_FIELD),
            inline=False,
        )
    return embed


def balance_embed(answer: BalanceAnswer) -> discord.Embed:
    """Tokens (red when the account is frozen), free pulls left, spending against the daily limit, prices, and any
    debt."""
    embed = discord.Embed(
        title=ngettext("{n} token", "{n} tokens", answer.tokens),
        colour=discord.Colour(ERROR if answer.frozen else NEUTRAL),
    )
    embed.add_field(
        name=_("Free pulls today"),
        value=_("{left} of {per_day}", left=answer.free_pulls_left, per_day=answer.free_pulls_per_day),
    )
    embed.add_field(
        name=_("Spent today"),
        value=_("{spent} of {limit}", spent=number(answer.spent_today), limit=number(answer.daily_spend_limit)),
    )
    embed.add_field(
        name=_("Prices"),
        value=_("pull {pull} · 10-pull {ten}", pull=number(answer.pull_price), ten=number(answer.ten_pull_price)),
    )
    if answer.debt:
        embed.add_field(
            name=_("Owed"),
            value=ngettext(
                "{n} token: pulls and orders are paused until a top-up settles it ({cmd_topup})",
                "{n} tokens: pulls and orders are paused until a top-up settles it ({cmd_topup})",
                answer.debt,
                **commands("topup"),
            ),
            inline=False,
        )
    return embed


def topup_embed(answer: TopupAnswer) -> discord.Embed:
    """The service's message and one field per pack (tokens and price)."""
    embed = discord.Embed(
        title=_("Top up"), description=escape_markdown(answer.message), colour=discord.Colour(NEUTRAL)
    )
    for pack in answer.packs:
        embed.add_field(
            name=pack.pack_id,
            value=ngettext("{n} token · {price}", "{n} tokens · {price}", pack.tokens, price=pack.price),
        )
    return embed


def keys_text(answer: KeysAnswer) -> str:
    """What /keys did, said once: the service's line, or with DMs closed, what waits and the steps to get it."""
    if not answer.undelivered:
        return _fit(answer.message, MAX_MESSAGE)
    sent = (
        ngettext("{n} key sent to you privately; ", "{n} keys sent to you privately; ", len(answer.delivered))
        if answer.delivered
        else ""
    )
    waiting = ngettext(
        "{n} key could not be sent by DM and waits safely in the vault.",
        "{n} keys could not be sent by DM and wait safely in the vault.",
        len(answer.undelivered),
    )
    return _fit(f"{sent}{waiting} {_(CLOSED_DMS_STEPS, **commands('keys'))}", MAX_MESSAGE)


def history_embed(answer: HistoryAnswer) -> discord.Embed:
    """The balance and one line per entry (date, token change, kind, detail), as many as fit the description."""
    lines = [
        f"<t:{int(e.at.timestamp())}:d> `{e.tokens:+}` {kind} · {escape_markdown(e.detail)}"
        for e in answer.entries
        for kind in [escape_markdown(history_kind(e.kind))]
    ]
    embed = discord.Embed(
        title=ngettext("History · balance {n} token", "History · balance {n} tokens", answer.balance),
        colour=discord.Colour(NEUTRAL),
        description=_fit_lines(lines, MAX_DESCRIPTION) or _("Nothing yet: try {cmd_pull}.", **commands("pull")),
    )
    return embed


def leaderboard_embed(answer: LeaderboardAnswer) -> discord.Embed:
    """The server's (or everyone's) rarest pulls, one ranked entry each, as many as fit the description."""
    lines = [
        f"**{e.rank}.** {escape_markdown(e.user.label)} · {TIER_EMOJI.get(e.key.tier, '')} {tier_name(e.key.tier)} "
        f"({one_in_unit(e.key.one_in_pulls, 'pull')}) · `{e.pattern}`\n{highlighted(e.key)}"
        for e in answer.entries
    ]
    title = (
        _("Rarest pulls in {where}", where=answer.community.title)
        if answer.community and answer.community.title
        else _("Rarest pulls")
    )
    return discord.Embed(
        title=_fit(title, MAX_TITLE),
        colour=discord.Colour(TIER_COLOURS["Legendary"]),
        description=_fit_lines(lines, MAX_DESCRIPTION)
        or _("No pulls yet: be the first with {cmd_pull}.", **commands("pull")),
    )


def season_embed(answer: SeasonLeaderboardAnswer) -> discord.Embed:
    """This season's ranking in the server (or everywhere), as many as fit, with when the season ends in the footer."""
    lines = [
        f"**{e.rank}.** {escape_markdown(e.user.label)} · {TIER_EMOJI.get(e.key.tier, '')} {tier_name(e.key.tier)} "
        f"({one_in_unit(e.key.one_in_pulls, 'pull')}) · `{e.pattern}`\n{highlighted(e.key)}"
        for e in answer.entries
    ]
    where = answer.community.title if answer.community and answer.community.title else _("everywhere")
    embed = discord.Embed(
        title=_fit(_("Season {season} in {where}", season=answer.season, where=where), MAX_TITLE),
        colour=discord.Colour(TIER_COLOURS["Epic"]),
        description=_fit_lines(lines, MAX_DESCRIPTION) or _("No pulls this week yet: be the first."),
    )
    embed.set_footer(text=_("ends {when} ({zone})", when=when(answer.ends_at), zone=answer.ends_at.tzname()))
    return embed


def profile_embed(answer: ProfileAnswer) -> discord.Embed:
    """Pulls, streak, season rank and the best pulls (over as many fields as they need)."""
    embed = discord.Embed(
        title=_fit(_("{who}'s profile", who=answer.user.label), MAX_TITLE), colour=discord.Colour(NEUTRAL)
    )
    embed.add_field(name=_("Pulls"), value=number(answer.total_pulls))
    embed.add_field(
        name=_("Streak"),
        value=ngettext(
            "{n} day (best {best})", "{n} days (best {best})", answer.streak.days, best=answer.streak.best_days
        ),
    )
    embed.add_field(
        name=_("Season {season}", season=answer.season),
        value=_("rank {rank}", rank=answer.season_rank) if answer.season_rank is not None else _("no pull here yet"),
    )
    lines = [
        f"{TIER_EMOJI.get(p.key.tier, '')} {tier_name(p.key.tier)} ({one_in_unit(p.key.one_in_pulls, 'pull')}) · "
        f"`{p.pattern}`\n{_key_line(p.key)}"
        for p in answer.best_pulls
    ]
    for index, value in enumerate(_split_lines(lines, MAX_FIELD)):
        embed.add_field(name=_("Best pulls") if index == 0 else _("Best pulls (continued)"), value=value, inline=False)
    return embed


def config_embed(answer: ConfigAnswer) -> discord.Embed:
    """The service's message and the server's current settings, one per line."""
    embed = discord.Embed(
        title=_fit(_("Settings for {where}", where=answer.config.community.title or _("this server")), MAX_TITLE),
        colour=discord.Colour(NEUTRAL),
        description=escape_markdown(answer.message),
    )
    if answer.lines:
        embed.add_field(
            name=_("Now"),
            value=_fit("\n".join(escape_markdown(line) for line in answer.lines), MAX_FIELD),
            inline=False,
        )
    return embed


def card_embed(answer: CardAnswer, filename: str) -> discord.Embed:
    """A pull's card: tier and pattern, the highlighted identifier, and the image from the attachment named filename."""
    key = answer.key
    embed = discord.Embed(
        title=_fit(f"{TIER_EMOJI.get(key.tier, '')} {tier_name(key.tier)} · {answer.pattern}".strip(), MAX_TITLE),
        colour=tier_colour(key.tier),
        description=highlighted(key),
    )
    embed.set_image(url=f"attachment://{filename}")
    return embed


def help_embed(
    answer: HelpAnswer,
    usage_of: Callable[[str], str] | None = None,
    mention_of: Callable[[str], str | None] | None = None,
) -> discord.Embed:
    """The commands with their summaries, the formats, and any notes. usage_of(name): a command's line as the
    reader's client shows it (default: the service's usage line); mention_of(name): its clickable mention, or None
    (a field's name shows no mentions, its value does)."""
    embed = discord.Embed(
        title="VaniKeys",
        colour=discord.Colour(NEUTRAL),
        description=_("Pull for vanity crypto addresses. Results are public, private keys come by DM."),
    )
    for command in answer.commands:
        mention = mention_of(command.name) if mention_of else None
        embed.add_field(
            name=_fit(usage_of(command.name) if usage_of else command.usage, MAX_FIELD_NAME),
            value=_fit(f"{mention} · {command.summary}" if mention else command.summary, MAX_FIELD),
            inline=False,
        )
    embed.add_field(
        name=_("Formats"), value=", ".join(f"`{fid}` {title}" for fid, title in answer.formats), inline=False
    )
    if answer.notes:
        embed.add_field(name=_("Good to know"), value=_fit("\n".join(answer.notes), MAX_FIELD), inline=False)
    return embed


def error_text(message: str) -> str:
    """The message as an error line ("⚠️ ..."), cut to a message's 2000 characters."""
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
    return _fit(
        f"**{escape_markdown(puller_name)}** `{answer.pattern}`{count}: {_key_line(best)} {best.tier}"
        f"{' ✨' if best.full else ''}",
        MAX_MESSAGE // 4,
    )


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
    return "\n".join([digest_title(len(lines)), *(f"• {line}" for line in lines)])


def gift_text(answer: GiftAnswer) -> str:
    """The service's message for the gift, as it is."""
    return answer.message


def streak_text(answer: StreakAnswer) -> str:
    """The service's message for the streak."""
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
