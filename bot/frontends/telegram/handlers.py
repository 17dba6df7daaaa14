"""Telegram updates in, Service calls, rendered answers out.

Thin on purpose: parse the arguments, ask the service, render. In groups the
result is public and the secret goes privately; when the bot may not write to
the person yet, the group answer carries a deep link that delivers on /start.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import (
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.answers import CommunityRef, Origin, ServiceError, UserRef
from bot.frontends.telegram import rendering, stars
from bot.frontends.telegram.args import ArgError, PatternArgs, parse_odds, parse_order, parse_pull
from bot.frontends.telegram.callbacks import ButtonAction, CallbackCodec
from bot.frontends.telegram.config import TelegramConfig
from bot.frontends.telegram.cooldown import Cooldowns
from bot.frontends.telegram.frontend import PLATFORM, TelegramFrontEnd, deep_link, with_retry
from bot.service import Service
from gpu_worker.errors import VanikeysError

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
USER_ERRORS = (ServiceError, VanikeysError, ArgError)
GENERIC_FAILURE = "Something went wrong on our side; nothing was charged for it. Try again in a minute."


def user_ref(user: User) -> UserRef:
    return UserRef(PLATFORM, str(user.id), user.full_name or (user.username or ""))


def community_ref(chat: Chat) -> CommunityRef | None:
    if chat.type == Chat.PRIVATE:
        return None
    return CommunityRef(PLATFORM, str(chat.id), chat.title or "")


class TelegramHandlers:
    def __init__(self, service: Service, config: TelegramConfig, frontend: TelegramFrontEnd) -> None:
        self.service = service
        self.config = config
        self.frontend = frontend
        self.codec = CallbackCodec()
        self.cooldowns = Cooldowns(config.cooldown_s)

    # ---- helpers ---------------------------------------------------------------

    async def _send(self, chat: Chat, text: str, markup: InlineKeyboardMarkup | None = None,
                    reply_to: Message | None = None) -> Message:
        if reply_to is not None:
            return await with_retry(lambda: reply_to.reply_html(text, reply_markup=markup,
                                                                 disable_web_page_preview=True))
        return await with_retry(lambda: chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=markup,
                                                           disable_web_page_preview=True))

    async def _guard(self, chat: Chat, reply_to: Message | None, work: Callable[[], Awaitable[Any]],
                     who: User | None = None) -> None:
        """Run work(); a user error becomes its one-line message, anything else a generic apology.

        `who`: for button presses, which have no message to reply to, the person the answer is for."""
        prefix = f"{rendering.user_label(user_ref(who))}: " if who is not None else ""
        try:
            await work()
        except USER_ERRORS as err:
            await self._send(chat, f"⚠️ {prefix}{rendering.esc(str(err))}", reply_to=reply_to)
        except TelegramError:
            raise
        except Exception:
            log.exception("handler failed")
            await self._send(chat, prefix + GENERIC_FAILURE, reply_to=reply_to)

    def _cooldown_text(self, user: User) -> str | None:
        wait = self.cooldowns.wait_left(str(user.id))
        if wait <= 0:
            return None
        return f"Slow down: your next pull or order is possible in {wait:.0f} s."

    def _keys_button(self, start: str = "keys", label: str = "🔑 Get my key") -> InlineKeyboardButton:
        return InlineKeyboardButton(label, url=deep_link(self.frontend.bot.username, start))

    # ---- commands --------------------------------------------------------------

    async def start(self, update: Update, context: Context) -> None:
        chat, message, user = update.effective_chat, update.effective_message, update.effective_user
        arg = (context.args or [""])[0].lower()
        if arg == "keys":
            await self._guard(chat, message, lambda: self._keys(chat, message, user))
        elif arg == "topup" and chat.type == Chat.PRIVATE:
            await self._guard(chat, message, lambda: self._topup(chat, message, user, None))
        else:
            await self._guard(chat, message, lambda: self._send(
                chat, rendering.render_help(self.service.help()), reply_to=message))

    async def help(self, update: Update, context: Context) -> None:
        chat, message = update.effective_chat, update.effective_message
        await self._guard(chat, message, lambda: self._send(chat, rendering.render_help(self.service.help()),
                                                             reply_to=message))

    async def pull(self, update: Update, context: Context) -> None:
        chat, message, user = update.effective_chat, update.effective_message, update.effective_user

        async def work() -> None:
            args = parse_pull(context.args or [])
            wait = self._cooldown_text(user)
            if wait:
                await self._send(chat, wait, reply_to=message)
                return
            await self._pull(chat, user, args, reply_to=message)

        await self._guard(chat, message, work)

    async def _pull(self, chat: Chat, user: User, args: PatternArgs, reply_to: Message | None) -> None:
        answer = await self.service.pull(user_ref(user), community_ref(chat), args.pattern, args.format_id,
                                         args.count, exact_case=args.exact_case, fuzzy=args.fuzzy)
        in_group = chat.type != Chat.PRIVATE
        link = self.frontend.keys_link if in_group and not answer.delivered else None
        extra = [self._keys_button()] if link else None
        markup = self.codec.result_keyboard(answer.format_id, answer.pattern, args.exact_case, args.fuzzy, extra)
        await self._send(chat, rendering.render_pull(answer, deep_link=link), markup, reply_to=reply_to)

    async def order(self, update: Update, context: Context) -> None:
        chat, message, user = update.effective_chat, update.effective_message, update.effective_user

        async def work() -> None:
            args = parse_order(context.args or [])
            wait = self._cooldown_text(user)
            if wait:
                await self._send(chat, wait, reply_to=message)
                return
            await self._order(chat, user, args, reply_to=message)

        await self._guard(chat, message, work)

    async def _order(self, chat: Chat, user: User, args: PatternArgs, reply_to: Message | None) -> None:
        """Post the message that will show the order's progress first, so the service knows where it is."""
        placeholder = await self._send(
            chat, f"🧾 Placing {rendering.user_label(user_ref(user))}'s order for <code>{rendering.esc(args.pattern)}</code>…",
            reply_to=reply_to)
        origin = Origin(PLATFORM, str(chat.id), str(placeholder.message_id))
        try:
            answer = await self.service.order(user_ref(user), community_ref(chat), args.pattern, args.format_id,
                                              args.pubkey, exact_case=args.exact_case, fuzzy=args.fuzzy, origin=origin)
        except USER_ERRORS as err:
            await placeholder.edit_text(f"⚠️ {rendering.esc(str(err))}", parse_mode=ParseMode.HTML)
            return
        except Exception:
            log.exception("order not placed")
            await placeholder.edit_text(GENERIC_FAILURE)
            return
        if not self.frontend.is_finished(origin):
            await self.frontend.edit_text_unless_finished(origin, rendering.render_order_accepted(answer))

    async def odds(self, update: Update, context: Context) -> None:
        chat, message = update.effective_chat, update.effective_message

        async def work() -> None:
            args = parse_odds(context.args or [])
            answer = await self.service.odds(args.pattern, args.format_id, exact_case=args.exact_case, fuzzy=args.fuzzy)
            markup = self.codec.result_keyboard(answer.format_id, answer.pattern, args.exact_case, args.fuzzy)
            await self._send(chat, rendering.render_odds(answer), markup, reply_to=message)

        await self._guard(chat, message, work)

    async def balance(self, update: Update, context: Context) -> None:
        chat, message, user = update.effective_chat, update.effective_message, update.effective_user

        async def work() -> None:
            answer = await self.service.balance(user_ref(user))
            await self._send(chat, rendering.render_balance(answer), reply_to=message)

        await self._guard(chat, message, work)

    async def history(self, update: Update, context: Context) -> None:
        """Spending history is personal: in a group it goes to the private chat."""
        chat, message, user = update.effective_chat, update.effective_message, update.effective_user

        async def work() -> None:
            text = rendering.render_history(await self.service.history(user_ref(user)))
            if chat.type == Chat.PRIVATE:
                await self._send(chat, text, reply_to=message)
                return
            try:
                await with_retry(lambda: self.frontend.bot.send_message(user.id, text, parse_mode=ParseMode.HTML))
                await self._send(chat, "📜 Sent to you privately.", reply_to=message)
            except TelegramError:
                await self._send(chat, "📜 Your history is private: open a chat with the bot and send /history.",
                                 InlineKeyboardMarkup([[self._keys_button("history", "📜 Open the bot")]]), reply_to=message)

        await self._guard(chat, message, work)

    async def leaderboard(self, update: Update, context: Context) -> None:
        chat, message = update.effective_chat, update.effective_message

        async def work() -> None:
            answer = await self.service.leaderboard(community_ref(chat))
            await self._send(chat, rendering.render_leaderboard(answer), reply_to=message)

        await self._guard(chat, message, work)

    async def keys(self, update: Update, context: Context) -> None:
        chat, message, user = update.effective_chat, update.effective_message, update.effective_user
        await self._guard(chat, message, lambda: self._keys(chat, message, user))

    async def _keys(self, chat: Chat, message: Message | None, user: User) -> None:
        answer = await self.service.keys(user_ref(user))
        markup = None
        if answer.undelivered and chat.type != Chat.PRIVATE:
            markup = InlineKeyboardMarkup([[self._keys_button()]])
        await self._send(chat, rendering.render_keys(answer), markup, reply_to=message)

    async def topup(self, update: Update, context: Context) -> None:
        chat, message, user = update.effective_chat, update.effective_message, update.effective_user
        if chat.type != Chat.PRIVATE:
            await self._guard(chat, message, lambda: self._send(
                chat, "💳 Top-ups are private: open a chat with the bot.",
                InlineKeyboardMarkup([[self._keys_button("topup", "💳 Top up privately")]]), reply_to=message))
            return
        pack = (context.args or [None])[0]
        await self._guard(chat, message, lambda: self._topup(chat, message, user, pack))

    async def _topup(self, chat: Chat, message: Message | None, user: User, pack: str | None) -> None:
        answer = await self.service.topup(user_ref(user), pack)
        rows = []
        if answer.url:
            rows.append([InlineKeyboardButton("💳 Pay by card", url=answer.url)])
        for star_pack in self.config.stars_packs:
            rows.append([InlineKeyboardButton(f"⭐ {star_pack.stars} Stars: {star_pack.tokens} tokens",
                                              callback_data=f"s|{star_pack.pack_id}")])
        markup = InlineKeyboardMarkup(rows) if rows else None
        await self._send(chat, rendering.render_topup(answer, self.config.stars_packs), markup, reply_to=message)

    # ---- buttons ---------------------------------------------------------------

    async def button(self, update: Update, context: Context) -> None:
        """Every query is answered, at once, before any slow work (Telegram gives up after ~15 s)."""
        query = update.callback_query
        chat = update.effective_chat
        user = query.from_user
        if query.data and query.data.startswith("s|"):
            await self._stars_button(query, chat, user)
            return
        action = self.codec.decode(query.data or "")
        if action is None or chat is None:
            await query.answer("This button has expired; type the command again.", show_alert=True)
            return
        if action.action == "quote":
            await query.answer()
            await self._guard(chat, None, lambda: self._quote(chat, user, action), who=user)
            return
        wait = self._cooldown_text(user)
        if wait:
            await query.answer(wait, show_alert=True)
            return
        args = PatternArgs(action.pattern, action.format_id, 10 if action.action == "pull10" else 1, None,
                           action.exact_case, action.fuzzy)
        if action.action == "order":
            await query.answer("Placing your order…")
            await self._guard(chat, None, lambda: self._order(chat, user, args, reply_to=None), who=user)
        else:
            await query.answer("Pulling…")
            await self._guard(chat, None, lambda: self._pull(chat, user, args, reply_to=None), who=user)

    async def _quote(self, chat: Chat, user: User, action: ButtonAction) -> None:
        odds = await self.service.odds(action.pattern, action.format_id, exact_case=action.exact_case, fuzzy=action.fuzzy)
        markup = self.codec.confirm_keyboard(action) if odds.order_price is not None else None
        text = f"{rendering.user_label(user_ref(user))}: {rendering.render_order_quote(odds)}"
        await self._send(chat, text, markup)

    async def _stars_button(self, query: Any, chat: Chat | None, user: User) -> None:
        pack = self.config.stars_pack(query.data[2:])
        if pack is None:
            await query.answer("That pack is no longer on sale; send /topup again.", show_alert=True)
            return
        if chat is None or chat.type != Chat.PRIVATE:
            await query.answer("Stars invoices are sent in a private chat with the bot.", show_alert=True)
            return
        await query.answer()
        await stars.send_invoice(self.frontend.bot, chat.id, user.id, pack)

    # ---- payments ----------------------------------------------------------------

    async def pre_checkout(self, update: Update, context: Context) -> None:
        query = update.pre_checkout_query
        problem = stars.pre_checkout_problem(query, self.config)
        if problem is None:
            await query.answer(ok=True)
        else:
            await query.answer(ok=False, error_message=problem)

    async def successful_payment(self, update: Update, context: Context) -> None:
        message = update.effective_message
        payment = message.successful_payment
        payer = update.effective_user
        instruction = stars.credit_instruction(payment, payer.id)
        if instruction is None:
            log.error("a Stars payment with an unrecognised payload was not credited (charge %s)",
                      payment.telegram_payment_charge_id)
            await self._send(message.chat, "⚠️ We could not match this payment to a pack; it will be refunded. "
                             "Send /paysupport if it is not.")
            return
        # Exactly once by the charge id, however often this update arrives; the service tells the buyer.
        await self.service.apply_instruction(instruction)

    async def pay_support(self, update: Update, context: Context) -> None:
        await self._send(update.effective_chat, "⭐ For a refund of a Stars payment, write to the bot's operator "
                         "with the payment's date; refunds go back to your Stars balance.",
                         reply_to=update.effective_message)

    async def refund_stars(self, update: Update, context: Context) -> None:
        """Operators only: /refundstars <telegram_payment_charge_id>."""
        chat, message, user = update.effective_chat, update.effective_message, update.effective_user
        if user.id not in self.config.admin_ids:
            await self._send(chat, "Only the bot's operators can refund payments.", reply_to=message)
            return
        if not context.args:
            await self._send(chat, "Usage: /refundstars <telegram_payment_charge_id>", reply_to=message)
            return

        async def work() -> None:
            text = await refund_star_payment(self.service, self.frontend, context.args[0])
            await self._send(chat, rendering.esc(text), reply_to=message)

        await self._guard(chat, message, work)


async def refund_star_payment(service: Service, frontend: TelegramFrontEnd, charge_id: str) -> str:
    """Take the tokens back (exactly once, by its own key; debt if spent), then return the Stars.

    Safe to repeat: the debit is idempotent and Telegram refuses a second refund,
    which counts as done; so a refund interrupted between the two steps completes on retry.
    """
    charge = await stars.find_charge(frontend.bot, charge_id)
    if charge is None:
        return f"No Stars payment {charge_id} was found among the bot's transactions."
    await service.apply_instruction(stars.refund_instruction(charge))  # tells the user when first applied
    try:
        await stars.refund_on_telegram(frontend.bot, charge)
    except TelegramError as err:
        return (f"The tokens were taken back but Telegram refused the refund ({err.message}); "
                f"send /refundstars {charge_id} again to retry.")
    return f"Refunded {charge.payload.stars} Stars to user {charge.user_id}; {charge.payload.tokens} tokens taken back."
