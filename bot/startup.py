"""Start-up checks: every dependency the bot needs is reached before it serves anyone.

A dependency that cannot be reached (network down, DNS, a 5xx) is retried with backoff for
VANIKEYS_START_RETRY_S (default 60 s); one that refuses the credentials (401/403) is not retried.
Either ends in StartupFault: one line naming what failed and what to do, exit status 2 from
`vanikeys bot` (it is a ConfigError, which the command line reports so), never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from bot.config import ConfigError

if TYPE_CHECKING:
    from payments.config import StripeSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0


class StartupFault(ConfigError):
    """A dependency unreachable or refusing at start. The message is one line with the fix."""


class Refused(Exception):
    """The dependency answered and refused (a bad token or key): retrying cannot help."""


class Unreachable(Exception):
    """No usable answer (connection refused, DNS, timeout, 5xx): worth retrying."""


async def reach(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    refused_fix: str,
    unreachable_fix: str,
    deadline_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`attempt()` until it answers, retrying Unreachable with backoff for `deadline_s` seconds."""
    started = clock()
    delay = FIRST_DELAY_S
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except Refused as exc:
            raise StartupFault(_one_line(f"{what} refused the credentials ({exc}): {refused_fix}")) from None
        except Unreachable as exc:
            waited = clock() - started
            if waited + delay > deadline_s:
                raise StartupFault(
                    _one_line(f"{what} unreachable ({exc}; {tries} tries in {waited:.0f} s): {unreachable_fix}")
                ) from None
            log.warning("%s unreachable (%s): trying again in %.1f s", what, exc, delay)
            await sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ---- the dependencies ------------------------------------------------------------------------------

TELEGRAM = "the Telegram Bot API"


async def telegram_bot_name(token: str, base_url: str, base_file_url: str) -> str:
    """getMe with the token: the bot's @username."""
    import telegram
    import telegram.error

    try:
        async with telegram.Bot(token, base_url=base_url, base_file_url=base_file_url) as bot:
            return bot.username
    except telegram.error.InvalidToken:  # its message quotes the token: say only what happened
        raise Refused("InvalidToken: the Bot API answered 401 Unauthorized or 404") from None
    except telegram.error.NetworkError as exc:  # TimedOut and 5xx answers are NetworkErrors too
        raise Unreachable(_describe(exc).replace(token, "<TELEGRAM_TOKEN>")) from None


async def check_telegram(token: str, base_url: str, base_file_url: str, deadline_s: float) -> str:
    """The bot's @username once Telegram accepts the token; StartupFault with the fix when refused or unreachable past
    the deadline.
    """
    return await reach(
        TELEGRAM,
        lambda: telegram_bot_name(token, base_url, base_file_url),
        deadline_s=deadline_s,
        refused_fix="copy the token again from @BotFather (/mybots, API Token) into TELEGRAM_TOKEN",
        unreachable_fix=f"check this host's internet access and DNS for {base_url.split('/bot')[0]} "
        "(TELEGRAM_API_BASE_URL), then start again",
    )


DISCORD = "Discord's API"


async def discord_login(client: object, token: str) -> None:
    """discord.py's login (GET /users/@me with the token)."""
    import aiohttp
    import discord

    try:
        await client.login(token)  # type: ignore[attr-defined]
    except discord.LoginFailure as exc:
        raise Refused(_describe(exc)) from None
    except discord.DiscordServerError as exc:
        raise Unreachable(_describe(exc)) from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise Unreachable(_describe(exc)) from None


async def check_discord(client: object, token: str, deadline_s: float) -> None:
    """Log in to Discord with the token; StartupFault with the fix when refused or unreachable past the deadline."""
    await reach(
        DISCORD,
        lambda: discord_login(client, token),
        deadline_s=deadline_s,
        refused_fix="reset the token on the Discord developer portal (your application, Bot, Reset Token) "
        "and put it in DISCORD_TOKEN",
        unreachable_fix="check this host's internet access and DNS for discord.com, then start again",
    )


class _WithoutTraceback(logging.Filter):
    """discord.py logs each failed shard connection with its traceback, every 5 s: one line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg, record.args = f"{record.getMessage()} ({_describe(record.exc_info[1])})", ()
            record.exc_info, record.exc_text = None, None
        return True


async def run_discord(client: object, token: str, deadline_s: float, ready_margin_s: float = 5.0) -> None:
    """Log in (retried, bounded), connect, and serve until closed. The gateway must make the bot ready within
    `deadline_s + ready_margin_s`: discord.py itself retries a failing shard connection forever."""
    import aiohttp
    import discord

    shard_log = logging.getLogger("discord.shard")
    if not any(isinstance(f, _WithoutTraceback) for f in shard_log.filters):
        shard_log.addFilter(_WithoutTraceback())
    await check_discord(client, token, deadline_s)
    connecting = asyncio.ensure_future(client.connect())  # type: ignore[attr-defined]
    ready = asyncio.ensure_future(client.wait_until_ready())  # type: ignore[attr-defined]
    try:
        done, _ = await asyncio.wait(
            {connecting, ready}, timeout=deadline_s + ready_margin_s, return_when=asyncio.FIRST_COMPLETED
        )
        if not done:
            raise StartupFault(
                _one_line(
                    f"Discord's gateway did not make the bot ready within {deadline_s + ready_margin_s:.0f} s: check "
                    "this host's access to gateway.discord.gg (outbound WebSocket on port 443), then start again"
                )
            )
        await connecting  # serves until the bot is closed; raises what ended it
    except discord.LoginFailure:
        raise StartupFault(
            "Discord refused the token while connecting: reset it on the Discord developer portal "
            "(your application, Bot, Reset Token) and put it in DISCORD_TOKEN"
        ) from None
    except discord.PrivilegedIntentsRequired as exc:
        raise StartupFault(
            f"Discord refused an intent ({exc}): the bot needs no privileged intent; check VANIKEYS_DISCORD_* settings"
        ) from None
    except (
        discord.GatewayNotFound,
        discord.ConnectionClosed,
        discord.HTTPException,
        aiohttp.ClientError,
        OSError,
    ) as exc:
        raise StartupFault(
            _one_line(
                f"Discord's gateway connection ended ({_describe(exc)}): check this host's "
                "access to discord.com and gateway.discord.gg, then start again"
            )
        ) from None
    finally:
        for task in (connecting, ready):
            task.cancel()
        await asyncio.gather(connecting, ready, return_exceptions=True)


STRIPE = "Stripe's API"
STRIPE_PROBE_CHARGE = "ch_vanikeys_start_check"  # no such charge: a 404 proves the key is accepted


async def stripe_key_accepted(api_key: str, api_base: str | None) -> None:
    """One authenticated request: Stripe answers 404 for a charge that does not exist when the key is good."""
    import stripe

    http = stripe.AIOHTTPClient(timeout=10)
    client = stripe.StripeClient(
        api_key, base_addresses={"api": api_base} if api_base else None, http_client=http, max_network_retries=0
    )
    try:
        await client.v1.charges.retrieve_async(STRIPE_PROBE_CHARGE)
    except stripe.InvalidRequestError:
        return  # 404: the key reached the account
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        raise Refused(f"{type(exc).__name__}: HTTP {exc.http_status}") from None
    except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as exc:
        answer = f"HTTP {exc.http_status}" if exc.http_status else "no connection"
        raise Unreachable(f"{type(exc).__name__}: {answer}") from None
    finally:
        await http.close_async()


async def check_stripe(api_key: str, api_base: str | None, deadline_s: float) -> None:
    """Check Stripe accepts the API key; StartupFault with the fix when refused or unreachable past the deadline."""
    await reach(
        STRIPE,
        lambda: stripe_key_accepted(api_key, api_base),
        deadline_s=deadline_s,
        refused_fix="copy the secret key (sk_test_... or sk_live_..., or a restricted key with read access "
        "to Charges and write access to Checkout Sessions) from the Stripe dashboard, "
        "Developers, API keys, into STRIPE_API_KEY",
        unreachable_fix="check this host's internet access and DNS for api.stripe.com (STRIPE_API_BASE), "
        "then start again",
    )


async def runpod_health(api_key: str, endpoint_id: str, base_url: str | None) -> None:
    """One /health call to the endpoint; Refused for a key or endpoint RunPod refuses, Unreachable otherwise."""
    from bot.grinding.runpod_api import DEFAULT_BASE_URL, RetryPolicy, RunpodApi, RunpodApiError

    api = RunpodApi(
        api_key,
        endpoint_id,
        retry=RetryPolicy(attempts=1),
        request_timeout_s=10.0,
        base_url=base_url or DEFAULT_BASE_URL,
    )
    try:
        await api.health()
    except RunpodApiError as exc:
        if exc.http_status in (401, 403):
            raise Refused(f"HTTP {exc.http_status}") from None
        if exc.http_status == 404:
            raise Refused(f"HTTP 404: no endpoint {endpoint_id}") from None
        raise Unreachable(str(exc)) from None
    finally:
        await api.close()


async def check_runpod(
    what: str,
    api_key: str,
    endpoint_id: str,
    base_url: str | None,
    deadline_s: float,
    *,
    refused_fix: str,
    unreachable_fix: str,
) -> None:
    """Check the RunPod endpoint answers with the key; StartupFault with the given fix when it does not
    by the deadline.
    """
    await reach(
        what,
        lambda: runpod_health(api_key, endpoint_id, base_url),
        deadline_s=deadline_s,
        refused_fix=refused_fix,
        unreachable_fix=unreachable_fix,
    )


async def check_grinders(settings: object, deadline_s: float) -> None:
    """The remote GPU providers the environment configures (bot/grinder.py reads the same variables)."""
    from bot.config import Settings
    from bot.settings import load_settings

    assert isinstance(settings, Settings)
    if settings.effective_backend != "runpod":
        return
    one = load_settings()
    selfhosted = (one.selfhosted_url or "").strip()
    if selfhosted:
        await check_runpod(
            f"the self-hosted grinder at {selfhosted}",
            one.selfhosted_token or "",
            "selfhosted",
            selfhosted.rstrip("/") + "/v2",
            deadline_s,
            refused_fix="set VANIKEYS_SELFHOSTED_TOKEN to the token the box was started with",
            unreachable_fix="start `python -m gpu_worker.selfhosted` on the box (or the container), and check "
            "VANIKEYS_SELFHOSTED_URL and the firewall between the two",
        )
    if settings.runpod_configured:
        base = one.runpod_base_url or None
        for endpoint in filter(None, (settings.runpod_endpoint_id, one.runpod_orders_endpoint_id)):
            await check_runpod(
                f"RunPod endpoint {endpoint}",
                settings.runpod_api_key or "",
                endpoint,
                base,
                deadline_s,
                refused_fix="create an API key with access to Serverless in the RunPod console (Settings, API Keys) "
                "for RUNPOD_API_KEY, and copy the endpoint's id (Serverless, your endpoint) into "
                "RUNPOD_ENDPOINT_ID / RUNPOD_ORDERS_ENDPOINT_ID",
                unreachable_fix="check this host's internet access and DNS for api.runpod.ai (RUNPOD_BASE_URL), "
                "then start again",
            )


async def check_services(settings: object, stripe_settings: StripeSettings | None) -> None:
    """Stripe and the remote grinders, before the bot opens its doors (the chat front ends check their own)."""
    from bot.config import Settings

    assert isinstance(settings, Settings)
    if stripe_settings is not None:
        await check_stripe(
            stripe_settings.api_key,
            stripe_settings.api_base,
            settings.start_retry_s,
        )
    await check_grinders(settings, settings.start_retry_s)
