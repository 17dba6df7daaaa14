"""Sets the languages each Telegram update is answered in, before any handler runs (docs/i18n.md).

Two of them: the person's own (`language_code`), the current locale, for everything personal (private answers,
refusals, notices, DMs); and the public one for what a group sees (`bot.i18n.in_public`): the language its admins
set with `/config language`, else the person's. Both are context variables: the handlers python-telegram-bot
starts for this update afterwards inherit them.
"""

from __future__ import annotations

import logging

from telegram import Chat, Update
from telegram.ext import ContextTypes

from bot.answers import CommunityRef
from bot.i18n import PEOPLE, public_locale, set_locale, set_public_locale
from bot.service import Service
from bot.storage import StorageUnavailable

log = logging.getLogger(__name__)
PLATFORM = "telegram"


class UpdateLanguage:
    """The update handler (group -2, ahead of every answer) that sets the person's locale and the public one (from the
    service's group languages)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Remember the sender's language_code, then set this update's locales: the person's, and for public messages
        the group's language when it has one (a storage outage falls back to the person's). Never raises for storage
        being down."""
        user, chat = update.effective_user, update.effective_chat
        code = user.language_code if user is not None else None
        if user is not None:
            PEOPLE.remember(PLATFORM, str(user.id), code)
        group_language = None
        if chat is not None and chat.type != Chat.PRIVATE:
            try:
                group_language = await self.service.community_language(
                    CommunityRef(PLATFORM, str(chat.id), chat.title or "")
                )
            except StorageUnavailable as err:  # answer in the person's language rather than not at all
                log.info("group language not read (%s)", err.why)
        set_locale(code)  # the person's own: what goes to them alone is in their language
        set_public_locale(public_locale(group_language, code))
