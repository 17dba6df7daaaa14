"""What happens when someone pulls, orders or asks for their account: shared by slash commands and buttons.

Every interaction is acknowledged first (a deferred response, well inside
Discord's 3 seconds, before any service call or queue), then the service is
called and the answer follows. Pulls and orders are public in a server (the
shared-pull moment) when the bot may post there; balances, receipts, keys,
history and every error are for the person alone (ephemeral, or a DM once
the interaction token has expired). A failed public command deletes its
"thinking" message and explains privately, so nobody else sees the mistake.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from bot.answers import CommunityRef, Origin, ServiceError, UserRef, WrongChannel
from bot.command_refs import commands, set_command_writer
from bot.frontends.discord.permissions import missing_permissions_text, missing_reveal_permissions
from bot.frontends.discord.rendering import (
    balance_embed,
    closed_dms_text,
    error_text,
    history_embed,
    keys_text,
    odds_embed,
    order_embed,
    order_receipt_text,
    topup_embed,
)
from bot.frontends.discord.reveal import PullReveal
from bot.frontends.discord.turns import Turn
from bot.frontends.discord.views import PatternRequest, confirm_view, easy_pattern_view, link_view
from bot.i18n import N_, PEOPLE, _, current, negotiate, ngettext, set_locale, set_public_locale, use_locale
from gpu_worker.errors import VanikeysError

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot
    from bot.service import Service

log = logging.getLogger(__name__)

PULL, ORDER, ODDS, COMMAND = "pull", "order", "odds", "command"
EASY_PATTERN = "easy_pattern"
GENERIC_FAILURE = N_(
    "Something went wrong on our side. Nothing was lost: {cmd_history} shows every token movement "
    "and {cmd_keys} any key not yet sent. Please try again in a minute."
)

Interaction = discord.Interaction[Any]
SLOW_DOWN = {
    PULL: N_("Easy there: you can pull again in {seconds} s."),
    ORDER: N_("Easy there: you can order again in {seconds} s."),
    ODDS: N_("Easy there: you can ask for odds again in {seconds} s."),
    COMMAND: N_("Easy there: you can use a command again in {seconds} s."),
}


def user_ref(user: discord.abc.User) -> UserRef:
    """The service's reference to a Discord user: its id, and the display name shown in answers."""
    return UserRef("discord", str(user.id), user.display_name)


def community_ref(interaction: Interaction) -> CommunityRef | None:
    """The server the interaction came from; None in DMs. The name is "" when the bot does not know the guild."""
    if interaction.guild_id is None:
        return None
    guild = interaction.guild
    return CommunityRef("discord", str(interaction.guild_id), (guild.name if guild and guild.name else "") or "")


class Flows:
    """Every slash command and button answered one way (_answer): cooldown, the person's language, a deferred reply,
    errors told privately, a public message removed when nothing was posted in it."""

    def __init__(self, bot: VaniKeysBot) -> None:
        self.bot = bot

    @property
    def service(self) -> Service:
        """The bot's Service."""
        return self.bot.service

    # --- pulls and orders (public in a server) ------------------------------------------

    async def pull(
        self, interaction: Interaction, request: PatternRequest, count: int, *, allow_easy: bool = False
    ) -> None:
        """A pull for the presser: rolled and revealed in public (privately, with a note, where the bot lacks
        permissions). The key goes by DM; closed DMs and a streak bonus are told privately. An easy pattern is
        refused with "Pull anyway" / "Order instead" unless allow_easy."""
        missing = missing_reveal_permissions(interaction)

        async def body(turn: Turn) -> None:
            reveal = PullReveal(
                turn,
                self.bot.outbox,
                request,
                public=not missing,
                private_note=missing_permissions_text(missing) if missing else None,
            )
            reveal.start()
            try:
                answer = await self.service.pull(
                    user_ref(interaction.user),
                    community_ref(interaction),
                    request.pattern,
                    request.format_id,
                    count,
                    exact_case=request.exact_case,
                    fuzzy=request.fuzzy,
                    channel=str(interaction.channel_id) if interaction.guild_id else None,
                    allow_easy=allow_easy,
                    on_reveal=reveal.show,
                )
            finally:
                await reveal.stop()
            if not reveal.revealed:  # on_reveal failed (e.g. Discord refused): the key is delivered; show it now
                await reveal.show(answer)
            if not answer.delivered:
                await turn.private(closed_dms_text())
            if answer.streak is not None and answer.streak.bonus_pulls_today > 0:
                await turn.private(f"🔥 {answer.streak.message}")

        await self._answer(interaction, body, public=not missing, action=PULL, count=count, request=request)

    async def order(self, interaction: Interaction, request: PatternRequest, pubkey: str | None) -> None:
        """Places an order (split-key with pubkey): its public message shows the order, and the receipt is private;
        where the bot lacks permissions all of it is private. Once paid, a later failure does not remove the message."""
        missing = missing_reveal_permissions(interaction)

        async def body(turn: Turn) -> None:
            origin = None
            if not missing:
                message_id = await turn.learn_message()
                origin = Origin("discord", str(interaction.channel_id), str(message_id) if message_id else None)
            answer = await self.service.order(
                user_ref(interaction.user),
                community_ref(interaction),
                request.pattern,
                request.format_id,
                pubkey,
                exact_case=request.exact_case,
                fuzzy=request.fuzzy,
                origin=origin,
            )
            latest = self.bot.frontend.latest(answer.order)
            turn.posted = True  # paid: from here on the message shows the order, whatever else fails
            if missing:
                await turn.private(
                    f"{order_receipt_text(answer)}\n{missing_permissions_text(missing)}", embed=order_embed(latest)
                )
                return
            with use_locale(turn.public_locale):
                shown = order_embed(latest)
            await self.bot.outbox.must(
                turn.channel_id,
                lambda: turn.replace_public({"content": None, "embed": shown}, lambda: {"embed": shown}),
            )
            await turn.private(order_receipt_text(answer))

        await self._answer(interaction, body, public=not missing, action=ORDER)

    async def quote_order(self, interaction: Interaction, request: PatternRequest) -> None:
        """The Order button: the price and the odds, privately, with a button to confirm."""

        async def body(turn: Turn) -> None:
            odds = await self.service.odds(
                request.pattern, request.format_id, exact_case=request.exact_case, fuzzy=request.fuzzy
            )
            if odds.order_price is None:
                raise ServiceError("too_hard", odds.order_refusal or _("this pattern is too hard to order"))
            view = confirm_view(request, interaction.user.id, odds.order_price)
            text = ngettext(
                "An exact match for `{pattern}` costs **{n} token**. Confirm to order it.",
                "An exact match for `{pattern}` costs **{n} tokens**. Confirm to order it.",
                odds.order_price,
                pattern=request.pattern,
            )
            if view is None:
                await interaction.followup.send(text, embed=odds_embed(odds), ephemeral=True)
            else:
                await interaction.followup.send(text, embed=odds_embed(odds), view=view, ephemeral=True)

        await self._answer(interaction, body, public=False, action=ODDS)

    # --- information ------------------------------------------------------------------

    async def odds(self, interaction: Interaction, request: PatternRequest) -> None:
        """The pattern's odds as an embed: public where the bot may post, else privately."""

        async def body(turn: Turn) -> None:
            odds = await self.service.odds(
                request.pattern, request.format_id, exact_case=request.exact_case, fuzzy=request.fuzzy
            )
            await interaction.followup.send(embed=odds_embed(odds))

        await self._answer(interaction, body, public=missing_reveal_permissions(interaction) == [], action=ODDS)

    async def private(self, interaction: Interaction, render: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """An ephemeral answer: render() returns followup.send keyword arguments."""

        async def body(turn: Turn) -> None:
            await turn.private(**await render())

        await self._answer(interaction, body, public=False, action=COMMAND)

    async def public(self, interaction: Interaction, render: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """A public answer where the bot may post (else ephemeral): render() returns followup.send keyword arguments."""

        async def body(turn: Turn) -> None:
            await interaction.followup.send(**await render())

        await self._answer(interaction, body, public=missing_reveal_permissions(interaction) == [], action=COMMAND)

    async def balance(self, interaction: Interaction) -> None:
        """Privately: the balance embed."""

        async def render() -> dict[str, Any]:
            return {"embed": balance_embed(await self.service.balance(user_ref(interaction.user)))}

        await self.private(interaction, render)

    async def keys(self, interaction: Interaction) -> None:
        """Privately: the keys not delivered yet, as text."""

        async def render() -> dict[str, Any]:
            return {"content": keys_text(await self.service.keys(user_ref(interaction.user)))}

        await self.private(interaction, render)

    async def history(self, interaction: Interaction) -> None:
        """Privately: the history embed."""

        async def render() -> dict[str, Any]:
            return {"embed": history_embed(await self.service.history(user_ref(interaction.user)))}

        await self.private(interaction, render)

    async def topup(self, interaction: Interaction, pack: str | None) -> None:
        """Privately: the packs, or the chosen pack with a link button to pay."""

        async def render() -> dict[str, Any]:
            answer = await self.service.topup(user_ref(interaction.user), pack)
            if answer.url and answer.pack:
                return {
                    "embed": topup_embed(answer),
                    "view": link_view(
                        ngettext(
                            "Pay {price} for {n} token",
                            "Pay {price} for {n} tokens",
                            answer.pack.tokens,
                            price=answer.pack.price,
                        ),
                        answer.url,
                    ),
                }
            return {"embed": topup_embed(answer)}

        await self.private(interaction, render)

    # --- the one way every interaction is answered ----------------------------------------

    async def _answer(
        self,
        interaction: Interaction,
        body: Callable[[Turn], Awaitable[None]],
        *,
        public: bool,
        action: str,
        count: int = 1,
        request: PatternRequest | None = None,
    ) -> None:
        person = interaction.locale.value if interaction.locale else None
        set_locale(person)  # everything for this person, in their own language
        self.bot.mentions.seen(interaction)
        set_command_writer(self.bot.mentions.writer(interaction.guild_id))  # commands as their client shows them
        PEOPLE.remember("discord", str(interaction.user.id), person)
        wait = self.bot.cooldowns.wait_left(action, interaction.user.id)
        if wait > 0:
            await interaction.response.send_message(
                error_text(_(SLOW_DOWN.get(action, SLOW_DOWN[COMMAND]), seconds=math.ceil(wait))), ephemeral=True
            )
            return
        turn = Turn(self.bot, interaction)
        await interaction.response.defer(thinking=True, ephemeral=not public)
        # An answer that stays private (the bot may not post here) is the person's, all of it: the service renders the
        # reveal's parts (card, notes) and an order's progress in the public locale, so that is theirs too.
        turn.public_locale = await self._public_locale(interaction) if public else current()
        set_public_locale(turn.public_locale)  # what the service renders for the channel (a card, an order's progress)
        try:
            await body(turn)
        except (ServiceError, VanikeysError) as err:
            self.bot.cooldowns.release(action, interaction.user.id)  # refused: nothing ran, no need to wait
            if public and not turn.posted:
                await self._delete_quietly(turn)
            if getattr(err, "code", "") == EASY_PATTERN and request is not None:
                await self._offer_order(turn, str(err), request, count)
            elif isinstance(err, WrongChannel):
                where = (
                    f"<#{err.channel_id}>" if err.channel_id.isdigit() else (err.channel_label or _("another channel"))
                )
                await turn.private_error(
                    _("Pulls in this server go in {where}: pull there (this one was not charged).", where=where)
                )
            else:
                await turn.private_error(str(err))
        except discord.HTTPException as exc:
            log.warning(
                "interaction %s: Discord refused a reply (status %s, code %s)", interaction.id, exc.status, exc.code
            )
            await self._fail(turn, public)
        except Exception:
            log.exception("interaction %s (%s) failed", interaction.id, action)
            await self._fail(turn, public)

    async def _public_locale(self, interaction: Interaction) -> str:
        """A server's public reveals: the language its admins set (/config language), else the server's preferred
        locale on Discord (community servers), else the language of the person who pulled."""
        community = community_ref(interaction)
        try:
            chosen = await self.service.community_language(community) if community is not None else None
        except ServiceError:  # the database: answer in a language all the same
            chosen = None
        guild = interaction.guild_locale.value if interaction.guild_locale else None
        return negotiate(chosen) or negotiate(guild) or current()

    async def _offer_order(self, turn: Turn, message: str, request: PatternRequest, count: int) -> None:
        """The easy-pattern warning, privately, with "Pull anyway" / "Order instead" for this person only."""
        view = easy_pattern_view(request, turn.interaction.user.id, count)
        try:
            if view is None:
                await turn.private(error_text(message))
            else:
                await turn.private(error_text(message), view=view)
        except discord.HTTPException as exc:
            log.warning(
                "interaction %s: could not send the easy-pattern offer (status %s, code %s)",
                turn.interaction.id,
                exc.status,
                exc.code,
            )

    async def _fail(self, turn: Turn, public: bool) -> None:
        if public and not turn.posted:
            await self._delete_quietly(turn)
        await turn.private_error(_(GENERIC_FAILURE, **commands("history", "keys")))

    @staticmethod
    async def _delete_quietly(turn: Turn) -> None:
        try:
            await turn.delete_public()
        except discord.HTTPException as exc:
            log.warning(
                "interaction %s: could not remove the public message (status %s, code %s)",
                turn.interaction.id,
                exc.status,
                exc.code,
            )
