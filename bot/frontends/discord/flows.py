"""What happens when someone pulls, orders or asks for their account: shared by slash commands and buttons.

Every interaction is acknowledged first (a deferred response, well inside
Discord's 3 seconds), then the service is called and the answer follows up.
Pulls and orders are public in a server (the shared-pull moment); account
answers and every error are ephemeral. A failed public command deletes its
"thinking" message and explains privately, so nobody else sees the mistake.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.answers import CommunityRef, Origin, ServiceError, UserRef
from bot.frontends.discord.rendering import (
    balance_embed,
    closed_dms_text,
    error_text,
    history_embed,
    keys_text,
    odds_embed,
    order_accepted_text,
    order_embed,
    pull_embed,
    topup_embed,
)
from bot.frontends.discord.views import PatternRequest, confirm_view, link_view, reveal_view
from gpu_worker.errors import VanikeysError

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot
    from bot.service import Service

log = logging.getLogger(__name__)

PULL, ORDER, COMMAND = "pull", "order", "command"
GENERIC_FAILURE = ("Something went wrong on our side. Nothing was lost: `/history` shows every token movement "
                   "and `/keys` any key not yet sent. Please try again in a minute.")

Interaction = discord.Interaction[Any]


def user_ref(user: discord.abc.User) -> UserRef:
    return UserRef("discord", str(user.id), user.display_name)


def community_ref(interaction: Interaction) -> CommunityRef | None:
    if interaction.guild_id is None:
        return None
    guild = interaction.guild
    return CommunityRef("discord", str(interaction.guild_id), (guild.name if guild and guild.name else "") or "")


@dataclass
class Reply:
    posted: bool = False  # a public answer is out: an error after this must not delete it


class Flows:
    def __init__(self, bot: VaniKeysBot) -> None:
        self.bot = bot

    @property
    def service(self) -> Service:
        return self.bot.service

    # --- pulls and orders (public in a server) ------------------------------------------

    async def pull(self, interaction: Interaction, request: PatternRequest, count: int) -> None:
        async def body(reply: Reply) -> None:
            answer = await self.service.pull(user_ref(interaction.user), community_ref(interaction), request.pattern,
                                             request.format_id, count, exact_case=request.exact_case,
                                             fuzzy=request.fuzzy)
            shown = PatternRequest(answer.pattern, answer.format_id, request.exact_case, request.fuzzy)
            view = reveal_view(shown)
            embed = pull_embed(answer, interaction.user)
            if view is None:
                await interaction.followup.send(embed=embed, wait=True)
            else:
                await interaction.followup.send(embed=embed, view=view, wait=True)
            reply.posted = True
            if not answer.delivered:
                await interaction.followup.send(closed_dms_text(answer), ephemeral=True)

        await self._answer(interaction, body, public=True, action=PULL)

    async def order(self, interaction: Interaction, request: PatternRequest, pubkey: str | None) -> None:
        async def body(reply: Reply) -> None:
            progress_message = await interaction.original_response()
            origin = Origin("discord", str(interaction.channel_id), str(progress_message.id))
            answer = await self.service.order(user_ref(interaction.user), community_ref(interaction), request.pattern,
                                              request.format_id, pubkey, exact_case=request.exact_case,
                                              fuzzy=request.fuzzy, origin=origin)
            latest = self.bot.frontend.latest(answer.order)
            reply.posted = True  # paid: from here on the message shows the order, whatever else fails
            await interaction.edit_original_response(content=order_accepted_text(answer), embed=order_embed(latest))

        await self._answer(interaction, body, public=True, action=ORDER)

    async def quote_order(self, interaction: Interaction, request: PatternRequest) -> None:
        """The Order button: the price and the odds, privately, with a button to confirm."""
        async def body(reply: Reply) -> None:
            odds = await self.service.odds(request.pattern, request.format_id, exact_case=request.exact_case,
                                           fuzzy=request.fuzzy)
            if odds.order_price is None:
                raise ServiceError("too_hard", odds.order_refusal or "this pattern is too hard to order")
            view = confirm_view(request, odds.order_price)
            text = f"An exact match for `{request.pattern}` costs **{odds.order_price} tokens**. Confirm to order it."
            if view is None:
                await interaction.followup.send(text, embed=odds_embed(odds), ephemeral=True)
            else:
                await interaction.followup.send(text, embed=odds_embed(odds), view=view, ephemeral=True)

        await self._answer(interaction, body, public=False, action=COMMAND)

    # --- information ------------------------------------------------------------------

    async def odds(self, interaction: Interaction, request: PatternRequest) -> None:
        async def body(reply: Reply) -> None:
            odds = await self.service.odds(request.pattern, request.format_id, exact_case=request.exact_case,
                                           fuzzy=request.fuzzy)
            await interaction.followup.send(embed=odds_embed(odds))

        await self._answer(interaction, body, public=True, action=COMMAND)

    async def private(self, interaction: Interaction, render: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """An ephemeral answer: render() returns followup.send keyword arguments."""
        async def body(reply: Reply) -> None:
            await interaction.followup.send(**await render(), ephemeral=True)

        await self._answer(interaction, body, public=False, action=COMMAND)

    async def public(self, interaction: Interaction, render: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        async def body(reply: Reply) -> None:
            await interaction.followup.send(**await render())

        await self._answer(interaction, body, public=True, action=COMMAND)

    async def balance(self, interaction: Interaction) -> None:
        async def render() -> dict[str, Any]:
            return {"embed": balance_embed(await self.service.balance(user_ref(interaction.user)))}
        await self.private(interaction, render)

    async def keys(self, interaction: Interaction) -> None:
        async def render() -> dict[str, Any]:
            return {"content": keys_text(await self.service.keys(user_ref(interaction.user)))}
        await self.private(interaction, render)

    async def history(self, interaction: Interaction) -> None:
        async def render() -> dict[str, Any]:
            return {"embed": history_embed(await self.service.history(user_ref(interaction.user)))}
        await self.private(interaction, render)

    async def topup(self, interaction: Interaction, pack: str | None) -> None:
        async def render() -> dict[str, Any]:
            answer = await self.service.topup(user_ref(interaction.user), pack)
            if answer.url and answer.pack:
                return {"embed": topup_embed(answer),
                        "view": link_view(f"Pay {answer.pack.price} for {answer.pack.tokens} tokens", answer.url)}
            return {"embed": topup_embed(answer)}
        await self.private(interaction, render)

    # --- the one way every interaction is answered ----------------------------------------

    async def _answer(self, interaction: Interaction, body: Callable[[Reply], Awaitable[None]], *, public: bool,
                      action: str) -> None:
        wait = self.bot.cooldowns.wait_left(action, interaction.user.id)
        if wait > 0:
            noun = {PULL: "pull", ORDER: "order"}.get(action, "use a command")
            await interaction.response.send_message(
                error_text(f"Easy there: you can {noun} again in {math.ceil(wait)} s."), ephemeral=True)
            return
        await interaction.response.defer(thinking=True, ephemeral=not public)
        reply = Reply()
        try:
            await body(reply)
        except (ServiceError, VanikeysError) as err:
            self.bot.cooldowns.release(action, interaction.user.id)  # refused: nothing ran, no need to wait
            await self._fail(interaction, str(err), delete_original=public and not reply.posted)
        except discord.HTTPException as exc:
            log.warning("interaction %s: Discord refused a reply (status %s, code %s)", interaction.id, exc.status,
                        exc.code)
            await self._fail(interaction, GENERIC_FAILURE, delete_original=public and not reply.posted)
        except Exception:
            log.exception("interaction %s (%s) failed", interaction.id, action)
            await self._fail(interaction, GENERIC_FAILURE, delete_original=public and not reply.posted)

    async def _fail(self, interaction: Interaction, message: str, *, delete_original: bool) -> None:
        try:
            if delete_original:
                try:
                    await interaction.delete_original_response()
                except discord.NotFound:
                    pass
            await interaction.followup.send(error_text(message), ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("interaction %s: could not send the error (status %s, code %s)", interaction.id, exc.status,
                        exc.code)
