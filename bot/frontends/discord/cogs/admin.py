"""The owner's `@VaniKeys sync`: publishes the slash commands (Discord rate-limits this, so never on every start)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord.ext import commands

if TYPE_CHECKING:
    from bot.frontends.discord.bot import VaniKeysBot

log = logging.getLogger(__name__)

SYNC_USAGE = ("`@VaniKeys sync` publishes the commands everywhere (up to an hour to show); "
              "`@VaniKeys sync here` publishes them to this server at once; `@VaniKeys sync clear` removes "
              "this server's copies")


class AdminCog(commands.Cog, name="Admin"):
    def __init__(self, bot: VaniKeysBot) -> None:
        self.bot = bot

    @commands.command(name="sync")
    @commands.is_owner()
    @commands.guild_only()
    async def sync(self, ctx: commands.Context[VaniKeysBot], scope: str = "global") -> None:
        tree = self.bot.tree
        guild = ctx.guild
        assert guild is not None
        match scope.lower():
            case "global":
                synced = await tree.sync()
                where = "globally"
            case "here":
                tree.copy_global_to(guild=guild)
                synced = await tree.sync(guild=guild)
                where = "to this server"
            case "clear":
                tree.clear_commands(guild=guild)
                synced = await tree.sync(guild=guild)
                where = "to this server (cleared)"
            case _:
                await ctx.reply(f"Unknown scope {scope!r}. {SYNC_USAGE}", mention_author=False)
                return
        log.info("synced %d application commands %s", len(synced), where)
        await ctx.reply(f"Synced {len(synced)} commands {where}.", mention_author=False)

    async def cog_command_error(self, ctx: commands.Context[VaniKeysBot], error: commands.CommandError) -> None:
        if isinstance(error, commands.NotOwner):
            await ctx.reply("Only the bot's owner can sync commands.", mention_author=False)
        elif isinstance(error, commands.NoPrivateMessage):
            await ctx.reply(f"Run sync in a server channel. {SYNC_USAGE}", mention_author=False)
        else:
            log.warning("sync failed: %s", type(error).__name__)
            await ctx.reply(f"Sync failed ({type(error).__name__}); see the bot's log.", mention_author=False)
        ctx.command_failed = True
