"""Telegram updates in, Service calls, rendered answers out.

Thin on purpose: parse the arguments, ask the service, render. In groups the
result is public and everything personal (balance, purchases, history, keys, and
errors about what someone typed) goes to that person's private chat, with a short
pointer in the group that mentions no one. Every button belongs to the person it
acts for. Messages leave through the frontend's per-chat Outbox, so a busy group
never holds up command handling.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from typing import Any, TypeVar

from telegram import (
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
    WebAppInfo,
)
from telegram.constants import ChatMemberStatus, MessageEntityType, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.answers import Origin, ServiceError
from bot.frontends.command_args import ArgError, PatternArgs, parse_odds, parse_order, parse_pull
from bot.frontends.telegram import rendering, stars
from bot.frontends.telegram.callbacks import ButtonAction, CallbackCodec
from bot.frontends.telegram.config import TelegramConfig
from bot.frontends.telegram.cooldown import Cooldowns
from bot.frontends.telegram.frontend import PLATFORM, TelegramFrontEnd, deep_link
from bot.frontends.telegram.pulls import PullFlow
from bot.frontends.telegram.refs import community_ref, message_id, user_ref
from bot.i18n import current, in_public, public_locale, public_now, set_public_locale
from bot.links import miniapp_url
from bot.service import Service
from gpu_worker.errors import VanikeysError
from gpu_worker.i18n import N_, _, negotiate, ngettext, number, set_locale
from gpu_worker.numbers import parse_int

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
USER_ERRORS = (ServiceError, VanikeysError, ArgError)
T = TypeVar("T")
GENERIC_FAILURE = N_("Something went wrong on our side; nothing was charged for it. Try again in a minute.")


def gift_recipient(message: Message | None) -> User | None:
    """Who a /gift is for: the author of the message it replies to, or a mention that names a user."""
    if message is None:
        return None
    for entity in message.entities or ():
        if entity.type == MessageEntityType.TEXT_MENTION and entity.user is not None:
            return entity.user
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None:
        return replied.from_user
    return None


def _parties(update: Update) -> tuple[Chat, Message | None, User] | None:
    """The chat, message and person of a command; None for an update without a chat or a sender (never a command:
    Telegram names both for every message, a group's anonymous admin and a channel's voice as stand-in users)."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return None
    return chat, update.effective_message, user


def _author_id(message: Message | None) -> int | None:
    return message.from_user.id if message is not None and message.from_user is not None else None


class TelegramHandlers:
    """The Telegram commands, button presses and payment updates, each answered through the frontend's Outbox.

    Holds the per-person cooldowns (pulls and orders share one, /odds has its own), the few slots for grinding and
    odds work, and `stopping`, which refuses work still waiting for a slot once the bot shuts down. A user error
    becomes its one-line message (privately in a group); anything unexpected is logged and apologised for."""

    def __init__(self, service: Service, config: TelegramConfig, frontend: TelegramFrontEnd) -> None:
        self.service = service
        self.config = config
        self.frontend = frontend
        self.outbox = frontend.outbox
        self.codec = CallbackCodec()
        self.cooldowns = Cooldowns(config.cooldown_s)
        self.odds_cooldowns = Cooldowns(config.odds_cooldown_s, action="odds")
        self._heavy = asyncio.Semaphore(config.heavy_concurrency)
        self.stopping = False  # set on shutdown: work still waiting for a slot is refused, nothing charged
        self._answering = 0  # button presses being acknowledged right now
        self._answers_done = asyncio.Event()
        self._answers_done.set()
        self._told_until: dict[tuple[int, str], float] = {}  # (person, cooldown) -> until when their notice holds
        self.pulls = PullFlow(
            service,
            config,
            frontend,
            self.codec,
            self.cooldowns,
            slot=self._slot,
            after_answers=self._after_answers,
            reply=self._reply,
            bot_button=self._bot_button,
            collection_button=self._collection_button,
        )

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[Callable[[], None]]:
        """One of the few slots for grinding and odds work; none is handed out once the bot is stopping.

        Yields `release`, to give the slot back as soon as the costly part is done (a pull's result is
        verified and stored): sending the reveal and the key waits on Telegram's pace, not on the CPU, and
        holding a slot through it would let a busy group or the 30-a-second budget starve every pull."""
        await self._heavy.acquire()
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self._heavy.release()

        try:
            if self.stopping:
                raise ServiceError("busy", _("The bot is restarting: nothing was charged, send it again in a minute."))
            yield release
        finally:
            release()

    # ---- sending -----------------------------------------------------------------

    def _reply(
        self, chat: Chat, message: Message | None, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> asyncio.Future[Any]:
        return self.frontend.send_text(
            chat.id, text, markup=markup, reply_to=message_id(message), owner=_author_id(message)
        )

    async def _slow_down(
        self, chat: Chat, message: Message | None, user: User, text: str, wait_s: float, what: str = "paid"
    ) -> None:
        """A cooldown notice, once per wait: it says when the person may go again, so a second one before then
        repeats it. From a group it goes privately, costing the group none of its ~20 messages a minute; to
        someone the bot cannot write to yet, in the group. Either way it is pointless once the wait is over
        (dropped if still queued then), and one person's queued notices fold into the newest."""
        now = time.monotonic()
        if self._told_until.get((user.id, what), 0.0) > now:
            return
        if len(self._told_until) > 10_000:  # bounded: forgetting only risks one more notice
            self._told_until = {uid: t for uid, t in self._told_until.items() if t > now}
        self._told_until[(user.id, what)] = now + wait_s
        stale_after_s, fold_key = max(1.0, wait_s), ("slow_down", user.id)
        if chat.type != Chat.PRIVATE:
            try:
                await self.outbox.call(
                    user.id,
                    lambda: self.frontend.bot.send_message(chat_id=user.id, text=text, parse_mode=ParseMode.HTML),
                    owner=user.id,
                    stale_after_s=stale_after_s,
                    fold_key=fold_key,
                )
                return
            except TelegramError:
                pass
        self.frontend.send_text(
            chat.id, text, reply_to=message_id(message), owner=user.id, stale_after_s=stale_after_s, fold_key=fold_key
        )

    def _collection_button(self) -> InlineKeyboardButton | None:
        """The Mini App (bot/web) with the person's collection, when the bot has a public address."""
        url = miniapp_url(self.service.settings.web_url)
        return InlineKeyboardButton(_("🗂 My collection"), web_app=WebAppInfo(url)) if url else None

    def _bot_button(self, start: str, label: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, url=deep_link(self.frontend.bot.username, start))

    async def _to_person(
        self,
        chat: Chat,
        message: Message | None,
        user: User,
        text: str,
        *,
        markup: InlineKeyboardMarkup | None = None,
        start: str = "help",
        pointer: str | None = None,
        public_fallback: bool = False,
    ) -> bool:
        """Something personal: here in a private chat; from a group, privately, with a pointer in the group.

        The pointer is a reply that names and links no one. False when the person could not be reached; then
        the group is told how to open the private chat, or (`public_fallback`, for what the group may see) gets
        the text itself, ahead of everything waiting there."""
        with in_public():  # the pointer is for the group
            pointer = pointer or _("📬 Sent to you privately.")
        if chat.type == Chat.PRIVATE:
            self._reply(chat, message, text, markup)
            return True
        try:
            await asyncio.shield(self.frontend.send_text(user.id, text, markup=markup))  # kept if the bot stops first
        except (Forbidden, BadRequest):  # never started, blocked, or no such chat
            if public_fallback:
                self.frontend.send_text(chat.id, text, markup=markup, reply_to=message_id(message), urgent=True)
                return False
            with in_public():
                self._reply(
                    chat,
                    message,
                    _(
                        "🔒 That is private, and I cannot write to you yet: open a private chat "
                        "with the bot, then try again."
                    ),
                    InlineKeyboardMarkup([[self._bot_button(start, _("🔒 Open the bot"))]]),
                )
            return False
        except TelegramError as err:  # the bot is stopping, or Telegram kept failing: not the person's doing
            log.info("a private answer was not sent: %s", type(err).__name__)
            return False
        if message is not None:
            self._reply(chat, message, pointer)
        return True

    async def _guard(self, chat: Chat, message: Message | None, user: User, work: Callable[[], Awaitable[Any]]) -> None:
        """Run work(); a user error becomes its one-line message for that person, anything else an apology."""
        try:
            await work()
        except ArgError as err:  # our own usage lines: they repeat nothing typed, so the group may see them
            self._reply(chat, message, f"⚠️ {rendering.esc(str(err))}")
        except (ServiceError, VanikeysError) as err:
            with in_public():
                pointer = _("⚠️ That did not work: I told you why privately.")
            await self._to_person(chat, message, user, f"⚠️ {rendering.esc(str(err))}", pointer=pointer)
        except TelegramError as err:
            log.info("a Telegram call failed: %s", type(err).__name__)
        except Exception:
            log.exception("handler failed")
            with in_public():
                self._reply(chat, message, _(GENERIC_FAILURE))

    @staticmethod
    async def _for_chat(call: Callable[[], Awaitable[T]]) -> T:
        """A read-only service answer the chat sees, in its public language; a refusal, which goes to the person
        alone, in theirs (asked again in the person's locale: these calls charge and change nothing)."""
        if public_now() == current():
            return await call()
        try:
            with in_public():
                return await call()
        except (ServiceError, VanikeysError):
            return await call()

    def _cooldown_wait(self, user: User) -> tuple[str, float] | None:
        """None when the person may pull or order now (their cooldown starts); else what to tell them and how
        long the wait is."""
        wait = self.cooldowns.wait_left(str(user.id))
        if wait <= 0:
            return None
        return _("Slow down: your next pull or order is possible in {seconds} s.", seconds=round(wait)), wait

    async def _paid(self, user: User, work: Callable[[], Awaitable[Any]]) -> None:
        """A pull or order that passed its cooldown check: a refusal gives the cooldown back."""
        try:
            await work()
        except BaseException:
            self.cooldowns.give_back(str(user.id))
            raise

    # ---- stale updates -------------------------------------------------------------

    async def refuse_stale(self, update: Update, context: Context) -> None:
        """Commands that waited while the bot was down are not run late; the person is told so."""
        message = update.message
        if message is None or not (message.text or "").startswith("/") or message.date is None:
            return
        age = time.time() - message.date.timestamp()
        if age <= self.config.stale_after_s:
            return
        minutes = max(1, round(age / 60))
        with in_public():
            text = ngettext(
                "⏱ This command reached me {n} min late (I was offline), so I did not run it and nothing was charged: "
                "send it again if you still want it.",
                "⏱ This command reached me {n} min late (I was offline), so I did not run it and nothing was charged: "
                "send it again if you still want it.",
                minutes,
            )
        self._reply(message.chat, message, text)
        raise ApplicationHandlerStop

    # ---- commands --------------------------------------------------------------

    async def start(self, update: Update, context: Context) -> None:
        """/start [keys|topup|history|balance]: a deep link's target (topup only in a private chat), else the help."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties
        arg = (context.args or [""])[0].lower()
        if arg == "keys":
            await self._guard(chat, message, user, lambda: self._keys(chat, message, user))
        elif arg == "topup" and chat.type == Chat.PRIVATE:
            await self._guard(chat, message, user, lambda: self._topup(chat, message, user, None))
        elif arg == "history":
            await self._guard(chat, message, user, lambda: self._history(chat, message, user))
        elif arg == "balance":
            await self._guard(chat, message, user, lambda: self._balance(chat, message, user))
        else:
            await self._guard(chat, message, user, lambda: self._help(chat, message))

    async def help(self, update: Update, context: Context) -> None:
        """/help: the service's command list, answered where it was asked."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties
        await self._guard(chat, message, user, lambda: self._help(chat, message))

    async def _help(self, chat: Chat, message: Message | None) -> None:
        with in_public():
            self._reply(chat, message, rendering.render_help(self.service.help()))

    async def pull(self, update: Update, context: Context) -> None:
        """/pull [args]: a paid pull after the person's cooldown check (refused ones give the cooldown back)."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties

        async def work() -> None:
            with in_public():  # a usage line is answered in the chat
                args = parse_pull(context.args or [])
            wait = self._cooldown_wait(user)
            if wait is not None:
                await self._slow_down(chat, message, user, *wait)
                return
            await self._paid(user, lambda: self.pulls.run(chat, user, args, reply_to=message))

        await self._guard(chat, message, user, work)

    async def order(self, update: Update, context: Context) -> None:
        """/order <pattern> [args]: an order after the shared cooldown check; its progress message is posted first."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties

        async def work() -> None:
            with in_public():
                args = parse_order(context.args or [])
            wait = self._cooldown_wait(user)
            if wait is not None:
                await self._slow_down(chat, message, user, *wait)
                return
            await self._paid(user, lambda: self._order(chat, user, args, reply_to=message))

        await self._guard(chat, message, user, work)

    async def _order(self, chat: Chat, user: User, args: PatternArgs, reply_to: Message | None) -> None:
        """Post the message that will show the order's progress first, so the service knows where it is."""
        await self._after_answers()
        with in_public():
            placing = _(
                "🧾 Placing {who}'s order for <code>{pattern}</code>…",
                who=rendering.user_label(user_ref(user)),
                pattern=rendering.esc(args.pattern),
            )
        placeholder = await self.frontend.send_text(chat.id, placing, reply_to=message_id(reply_to), keepable=False)
        origin = Origin(PLATFORM, str(chat.id), str(placeholder.message_id))
        try:
            async with self._slot():
                answer = await self.service.order(
                    user_ref(user),
                    community_ref(chat),
                    args.pattern,
                    args.format_id,
                    args.pubkey,
                    exact_case=args.exact_case,
                    fuzzy=args.fuzzy,
                    origin=origin,
                )
        except BaseException as err:
            if isinstance(err, ServiceError) and err.committed != "nothing":  # a fault after the charge: say so here
                await self.frontend.edit_text_unless_finished(origin, f"🧾 {rendering.esc(err.message)}", final=True)
            else:
                # The refusal itself is answered by _guard (privately, with one pointer in a group): the placeholder
                # goes, so a refused order leaves one public message, not two.
                await self.frontend.delete_unless_finished(origin)
            raise
        if not self.frontend.is_finished(origin):
            with in_public():
                accepted = rendering.render_order_accepted(answer)
            await self.frontend.edit_text_unless_finished(origin, accepted)
        if chat.type != Chat.PRIVATE:
            try:  # what it cost goes privately; /history has it too
                await asyncio.shield(self.frontend.send_text(user.id, rendering.render_order_receipt(answer)))
            except TelegramError:
                pass
        else:
            self._reply(chat, None, rendering.render_order_receipt(answer))

    async def odds(self, update: Update, context: Context) -> None:
        """/odds <pattern> [args]: the odds and prices, with buttons to pull or order; its own per-person cooldown."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties

        async def work() -> None:
            with in_public():
                args = parse_odds(context.args or [])
            wait = self.odds_cooldowns.wait_left(str(user.id))
            if wait > 0:
                await self._slow_down(
                    chat,
                    message,
                    user,
                    _("Slow down: /odds again in {seconds} s.", seconds=max(1, round(wait))),
                    wait,
                    what="odds",
                )
                return
            async with self._slot():
                answer = await self._for_chat(
                    lambda: self.service.odds(
                        args.pattern, args.format_id, exact_case=args.exact_case, fuzzy=args.fuzzy
                    )
                )
            with in_public():
                markup = self.codec.result_keyboard(
                    user.id, answer.format_id, answer.pattern, args.exact_case, args.fuzzy
                )
                self._reply(chat, message, rendering.render_odds(answer), markup)

        await self._guard(chat, message, user, work)

    async def balance(self, update: Update, context: Context) -> None:
        """/balance: the person's tokens, debt, free pulls and daily spend; personal, so from a group it goes
        privately."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties
        await self._guard(chat, message, user, lambda: self._balance(chat, message, user))

    async def _balance(self, chat: Chat, message: Message | None, user: User) -> None:
        answer = await self.service.balance(user_ref(user))
        await self._to_person(chat, message, user, rendering.render_balance(answer), start="balance")

    async def history(self, update: Update, context: Context) -> None:
        """Spending history is personal: in a group it goes to the private chat."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties
        await self._guard(chat, message, user, lambda: self._history(chat, message, user))

    async def _history(self, chat: Chat, message: Message | None, user: User) -> None:
        text = rendering.render_history(await self.service.history(user_ref(user)))
        await self._to_person(chat, message, user, text, start="history")

    async def leaderboard(self, update: Update, context: Context) -> None:
        """/leaderboard: the group's rarest pulls (in a private chat: those made outside any group), answered where
        asked."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties

        async def work() -> None:
            answer = await self._for_chat(lambda: self.service.leaderboard(community_ref(chat)))
            with in_public():
                self._reply(chat, message, rendering.render_leaderboard(answer))

        await self._guard(chat, message, user, work)

    async def keys(self, update: Update, context: Context) -> None:
        """/keys: the service delivers the person's found keys privately; a button opens the private chat for any it
        could not."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties
        await self._guard(chat, message, user, lambda: self._keys(chat, message, user))

    async def _keys(self, chat: Chat, message: Message | None, user: User) -> None:
        answer = await self.service.keys(user_ref(user))
        markup = InlineKeyboardMarkup([[self._bot_button("keys", _("🔑 Get my key"))]]) if answer.undelivered else None
        await self._to_person(chat, message, user, rendering.render_keys(answer), markup=markup, start="keys")

    async def topup(self, update: Update, context: Context) -> None:
        """/topup [pack]: in a private chat the Stars packs (and a card payment link when Stripe is on); in a group only
        a button to the private chat, nothing personal."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties
        if chat.type != Chat.PRIVATE:
            with in_public():
                self._reply(
                    chat,
                    message,
                    _("💳 Top-ups are private: open a chat with the bot."),
                    InlineKeyboardMarkup([[self._bot_button("topup", _("💳 Top up privately"))]]),
                )
            return
        pack = context.args[0] if context.args else None
        await self._guard(chat, message, user, lambda: self._topup(chat, message, user, pack))

    async def _topup(self, chat: Chat, message: Message | None, user: User, pack: str | None) -> None:
        answer = await self.service.topup(user_ref(user), pack) if self.config.stripe_topup else None
        rows = [
            [
                InlineKeyboardButton(
                    ngettext("⭐ {stars} Stars: {n} token", "⭐ {stars} Stars: {n} tokens", p.tokens, stars=p.stars),
                    callback_data=f"s|{p.pack_id}",
                )
            ]
            for p in self.config.stars_packs
        ]
        if answer is not None and answer.url:
            rows.insert(0, [InlineKeyboardButton(_("💳 Pay by card"), url=answer.url)])
        text = rendering.render_topup(answer, self.config.stars_packs, self.service.settings.free_pulls_per_day)
        self._reply(chat, message, text, InlineKeyboardMarkup(rows) if rows else None)

    # ---- community ----------------------------------------------------------------

    async def _is_admin(self, chat: Chat, user: User) -> bool:
        if chat.type == Chat.PRIVATE:
            return False
        member = await self.frontend.bot.get_chat_member(chat.id, user.id)
        return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

    async def config_command(self, update: Update, context: Context) -> None:
        """/config shows the group's settings; /config <setting> <value> changes one (group admins only).

        The answer goes to the admin privately: a group's ~20 messages a minute may be spent for the next minute,
        and an admin's answer must not wait behind that public traffic. Someone the bot cannot write to yet
        gets it in the group, ahead of everything waiting there (docs/operators.md)."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties

        async def work() -> None:
            args = context.args or []
            if len(args) == 1 or len(args) > 2:
                with in_public():
                    raise ArgError(_("Type /config to see the settings, or /config <setting> <value> to change one."))
            is_admin = await self._is_admin(chat, user)
            if args and args[0].lower() == "language":  # a new group language answers in itself
                set_locale(public_locale(negotiate(args[1], pseudo=False), user.language_code))
                set_public_locale(current())
            if args:
                answer = await self.service.configure(
                    user_ref(user), community_ref(chat), args[0], args[1], is_admin=is_admin, label=args[1]
                )
            else:
                answer = await self.service.config(user_ref(user), community_ref(chat), is_admin=is_admin)
            await self._to_person(
                chat,
                message,
                user,
                rendering.render_config(answer),
                start="help",
                pointer=_("⚙️ The group's settings went to you privately."),
                public_fallback=True,
            )

        await self._guard(chat, message, user, work)

    async def gift(self, update: Update, context: Context) -> None:
        """/gift TOKENS as a reply to the recipient's message (bots cannot look up @usernames on Telegram)."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties

        async def work() -> None:
            recipient = gift_recipient(message)
            if recipient is None or message is None or not context.args:  # a recipient comes with a message
                with in_public():
                    raise ArgError(_("Reply to the person's message with /gift TOKENS, e.g. /gift 50."))
            tokens = parse_int(context.args[-1], what=_("the tokens to give"), minimum=1, maximum=10**9)
            answer = await self.service.gift(
                user_ref(user),
                user_ref(recipient),
                tokens,
                idempotency_key=f"telegram-gift:{chat.id}:{message.message_id}",
                recipient_is_bot=recipient.is_bot,
            )
            await self._to_person(
                chat,
                message,
                user,
                f"🎁 {rendering.esc(answer.message)}",
                pointer=_("🎁 Done: the details went to you privately."),
            )

        await self._guard(chat, message, user, work)

    async def profile(self, update: Update, context: Context) -> None:
        """Private unless the person asks to show it: /profile share."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties
        first = context.args[0].lower() if context.args else None
        share = first in ("share", "--share", "show")
        hide = first in ("hide", "--hide")

        async def work() -> None:
            answer = await self.service.profile(user_ref(user), community_ref(chat), share=share, hide=hide)
            with in_public() if share else nullcontext():  # shared: the chat reads it
                text = rendering.render_profile(answer) + (
                    "\n" + _("🙈 Your name no longer shows on community gallery pages.") if hide else ""
                )
            collection = self._collection_button()
            markup = InlineKeyboardMarkup([[collection]]) if collection is not None else None
            if share:
                self._reply(chat, message, text)
            else:
                await self._to_person(chat, message, user, text, markup=markup, start="help")

        await self._guard(chat, message, user, work)

    async def streak(self, update: Update, context: Context) -> None:
        """/streak: the person's daily pull streak, privately."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties

        async def work() -> None:
            answer = await self.service.streak(user_ref(user))
            await self._to_person(chat, message, user, f"🔥 {rendering.esc(answer.message)}")

        await self._guard(chat, message, user, work)

    async def season(self, update: Update, context: Context) -> None:
        """/season: this week's rarest pull per person here, answered where asked."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties

        async def work() -> None:
            answer = await self._for_chat(lambda: self.service.season_leaderboard(community_ref(chat)))
            with in_public():
                self._reply(chat, message, rendering.render_season(answer))

        await self._guard(chat, message, user, work)

    async def card(self, update: Update, context: Context) -> None:
        """/card [pull id]: the card of one's latest (or a given) pull, posted where asked: it holds no secret."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties

        async def work() -> None:
            job_id = context.args[0] if context.args else None
            answer = await self._for_chat(lambda: self.service.card(user_ref(user), community_ref(chat), job_id))
            with in_public():
                caption = rendering.render_card_caption(answer)
            self.frontend.send_photo(chat.id, answer.png, caption, reply_to=message_id(message))

        await self._guard(chat, message, user, work)

    # ---- buttons ---------------------------------------------------------------

    async def button(self, update: Update, context: Context) -> None:
        """Every query is answered first, before any slow work (Telegram gives up after ~15 s). A result's open
        buttons act for whoever presses them; a personal button pressed by anyone but its owner does nothing and
        says so to the presser alone."""
        query = update.callback_query
        if query is None:
            return
        chat = update.effective_chat
        user = query.from_user
        if query.data and query.data.startswith("s|"):
            await self._stars_button(query, chat, user)
            return
        action = self.codec.decode(query.data or "")
        if action is None or chat is None:
            await self._answer(query, _("This button has expired; type the command again."), show_alert=True)
            return
        pressed = action.for_presser(user.id)
        if pressed is None:
            await self._answer(
                query,
                _("This button is someone else's. To do it yourself, type {command}", command=action.command())[:200],
                show_alert=True,
            )
            return
        action = pressed
        if action.action == "quote":
            if not await self._answer(query):
                return
            await self._guard(chat, None, user, lambda: self._quote(chat, user, action))
            return
        wait = self._cooldown_wait(user)
        if wait is not None:
            await self._answer(query, wait[0], show_alert=True)
            return
        count = 10 if action.action == "pull10" else action.count if action.action == "pull_easy" else 1
        args = PatternArgs(action.pattern, action.format_id, count, None, action.exact_case, action.fuzzy)
        if not await self._answer(query, _("Placing your order…") if action.action == "order" else _("Pulling…")):
            self.cooldowns.give_back(str(user.id))  # a stale press: Telegram gave up on it, so do we
            return
        if action.action == "order":
            await self._guard(chat, None, user, lambda: self._paid(user, lambda: self._order(chat, user, args, None)))
        else:
            await self._guard(
                chat,
                None,
                user,
                lambda: self._paid(
                    user, lambda: self.pulls.run(chat, user, args, None, allow_easy=action.action == "pull_easy")
                ),
            )

    async def _answer(self, query: CallbackQuery, text: str | None = None, *, show_alert: bool = False) -> bool:
        """Acknowledge a press. While any are being acknowledged, slow work waits (see _after_answers):
        on a busy bot the ~15 s deadline is met for every press, not only the first ones.

        False when Telegram refuses the answer: the press is too old (it waited while the bot was down),
        and nothing is done for it."""
        self._answering += 1
        self._answers_done.clear()
        try:
            await query.answer(text, show_alert=show_alert)
            return True
        except TelegramError as err:
            log.info("a button press was not acknowledged: %s", type(err).__name__)
            return False
        finally:
            self._answering -= 1
            if not self._answering:
                self._answers_done.set()

    async def _after_answers(self) -> None:
        await self._answers_done.wait()

    async def _quote(self, chat: Chat, user: User, action: ButtonAction) -> None:
        async with self._slot():
            odds = await self._for_chat(
                lambda: self.service.odds(
                    action.pattern, action.format_id, exact_case=action.exact_case, fuzzy=action.fuzzy
                )
            )
        with in_public():
            markup = self.codec.confirm_keyboard(action) if odds.order_price is not None else None
            text = f"{rendering.user_label(user_ref(user))}: {rendering.render_order_quote(odds)}"
        self._reply(chat, None, text, markup)

    async def _stars_button(self, query: CallbackQuery, chat: Chat | None, user: User) -> None:
        pack = self.config.stars_pack((query.data or "")[2:])
        if pack is None:
            await self._answer(query, _("That pack is no longer on sale; send /topup again."), show_alert=True)
            return
        if chat is None or chat.type != Chat.PRIVATE:
            await self._answer(query, _("Stars invoices are sent in a private chat with the bot."), show_alert=True)
            return
        await self._answer(query)
        await self.outbox.call(chat.id, lambda: stars.send_invoice(self.frontend.bot, chat.id, user.id, pack))

    # ---- payments ----------------------------------------------------------------

    async def pre_checkout(self, update: Update, context: Context) -> None:
        """Answer Telegram's pre-checkout query: ok for our invoice, paid by its own person at the current pack's price;
        else refused with the reason shown to the payer (stars.pre_checkout_problem)."""
        query = update.pre_checkout_query
        if query is None:
            return
        problem = stars.pre_checkout_problem(query, self.config)
        if problem is None:
            await query.answer(ok=True)
        else:
            await query.answer(ok=False, error_message=problem)

    async def successful_payment(self, update: Update, context: Context) -> None:
        """Credit a Stars payment exactly once by its charge id (the service tells the buyer); an unrecognised payload
        is logged, credits nothing, and the payer is told to expect a refund (nothing here refunds it)."""
        message = update.effective_message
        payment = message.successful_payment if message is not None else None
        payer = update.effective_user
        if message is None or payment is None or payer is None:  # the filter lets only a payer's payment in
            return
        instruction = stars.credit_instruction(payment, payer.id)
        if instruction is None:
            log.error(
                "a Stars payment with an unrecognised payload was not credited (charge %s)",
                payment.telegram_payment_charge_id,
            )
            self._reply(
                message.chat,
                None,
                _("⚠️ We could not match this payment to a pack; it will be refunded. Send /paysupport if it is not."),
            )
            return
        # Exactly once by the charge id, however often this update arrives; the service tells the buyer.
        await self.service.apply_instruction(instruction)

    async def pay_support(self, update: Update, context: Context) -> None:
        """/paysupport: how to get a Stars payment refunded (Telegram requires the command)."""
        if update.effective_chat is None:
            return
        self._reply(
            update.effective_chat,
            update.effective_message,
            _(
                "⭐ For a refund of a Stars payment, write to the bot's operator with the payment's date; "
                "refunds go back to your Stars balance."
            ),
        )

    async def refunded_payment(self, update: Update, context: Context) -> None:
        """Telegram refunded a Stars payment itself: take the tokens back like a Stripe refund (debt and a
        freeze when already spent), exactly once: the same ledger key as /refundstars uses."""
        message = update.effective_message
        refund = message.refunded_payment if message is not None else None
        payer = update.effective_user
        if refund is None:  # the filter lets only a refund in
            return
        payload = stars.StarsPayload.decode(refund.invoice_payload or "")
        if payload is None or payer is None or payload.user_id != payer.id or refund.currency != stars.CURRENCY:
            log.error(
                "a Stars refund for an unrecognised payment (charge %s) took nothing back",
                refund.telegram_payment_charge_id,
            )
            return
        charge = stars.StarCharge(refund.telegram_payment_charge_id, payer.id, payload)
        await self.service.apply_instruction(stars.refund_instruction(charge))  # tells the payer when first applied

    async def refund_stars(self, update: Update, context: Context) -> None:
        """Operators only: /refundstars <telegram_payment_charge_id>."""
        if (parties := _parties(update)) is None:
            return
        chat, message, user = parties
        if user.id not in self.config.admin_ids:
            self._reply(chat, message, _("Only the bot's operators can refund payments."))
            return
        if not context.args:
            self._reply(chat, message, rendering.esc(_("Usage: /refundstars <telegram_payment_charge_id>")))
            return
        charge_id = context.args[0]

        async def work() -> None:
            text = await refund_star_payment(self.service, self.frontend, charge_id)
            self._reply(chat, message, rendering.esc(text))

        await self._guard(chat, message, user, work)


async def refund_star_payment(service: Service, frontend: TelegramFrontEnd, charge_id: str) -> str:
    """Take the tokens back (exactly once, by its own key; debt if spent), then return the Stars.

    Safe to repeat: the debit is idempotent and Telegram refuses a second refund,
    which counts as done; so a refund interrupted between the two steps completes on retry.
    """
    charge = await stars.find_charge(frontend.bot, charge_id)
    if charge is None:
        return _("No Stars payment {charge} was found among the bot's transactions.", charge=charge_id)
    outcome = await service.apply_instruction(stars.refund_instruction(charge))  # tells the user when first applied
    try:
        await stars.refund_on_telegram(frontend.bot, charge)
    except TelegramError as err:
        return _(
            "The tokens were taken back but Telegram refused the refund ({why}); send /refundstars {charge} again to "
            "retry.",
            why=err.message,
            charge=charge_id,
        )
    done = ngettext(
        "Refunded {n} Star to user {user}.",
        "Refunded {n} Stars to user {user}.",
        charge.payload.stars,
        user=charge.user_id,
    )
    short = charge.payload.tokens - abs(outcome.tokens_moved)
    if outcome.applied and short > 0:
        # Spent or gifted already: gifts stay with their recipients; the buyer owes the rest (docs/operations.md).
        owed = ngettext(
            "{taken} of {total} tokens taken back; the other {n} was already spent or gifted, so the buyer now owes "
            "{debt} and cannot pull or order until later credits settle it.",
            "{taken} of {total} tokens taken back; the other {n} were already spent or gifted, so the buyer now owes "
            "{debt} and cannot pull or order until later credits settle it.",
            short,
            taken=number(abs(outcome.tokens_moved)),
            total=number(charge.payload.tokens),
            debt=number(outcome.debt),
        )
        return f"{done} {owed}"
    taken = ngettext("{n} token taken back.", "{n} tokens taken back.", charge.payload.tokens)
    return f"{done} {taken}"
