"""The community: /leaderboard, /season, /profile, /streak, /card, /gift, /config (admins), /help."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.frontends.discord.flows import community_ref, user_ref
from bot.frontends.discord.mentions import usage
from bot.frontends.discord.rendering import (
    card_embed,
    config_embed,
    gift_text,
    help_embed,
    leaderboard_embed,
    profile_embed,
    season_embed,
    streak_text,
)
from gpu_worker.i18n import _
from gpu_worker.numbers import parse_int

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot

MAX_GIFT = 10**9
CHANNEL_SETTINGS = ("pull_channel", "announce_channel")
CONFIG_SETTINGS = [
    app_commands.Choice(name=locale_str("pull channel (pulls only there)"), value="pull_channel"),
    app_commands.Choice(name=locale_str("announcement channel (Epic and up)"), value="announce_channel"),
    app_commands.Choice(name=locale_str("pulls allowed (on/off)"), value="pulls"),
    app_commands.Choice(name=locale_str("free pulls a day"), value="free_pulls"),
    app_commands.Choice(name=locale_str("public gallery page (on/off)"), value="gallery"),
    app_commands.Choice(name=locale_str("language of public reveals (en, es, pt_BR, ru)"), value="language"),
]


class CommunityCog(commands.Cog, name="Community"):
    """/leaderboard, /season, /profile, /streak, /card, /gift, /config, /help, each through the bot's Flows."""

    def __init__(self, bot: VaniKeysBot) -> None:
        self.bot = bot

    @app_commands.command(name="leaderboard", description=locale_str("The rarest pulls in this server"))
    async def leaderboard(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        """The server's rarest pulls: public where the bot may post here, else privately."""

        async def render() -> dict[str, Any]:
            return {"embed": leaderboard_embed(await self.bot.service.leaderboard(community_ref(interaction)))}

        await self.bot.flows.public(interaction, render)

    @app_commands.command(name="season", description=locale_str("This week's rarest pulls in this server"))
    @app_commands.guild_only()
    async def season(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        """This week's rarest pulls in the server (servers only): public where the bot may post, else privately."""

        async def render() -> dict[str, Any]:
            return {"embed": season_embed(await self.bot.service.season_leaderboard(community_ref(interaction)))}

        await self.bot.flows.public(interaction, render)

    @app_commands.command(name="profile", description=locale_str("Your best pulls, streak and season rank"))
    @app_commands.describe(
        share=locale_str("Show it to the channel, and your name on community gallery pages"),
        hide=locale_str("Stop showing your name on community gallery pages"),
    )
    async def profile(
        self, interaction: discord.Interaction[VaniKeysBot], share: bool = False, hide: bool = False
    ) -> None:
        """The person's profile: public with share (which also shows their name on gallery pages), else private; hide
        takes the name off the gallery pages and wins over share."""

        async def render() -> dict[str, Any]:
            answer = await self.bot.service.profile(
                user_ref(interaction.user), community_ref(interaction), share=share and not hide, hide=hide
            )
            return {"embed": profile_embed(answer)}

        if share and not hide:
            await self.bot.flows.public(interaction, render)
        else:
            await self.bot.flows.private(interaction, render)

    @app_commands.command(name="streak", description=locale_str("Your daily pull streak and the next bonus"))
    async def streak(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        """Privately: the daily streak and the next bonus."""

        async def render() -> dict[str, Any]:
            return {"content": streak_text(await self.bot.service.streak(user_ref(interaction.user)))}

        await self.bot.flows.private(interaction, render)

    @app_commands.command(
        name="card", description=locale_str("A picture of your latest pull (or the pull id you give)")
    )
    @app_commands.describe(pull_id=locale_str("Which pull (from /history); default: your latest"))
    async def card(self, interaction: discord.Interaction[VaniKeysBot], pull_id: str | None = None) -> None:
        """A picture of the latest pull (or pull_id), posted publicly where the bot may post, else privately."""

        async def render() -> dict[str, Any]:
            answer = await self.bot.service.card(user_ref(interaction.user), community_ref(interaction), pull_id)
            return {
                "embed": card_embed(answer, answer.filename),
                "file": discord.File(io.BytesIO(answer.png), filename=answer.filename),
            }

        await self.bot.flows.public(interaction, render)

    @app_commands.command(name="gift", description=locale_str("Give some of your tokens to someone"))
    @app_commands.describe(user=locale_str("Who gets them"), tokens=locale_str("How many tokens, e.g. 25"))
    async def gift(
        self, interaction: discord.Interaction[VaniKeysBot], user: discord.User, tokens: app_commands.Range[str, 1, 40]
    ) -> None:
        """Privately: gives tokens (1 to MAX_GIFT) to someone; the interaction id keys it, so a retry gives once."""

        async def render() -> dict[str, Any]:
            amount = parse_int(tokens, what=_("the tokens to give"), minimum=1, maximum=MAX_GIFT)
            answer = await self.bot.service.gift(
                user_ref(interaction.user),
                user_ref(user),
                amount,
                idempotency_key=f"discord:{interaction.id}",
                recipient_is_bot=user.bot,
            )
            return {"content": gift_text(answer)}

        await self.bot.flows.private(interaction, render)

    @app_commands.command(name="config", description=locale_str("Server admins: where and how this server pulls"))
    @app_commands.describe(
        setting=locale_str("What to change (leave empty to see the settings)"),
        value=locale_str("on/off, a number, or none to clear a channel"),
        channel=locale_str("The channel, for the channel settings"),
    )
    @app_commands.choices(setting=CONFIG_SETTINGS)
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def config(
        self,
        interaction: discord.Interaction[VaniKeysBot],
        setting: str | None = None,
        value: str | None = None,
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Privately: the server's settings, or one of them changed (the service refuses a change from a non-admin)."""
        is_admin = interaction.permissions.manage_guild  # Discord hides it from others; this is the real check

        async def render() -> dict[str, Any]:
            service, user, community = self.bot.service, user_ref(interaction.user), community_ref(interaction)
            if setting is None:
                return {"embed": config_embed(await service.config(user, community, is_admin=is_admin))}
            label = ""
            typed = (value or "").strip()
            if setting in CHANNEL_SETTINGS and channel is not None:
                typed, label = str(channel.id), f"#{channel.name}"
            answer = await service.configure(user, community, setting, typed, is_admin=is_admin, label=label)
            return {"embed": config_embed(answer)}

        await self.bot.flows.private(interaction, render)

    @app_commands.command(name="help", description=locale_str("How VaniKeys works: commands, patterns and formats"))
    async def help(self, interaction: discord.Interaction[VaniKeysBot]) -> None:
        """Privately: how the bot works (commands, patterns, formats), each command as the person's client shows it
        (and its mention, to click)."""
        tree, mentions, guild_id = self.bot.tree, self.bot.mentions, interaction.guild_id

        def usage_of(name: str) -> str:
            found = tree.get_command(name)
            return usage(found if isinstance(found, app_commands.Command) else None, name)

        async def render() -> dict[str, Any]:
            return {
                "embed": help_embed(self.bot.service.help(), usage_of, lambda name: mentions.mention(name, guild_id))
            }

        await self.bot.flows.private(interaction, render)
