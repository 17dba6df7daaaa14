"""How Telegram's users, chats and messages are named to the service."""

from __future__ import annotations

from telegram import Chat, Message, User

from bot.answers import CommunityRef, UserRef
from bot.frontends.telegram.frontend import PLATFORM


def user_ref(user: User) -> UserRef:
    """How the service names a Telegram person: their id, and their full name (else username, else empty) to show."""
    return UserRef(PLATFORM, str(user.id), user.full_name or (user.username or ""))


def community_ref(chat: Chat) -> CommunityRef | None:
    """The service's community for a group or channel chat; None for a private chat (no community)."""
    if chat.type == Chat.PRIVATE:
        return None
    return CommunityRef(PLATFORM, str(chat.id), chat.title or "")


def channel_of(chat: Chat, message: Message | None) -> str:
    """A Telegram group's "channel" for /config pull_channel: the forum topic a message is in, else the group."""
    if message is not None and message.is_topic_message and message.message_thread_id:
        return str(message.message_thread_id)
    return str(chat.id)


def message_id(message: Message | None) -> int | None:
    """The id of `message`, or None when there is none (what a reply-to parameter takes)."""
    return message.message_id if message is not None else None
