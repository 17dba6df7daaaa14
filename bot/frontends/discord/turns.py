"""One interaction's answers, with no reply path that needs its token after Discord expires it (15 minutes).

The token is used only while it is fresh (`TOKEN_SAFE_S` after the bot
received the interaction, by the bot's own clock) and every use falls back
when Discord says the token is gone anyway: a public message is edited or
deleted through the channel endpoint (the bot's own message, no token needed),
a private note goes by DM instead of an ephemeral follow-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.frontends.discord.rendering import error_text

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot

log = logging.getLogger(__name__)

TOKEN_TTL_S = 15 * 60.0
TOKEN_SAFE_S = TOKEN_TTL_S - 60.0  # a minute's margin for clock drift and slow requests
EXPIRED_TOKEN_CODES = {50027, 10015}  # Invalid Webhook Token, Unknown Webhook
NO_MENTIONS = discord.AllowedMentions.none()

Interaction = discord.Interaction[Any]


class PublicMessageUnknown(RuntimeError):
    """The interaction's public message cannot be reached: the token is gone and its id was never learnt."""


def token_gone(exc: discord.HTTPException) -> bool:
    """True when Discord says the interaction token no longer works (401, Invalid Webhook Token, Unknown Webhook)."""
    return exc.status == 401 or exc.code in EXPIRED_TOKEN_CODES


@dataclass
class Turn:
    """An interaction being answered: when it arrived, and the public message it owns, if any."""

    bot: VaniKeysBot
    interaction: Interaction
    received: float = 0.0  # on the bot's clock
    message_id: int | None = None  # the public message this interaction created (thinking, rolling, reveal)
    posted: bool = False  # a public answer is out: an error after this must not delete it
    public_locale: str = "en"  # public reveals: the server's language (/config language, else Discord's)

    def __post_init__(self) -> None:
        self.received = self.bot.clock()

    @property
    def channel_id(self) -> int:
        """The interaction's channel id; 0 when Discord sent none."""
        return self.interaction.channel_id or 0

    def token_fresh(self) -> bool:
        """True while the token is within TOKEN_SAFE_S of the interaction's arrival (on the bot's clock)."""
        return self.bot.clock() - self.received < TOKEN_SAFE_S

    async def learn_message(self) -> int | None:
        """The id of the interaction's response message (fetched once, while the token is fresh)."""
        if self.message_id is None and self.token_fresh():
            try:
                self.message_id = (await self.interaction.original_response()).id
            except discord.HTTPException as exc:
                log.info(
                    "interaction %s: no original response (status %s, code %s)",
                    self.interaction.id,
                    exc.status,
                    exc.code,
                )
        return self.message_id

    async def edit_public(self, **fields: Any) -> None:
        """Edit the public message: through the webhook while the token is fresh, else the channel endpoint."""
        if self.token_fresh():
            try:
                message = await self.interaction.edit_original_response(**fields)
                self.message_id = message.id
                return
            except discord.HTTPException as exc:
                if not token_gone(exc):
                    raise
        if self.message_id is None:
            raise PublicMessageUnknown("the public message's id is unknown and the interaction token has expired")
        partial = self.bot.get_partial_messageable(self.channel_id).get_partial_message(self.message_id)
        await partial.edit(**fields)

    async def replace_public(self, edit: dict[str, Any], post: Callable[[], dict[str, Any]]) -> None:
        """The public message replaced by `edit`; when it cannot be reached (Discord dropped the token before its
        id was learnt), `post()` goes to the channel as a new message, so what had to be shown still is."""
        try:
            await self.edit_public(**edit)
        except PublicMessageUnknown:
            channel = self.bot.get_partial_messageable(self.channel_id)
            self.message_id = (await channel.send(allowed_mentions=NO_MENTIONS, **post())).id
            log.info("interaction %s: the public message was out of reach; posted anew", self.interaction.id)

    async def delete_public(self) -> None:
        """Remove the public message (a refusal leaves no public trace); a message already gone is fine."""
        try:
            if self.token_fresh():
                try:
                    await self.interaction.delete_original_response()
                    return
                except discord.HTTPException as exc:
                    if not token_gone(exc) or self.message_id is None:
                        raise
            if self.message_id is not None:
                await self.bot.get_partial_messageable(self.channel_id).get_partial_message(self.message_id).delete()
        except discord.NotFound:
            pass

    async def private(self, content: str | None = None, **fields: Any) -> None:
        """Something for this person only: an ephemeral follow-up while the token lives, else a DM."""
        if self.token_fresh():
            try:
                followup = self.interaction.followup
                if content is None:  # left out, as discord.py's signature has it (the same message as a null)
                    await followup.send(ephemeral=True, allowed_mentions=NO_MENTIONS, **fields)
                else:
                    await followup.send(content, ephemeral=True, allowed_mentions=NO_MENTIONS, **fields)
                return
            except discord.HTTPException as exc:
                if not token_gone(exc):
                    raise
        channel = await self.bot.create_dm(self.interaction.user)
        await channel.send(content, allowed_mentions=NO_MENTIONS, **fields)

    async def private_error(self, message: str) -> None:
        """An error, privately; a refusal from Discord is logged, never raised (this is already the failure path)."""
        try:
            await self.private(error_text(message))
        except discord.HTTPException as exc:
            log.warning(
                "interaction %s: could not send the error (status %s, code %s)",
                self.interaction.id,
                exc.status,
                exc.code,
            )
