"""The two platforms for the load benchmark: the loopback fakes from tests/, with their limits set, and an index
of what the bot posted so that simulated people can press the buttons on their own results.

The fakes are used as they are; the subclasses below only add what a load driver needs and the fakes do not
offer (a command push that returns its message, and an index of each person's latest result buttons).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.discord.fake_discord import FakeDiscord, FakeUser
from tests.telegram.fake_bot_api import FakeBotApi, StoredMessage

TG_OWNER = re.compile(r"^[ptq]\|(\d+)\|")
DISCORD_REVEAL_AUTHOR = re.compile(r"^(\S+) pulled ")


@dataclass(frozen=True)
class Limits:
    """The platform limits the fakes enforce; `off` lifts them (to find the bot's own ceiling)."""

    group_messages_per_min: int = 20
    overall_per_s: int = 30
    callback_deadline_s: float = 15.0
    discord_channel_posts: tuple[int, float] = (5, 5.0)  # per channel: Discord's 5 messages / 5 s
    discord_followups: tuple[int, float] = (5, 2.0)  # per interaction token (webhook bucket)
    enforced: bool = True

    @classmethod
    def off(cls) -> Limits:
        return cls(group_messages_per_min=1_000_000, overall_per_s=1_000_000, enforced=False)


class LoadTelegram(FakeBotApi):
    """FakeBotApi plus: `command()` returns the pushed message; each user's latest result buttons."""

    def __init__(self, limits: Limits) -> None:
        super().__init__(
            group_limit=limits.group_messages_per_min,
            group_window_s=60.0,
            overall_per_s=limits.overall_per_s,
            callback_deadline_s=limits.callback_deadline_s,
        )
        self.latest_buttons: dict[int, tuple[int, int]] = {}  # owner id -> (chat id, message id)

    async def command(self, chat: dict[str, Any], user: dict[str, Any], text: str) -> dict[str, Any]:
        """A person types `text` in `chat` (as push_text, but the message comes back for timing)."""
        message = self._new_message(chat, user, text)
        self._messages[(chat["id"], message["message_id"])] = StoredMessage(message)
        await self.push_update({"message": message})
        return message

    def _index(self, message: dict[str, Any]) -> None:
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                owner = TG_OWNER.match(button.get("callback_data") or "")
                if owner:
                    self.latest_buttons[int(owner.group(1))] = (message["chat"]["id"], message["message_id"])
                    return

    async def _api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        message = await super()._api_sendMessage(params)
        self._index(message)
        return message

    async def _api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any]:
        message = await super()._api_editMessageText(params)
        self._index(message)
        return message

    async def release_long_polls(self) -> None:
        """Answer every waiting getUpdates now (as the fake does when it stops), so that a bot being stopped
        is not left waiting for its long poll to time out."""
        self._closing = True
        async with self._changed:
            self._changed.notify_all()

    def button_message(self, owner_id: int) -> StoredMessage | None:
        where = self.latest_buttons.get(owner_id)
        return self._messages.get(where) if where else None


class LoadDiscord(FakeDiscord):
    """FakeDiscord with its route buckets set, plus each person's latest public reveal (for its buttons)."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self.latest_reveal: dict[str, int] = {}  # display name -> message id
        if limits.enforced:
            posts, window = limits.discord_channel_posts
            self.limit_route("POST", r"/channels/(\d+)/messages", limit=posts, window_s=window)
            self.limit_route("PATCH", r"/channels/(\d+)/messages/\d+", limit=posts, window_s=window)
            followups, window = limits.discord_followups
            self.limit_route("POST", r"/webhooks/\d+/([^/]+)", limit=followups, window_s=window)
            self.limit_route("PATCH", r"/webhooks/\d+/([^/]+)/messages/.+", limit=followups, window_s=window)

    def _index(self, message: dict[str, Any]) -> None:
        for embed in message.get("embeds") or []:
            author = DISCORD_REVEAL_AUTHOR.match((embed.get("author") or {}).get("name") or "")
            if author and message.get("channel_id") == str(self.channel_id):
                self.latest_reveal[author.group(1)] = int(message["id"])

    def _store(self, channel_id: int, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        message = super()._store(channel_id, body, **kwargs)
        self._index(message)
        return message

    def _edit(self, message_id: int, body: dict[str, Any]) -> dict[str, Any]:
        message = super()._edit(message_id, body)
        self._index(message)
        return message

    def reveal_buttons(self, display_name: str) -> tuple[int, list[str]] | None:
        message_id = self.latest_reveal.get(display_name)
        message = self.messages.get(message_id or 0)
        if message is None:
            return None
        ids = [
            item["custom_id"]
            for row in message.get("components") or []
            for item in row.get("components", [])
            if item.get("custom_id", "").startswith("vk:pull:")
        ]
        return (message_id, ids) if ids else None  # type: ignore[return-value]


@dataclass
class Community:
    """Who takes part: Telegram people in groups (each also has a private chat with the bot), Discord people."""

    telegram: LoadTelegram
    discord: LoadDiscord
    groups: list[dict[str, Any]] = field(default_factory=list)
    tg_people: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (user, group)
    discord_people: list[FakeUser] = field(default_factory=list)

    @classmethod
    def build(
        cls, telegram: LoadTelegram, discord: LoadDiscord, *, groups: int, per_group: int, discord_people: int
    ) -> Community:
        community = cls(telegram, discord)
        for g in range(groups):
            group = telegram.group_chat(-100_200_000_0000 - g, f"Load Group {g + 1}")
            community.groups.append(group)
            for i in range(per_group):
                number = g * per_group + i
                user = telegram.user(700_000 + number, f"T{number:03d}")
                telegram.private_chat(user)
                telegram.started_users.add(user["id"])  # each person has opened a private chat with the bot
                community.tg_people.append((user, group))
        for i in range(discord_people):
            community.discord_people.append(discord.add_user(f"d{i:03d}"))
        return community
