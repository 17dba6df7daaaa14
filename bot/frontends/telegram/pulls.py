"""A Telegram pull from the command to the DM: the rolling suspense, the grind in a slot, the reveal, the DM.

The order of the messages is `PullReveal`'s (reveal.py); this is what feeds it: when the suspense may spend a
group's budget, which options the service takes, how a failed or easy pull ends in the group.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message, User
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.answers import Origin, PullAnswer, ServiceError
from bot.frontends.command_args import PatternArgs
from bot.frontends.telegram import rendering
from bot.frontends.telegram.callbacks import ButtonAction, CallbackCodec
from bot.frontends.telegram.config import TelegramConfig
from bot.frontends.telegram.cooldown import Cooldowns
from bot.frontends.telegram.frontend import PLATFORM, TelegramFrontEnd
from bot.frontends.telegram.outbox import Kept
from bot.frontends.telegram.refs import channel_of, community_ref, message_id, user_ref
from bot.frontends.telegram.reveal import PullReveal, RevealPorts
from bot.i18n import _, in_public
from bot.service import Service
from gpu_worker.errors import VanikeysError
from gpu_worker.patterns import parse_pattern

log = logging.getLogger(__name__)

TYPING_EVERY_S = 4.5  # Telegram shows "typing…" for about 5 s per chat action


class PullFlow:
    """Runs pulls for the handlers; `slot`, `after_answers`, `reply` and the two buttons are theirs."""

    def __init__(
        self,
        service: Service,
        config: TelegramConfig,
        frontend: TelegramFrontEnd,
        codec: CallbackCodec,
        cooldowns: Cooldowns,
        *,
        slot: Callable[[], AbstractAsyncContextManager[Callable[[], None]]],
        after_answers: Callable[[], Awaitable[None]],
        reply: Callable[..., Any],
        bot_button: Callable[[str, str], InlineKeyboardButton],
        collection_button: Callable[[], InlineKeyboardButton | None],
    ) -> None:
        self.service = service
        self.config = config
        self.frontend = frontend
        self.outbox = frontend.outbox
        self.codec = codec
        self.cooldowns = cooldowns
        self._slot = slot
        self._after_answers = after_answers
        self._reply = reply
        self._bot_button = bot_button
        self._collection_button = collection_button
        # The suspense's share of a group's budget (see _spare): the rolling message needs half of it free, each
        # step three quarters: ten people pulling at once in a 20-a-minute group leave room for all ten reveals.
        self._rolling_room = max(4, config.outbox.group_messages // 2)
        self._step_room = max(3, config.outbox.group_messages * 3 // 4)
        self._pulls_in: Counter[int] = Counter()  # chat -> pulls running there, each owing the chat a reveal
        pull_params = inspect.signature(service.pull).parameters
        self._reveal_hook = "on_reveal" in pull_params  # the community contract: reveal before the DM
        self._easy_hook = "allow_easy" in pull_params
        self._channel_hook = "channel" in pull_params
        self._deleting: set[asyncio.Future[None]] = set()  # rolling messages being removed: held until done

    async def _typing(self, chat_id: int) -> None:
        while True:
            try:
                await self.frontend.bot.send_chat_action(chat_id=chat_id, action=ChatAction.TYPING)
            except TelegramError:
                return
            await asyncio.sleep(TYPING_EVERY_S)

    async def _roll(self, chat: Chat, user: User, args: PatternArgs, reply_to: Message | None) -> Origin | None:
        """The suspense: a short "rolling…" message, stepped while the grind runs (tier hidden).

        It costs the group two to four of its ~20 messages a minute, so it runs only while the group has at
        least half its budget to spare: in a busy group the reveals matter more (and can be folded)."""
        if chat.type == Chat.PRIVATE or self._spare(chat.id) < self._rolling_room:
            return None
        try:  # a pattern the service will refuse is never shown in the group, not even as "rolling"
            parse_pattern(
                args.format_id, args.pattern, case="exact" if args.exact_case else "insensitive", fuzzy=args.fuzzy
            )
        except VanikeysError:
            return None
        with in_public():
            rolling = rendering.render_rolling(user_ref(user), args.pattern, 0)
        try:
            sent = await self.frontend.send_text(chat.id, rolling, reply_to=message_id(reply_to), keepable=False)
        except TelegramError:
            return None
        return Origin(PLATFORM, str(chat.id), str(sent.message_id))

    async def _step_rolling(self, origin: Origin, user: User, pattern: str) -> None:
        for step in (1, 2):
            await asyncio.sleep(self.config.rolling_step_s)
            if self._spare(int(origin.chat_id)) < self._step_room:
                return  # the group got busy: keep its budget for the reveals
            with in_public():
                text = rendering.render_rolling(user_ref(user), pattern, step)
            await self.frontend.edit_text_unless_finished(origin, text)

    def _spare(self, chat_id: int) -> int:
        """Messages the chat may send now beyond the reveals its running pulls still owe it."""
        return self.outbox.free_in(chat_id) - self._pulls_in[chat_id]

    async def run(
        self, chat: Chat, user: User, args: PatternArgs, reply_to: Message | None, *, allow_easy: bool = False
    ) -> None:
        """Acknowledge, "typing…" and a rolling message while it runs, the reveal, and the DM (see reveal.py)."""
        self._pulls_in[chat.id] += 1
        try:
            await self._pull_counted(chat, user, args, reply_to, allow_easy=allow_easy)
        finally:
            self._pulls_in[chat.id] -= 1
            if not self._pulls_in[chat.id]:
                del self._pulls_in[chat.id]

    async def _pull_counted(
        self, chat: Chat, user: User, args: PatternArgs, reply_to: Message | None, *, allow_easy: bool
    ) -> None:
        await self._after_answers()
        rolling = await self._roll(chat, user, args, reply_to)
        reveal = self._pull_reveal(chat, user, args, reply_to, rolling)
        if rolling is not None:
            reveal.start(self._step_rolling(rolling, user, args.pattern))
        kwargs = self._pull_options(chat, args, reply_to, allow_easy, reveal)
        try:
            async with self._slot() as release_slot, reveal.grinding(release_slot):
                # "typing…" only while this pull holds a slot: the pulls waiting for one would otherwise
                # send a chat action each every few seconds, hundreds under load, for nothing.
                reveal.start(self._typing(chat.id))
                answer = await self.service.pull(
                    user_ref(user), community_ref(chat), args.pattern, args.format_id, args.count, **kwargs
                )
        except BaseException as err:
            await self._pull_failed(chat, user, args, reply_to, rolling, err)
            return
        reveal.after_pull(answer)

    def _pull_reveal(
        self, chat: Chat, user: User, args: PatternArgs, reply_to: Message | None, rolling: Origin | None
    ) -> PullReveal:
        def hold(answer: PullAnswer) -> None:
            text, markup = self._reveal_parts(chat, user, args, answer, before_delivery=True, key_below=True)
            self.frontend.hold_reveal(answer.job_id, text, markup, message_id(reply_to))

        ports = RevealPorts(
            post=lambda answer, before: self._post_reveal(
                chat, user, args, answer, reply_to, rolling, before_delivery=before
            ),
            hold=hold,
            take_held=lambda job_id: self.frontend.take_held_reveal(job_id) is not None,
            has_room=lambda: self.outbox.free_in(chat.id) > 0,
        )
        return PullReveal(ports, in_group=chat.type != Chat.PRIVATE, wait_s=self.config.reveal_wait_s)

    def _pull_options(
        self, chat: Chat, args: PatternArgs, reply_to: Message | None, allow_easy: bool, reveal: PullReveal
    ) -> dict[str, Any]:
        """The service's pull options this front end and that service both know."""
        kwargs: dict[str, Any] = {"exact_case": args.exact_case, "fuzzy": args.fuzzy}
        if self._channel_hook and chat.type != Chat.PRIVATE:
            kwargs["channel"] = channel_of(chat, reply_to)
        if self._reveal_hook:
            kwargs["on_reveal"] = reveal.on_reveal
        if allow_easy and self._easy_hook:
            kwargs["allow_easy"] = True
        return kwargs

    async def _pull_failed(
        self,
        chat: Chat,
        user: User,
        args: PatternArgs,
        reply_to: Message | None,
        rolling: Origin | None,
        err: BaseException,
    ) -> None:
        """The rolling message says how it ended; an easy pattern gets its choices; anything else re-raises."""
        easy = isinstance(err, ServiceError) and err.code == "easy_pattern"
        if rolling is not None:
            with in_public():
                if easy:
                    text = _("🎰 On hold: this pattern is easy (see below).")
                elif isinstance(err, ServiceError) and err.committed != "nothing":  # its message says what committed
                    text = f"🎰 {rendering.esc(err.message)}"
                else:
                    text = _("🎰 This one did not go through; nothing was charged.")
            await self.frontend.edit_text_unless_finished(rolling, text, final=True)
        if not easy:
            raise err
        assert isinstance(err, ServiceError)
        self.cooldowns.give_back(str(user.id))  # nothing happened yet
        self._easy_warning(chat, user, args, reply_to, err)

    def _reveal_parts(
        self,
        chat: Chat,
        user: User,
        args: PatternArgs,
        answer: PullAnswer,
        *,
        before_delivery: bool,
        key_below: bool = False,
    ) -> tuple[str, InlineKeyboardMarkup]:
        """The reveal's text and its buttons (pull again, 10-pull; in a group, the key's deep link), in the chat's
        public language."""
        in_group = chat.type != Chat.PRIVATE
        link = self.frontend.keys_link if in_group and (before_delivery or not answer.delivered) else None
        with in_public():
            extra = [self._bot_button("keys", _("🔑 Get my key"))] if link else None
            collection = self._collection_button() if not in_group else None  # web_app buttons: private chats only
            if collection is not None:
                extra = [*(extra or []), collection]
            markup = self.codec.result_keyboard(
                user.id, answer.format_id, answer.pattern, args.exact_case, args.fuzzy, extra
            )
            text = rendering.render_pull(answer, deep_link=link, before_delivery=before_delivery, key_below=key_below)
        return text, markup

    def _post_reveal(
        self,
        chat: Chat,
        user: User,
        args: PatternArgs,
        answer: PullAnswer,
        reply_to: Message | None,
        rolling: Origin | None,
        *,
        before_delivery: bool,
    ) -> asyncio.Future[object]:
        in_group = chat.type != Chat.PRIVATE
        text, markup = self._reveal_parts(chat, user, args, answer, before_delivery=before_delivery)
        with in_public():
            digest = rendering.render_pull_digest_line(answer) if in_group else None
        if answer.announce_channel:
            self._announce(chat, answer, text)
        if answer.card_png:  # Rare and up: the card, with the reveal as its caption
            if rolling is not None:
                deleting = asyncio.ensure_future(self.frontend.delete_unless_finished(rolling))
                self._deleting.add(deleting)
                deleting.add_done_callback(self._deleting.discard)
            return self.frontend.send_photo(
                chat.id,
                answer.card_png,
                rendering.fit(text.split("\n"), 1024),
                markup=markup,
                reply_to=message_id(reply_to),
                digest_line=digest,
            )
        if rolling is not None:  # kept like any reveal if it cannot land before a stop (never folded: an edit)
            keep = Kept(chat.id, "reveal", digest) if digest is not None else None
            return asyncio.ensure_future(
                self.frontend.edit_text_unless_finished(rolling, text, final=True, markup=markup, keep=keep)
            )
        return self.frontend.send_text(chat.id, text, markup=markup, reply_to=message_id(reply_to), digest_line=digest)

    def _announce(self, chat: Chat, answer: PullAnswer, text: str) -> None:
        """Epic and up: the reveal also goes to the announcement chat an admin set (a chat id on Telegram)."""
        try:
            target = int(answer.announce_channel or "")
        except ValueError:
            log.info("announcement channel %r is not a Telegram chat id", answer.announce_channel)
            return
        with in_public():
            where = "\n" + _("📣 in {where}", where=rendering.esc(chat.title or _("a group")))
            digest = rendering.render_pull_digest_line(answer)
        self.frontend.send_text(target, text + where, digest_line=digest)

    def _easy_warning(
        self, chat: Chat, user: User, args: PatternArgs, reply_to: Message | None, err: ServiceError
    ) -> None:
        """The pattern is easy enough to order: say so before charging, with choices only the asker can press."""
        action = ButtonAction(
            "pull_easy", user.id, args.format_id, args.pattern, args.exact_case, args.fuzzy, args.count
        )
        if chat.type == Chat.PRIVATE:
            text = f"🎯 {rendering.esc(str(err))}"
            markup = self.codec.easy_keyboard(action)
        else:
            with in_public():
                text = _(
                    "🎯 {who}, this pattern is easy: a single pull matches it fully more often than not, so an exact "
                    "order may suit you better. Nothing was charged.",
                    who=rendering.user_label(user_ref(user)),
                )
                markup = self.codec.easy_keyboard(action)
        self._reply(chat, reply_to, text, markup)
