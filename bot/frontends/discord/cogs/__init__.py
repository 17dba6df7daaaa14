"""One cog per area: pulls and orders, the account, the community, the owner's admin commands."""

from bot.frontends.discord.cogs.account import AccountCog
from bot.frontends.discord.cogs.admin import AdminCog
from bot.frontends.discord.cogs.community import CommunityCog
from bot.frontends.discord.cogs.pulls import PullsCog

ALL_COGS = (PullsCog, AccountCog, CommunityCog, AdminCog)

__all__ = ["ALL_COGS", "AccountCog", "AdminCog", "CommunityCog", "PullsCog"]
