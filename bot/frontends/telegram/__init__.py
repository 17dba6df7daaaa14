"""The Telegram front end: `await run(app, settings)` runs the bot; `running(...)` for tests and embedding.

Configuration (environment, a .env file honoured), beyond TELEGRAM_TOKEN:
  TELEGRAM_WEBHOOK_URL     https URL Telegram should POST updates to; unset: long polling
  TELEGRAM_WEBHOOK_LISTEN  address the webhook server binds (default 127.0.0.1, behind a proxy)
  TELEGRAM_WEBHOOK_PORT    its port (default 8443); the path is the URL's path
  TELEGRAM_WEBHOOK_SECRET  the X-Telegram-Bot-Api-Secret-Token to require (default: random per start)
  TELEGRAM_COOLDOWN_S      seconds between one person's pulls/orders (default 3)
  TELEGRAM_ODDS_COOLDOWN_S seconds between one person's /odds (default 2)
  TELEGRAM_STALE_AFTER_S   commands older than this are refused with a note (default 300)
  TELEGRAM_STRIPE_TOPUP    on: also offer the Stripe card link in /topup (default off: Stars only,
                           Telegram's rule for digital goods)
  TELEGRAM_GROUP_MESSAGES_PER_MINUTE  per-group send budget of the outbox (default 20)
  TELEGRAM_STARS_PACKS     Stars top-ups, pack=tokens:stars,... (default small=100:50,medium=500:225,
                           large=1200:500; "off" disables them)
  TELEGRAM_ADMIN_IDS       Telegram user ids allowed to run /refundstars <charge id>
  TELEGRAM_API_BASE_URL    Bot API base (default https://api.telegram.org/bot; a local Bot API server)
"""

from bot.frontends.telegram.application import build_application, run, running
from bot.frontends.telegram.config import TelegramConfig
from bot.frontends.telegram.frontend import TelegramFrontEnd

__all__ = ["TelegramConfig", "TelegramFrontEnd", "build_application", "run", "running"]
