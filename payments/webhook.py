"""The Stripe webhook server (aiohttp): POST /stripe/webhook, GET /healthz, and the checkout landing pages.

Every event is verified by its Stripe-Signature over the raw body (tolerance
300 s, either side of now) before anything is read from it; forged, stale,
future-dated, tampered or unparseable requests get 400 and change nothing. A
verified checkout is credited only when it names a pack on sale and paid its
price in its currency; one that cannot be honoured is answered 200 (Stripe
would otherwise retry it for days) and recorded for the operator. Verified events become ledger
instructions handed to the bot's `apply`; the bot applies each exactly once per
idempotency key, so Stripe's retries and duplicate events are harmless. When
something on our side fails (Stripe's API, the ledger), the answer is 5xx so
Stripe delivers the event again later.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import stripe
from aiohttp import web

from gpu_worker.i18n import _, use_locale
from payments.config import CANCEL_PATH, SUCCESS_PATH, WEBHOOK_PATH, WEBHOOK_TOLERANCE_S, StripeSettings
from payments.errors import PaymentsError
from payments.events import ApplyInstruction, PaymentIssue, ReportIssue
from payments.fulfilment import Fulfilment, Unhonourable
from payments.stripe_api import StripeApi

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 512 * 1024  # Stripe events are a few kB; refuse anything absurd before reading it all
ObserveEvent = Callable[[str, str], None]  # (event type, outcome): the bot counts them (bot/metrics.py)
EVENT_TYPE = web.RequestKey("event_type", str)


@dataclass
class RunningWebhook:
    """A started webhook server: where it listens and the Stripe API it uses; close() stops both."""

    runner: web.AppRunner
    port: int
    url: str  # http://host:port/stripe/webhook as bound
    api: StripeApi

    async def close(self) -> None:
        """Stop serving and close the Stripe API client."""
        await self.runner.cleanup()
        await self.api.close()


def signed_at(header: str | None) -> int | None:
    """The `t=` timestamp of a Stripe-Signature header (None when absent or not a number)."""
    for item in (header or "").split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isdigit():
            return int(value)
    return None


async def _log_issue(issue: PaymentIssue) -> None:
    return None


def build_app(
    settings: StripeSettings,
    apply: ApplyInstruction,
    fulfilment: Fulfilment,
    report: ReportIssue | None = None,
    *,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    observe: ObserveEvent | None = None,
    subapps: Iterable[tuple[str, web.Application]] = (),
) -> web.Application:
    """The aiohttp app serving Stripe's webhook (and `extra_routes`, `subapps`): verify each event's signature, then
    apply its instructions.

    A bad signature or body answers 400; a failed Stripe lookup (503) or a failure to apply or record (500) makes
    Stripe retry; an instruction that cannot be credited is recorded with `report` and answered 200.
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    record = report or _log_issue

    async def webhook(request: web.Request) -> web.Response:
        payload = await request.read()
        stamp = signed_at(request.headers.get("Stripe-Signature"))
        if stamp is not None and stamp > time.time() + WEBHOOK_TOLERANCE_S:
            log.warning("refused a webhook request signed %d s in the future", stamp - int(time.time()))
            return _answer(400, "timestamp in the future")
        try:
            event = stripe.Webhook.construct_event(
                payload, request.headers.get("Stripe-Signature"), settings.webhook_secret, tolerance=WEBHOOK_TOLERANCE_S
            )
        except stripe.SignatureVerificationError:
            log.warning("refused a webhook request with a bad Stripe-Signature")
            return _answer(400, "bad signature")
        except Exception:  # signed, but not a JSON event (or not UTF-8)
            log.warning("refused a webhook request whose body is not a JSON event")
            return _answer(400, "bad JSON")
        body = event.to_dict(recursive=True)
        event_type, obj = body.get("type"), (body.get("data") or {}).get("object")
        if not isinstance(event_type, str) or not isinstance(obj, dict):
            return _answer(400, "not a Stripe event")
        request[EVENT_TYPE] = event_type
        try:
            instructions = await fulfilment.instructions(event_type, obj)
        except PaymentsError:
            return _answer(503, "Stripe lookup failed; retry")
        except Unhonourable as exc:
            purchase = exc.purchase
            issue = PaymentIssue(
                event_id=str(body.get("id")),
                event_type=event_type,
                stripe_id=str(obj.get("id")),
                reason=exc.reason,
                platform=purchase.platform if purchase else None,
                user_id=purchase.user_id if purchase else None,
                amount_cents=exc.amount_cents,
                currency=exc.currency,
            )
            log.warning(
                "event %s (%s) not credited, recorded for the operator: %s", issue.event_id, event_type, exc.reason
            )
            try:
                await record(issue)
            except Exception as err:
                _failed(err, f"recording event {issue.event_id} for the operator failed; Stripe will retry")
                return _answer(500, "could not record; retry")
            return _answer(200, f"not credited, recorded for the operator: {exc.reason}")
        except (KeyError, TypeError, ValueError) as exc:
            log.warning(
                "event %s (%s) is missing fields we need (%s); ignored", body.get("id"), event_type, describe(exc)
            )
            log.debug("event %s: the malformed object", body.get("id"), exc_info=exc)
            return _answer(200, "ignored: malformed object")
        applied = 0
        for instruction in instructions:
            try:
                outcome = await apply(instruction)
            except Exception as exc:
                _failed(
                    exc, f"applying {instruction.idempotency_key} for event {body.get('id')} failed; Stripe will retry"
                )
                return _answer(500, "could not apply; retry")
            applied += bool(outcome.applied)
            log.info(
                "event %s %s: %s %s",
                body.get("id"),
                event_type,
                instruction.idempotency_key,
                f"applied, {outcome.tokens_moved:+d} tokens" if outcome.applied else "not applied (seen before)",
            )
        return web.json_response({"received": True, "instructions": len(instructions), "applied": applied})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def success(request: web.Request) -> web.Response:
        with use_locale(request.query.get("lang")):  # the buyer's language at /topup (in_language)
            return web.Response(
                text=_("Payment received. Your tokens arrive in the chat in a moment; you can close this page.")
            )

    async def cancel(request: web.Request) -> web.Response:
        with use_locale(request.query.get("lang")):
            return web.Response(text=_("Payment cancelled: nothing was charged. Use /topup in the chat to try again."))

    app.router.add_post(WEBHOOK_PATH, _observed(webhook, observe))
    app.router.add_get("/healthz", healthz)
    app.router.add_get(SUCCESS_PATH, success)
    app.router.add_get(CANCEL_PATH, cancel)
    app.router.add_routes(list(extra_routes))
    for prefix, subapp in subapps:  # the bot's public pages (bot/web) under their own prefix
        app.add_subapp(prefix, subapp)
    return app


def describe(exc: BaseException) -> str:
    """An exception as one line: its type and its message with whitespace collapsed."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failed(exc: Exception, what: str) -> None:
    """A failure Stripe's retry will repair. The bot's storage faults (code "storage_unavailable") are logged by
    its store once per episode (bot/logs.py), so here at DEBUG; anything else is a bug, with its traceback."""
    if getattr(exc, "code", None) == "storage_unavailable":
        log.debug("%s: %s", what, describe(exc), exc_info=exc)
    else:
        log.exception(what)


def _observed(
    handler: Callable[[web.Request], Awaitable[web.Response]], observe: ObserveEvent | None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Tell `observe` each request's event type (or "unverified") and what came of it."""
    if observe is None:
        return handler

    async def observed(request: web.Request) -> web.Response:
        response = await handler(request)
        observe(request.get(EVENT_TYPE, "unverified"), _outcome(response))
        return response

    return observed


def _outcome(response: web.Response) -> str:
    if response.status >= 500:
        return "retry" if response.status == 503 else "failed"
    if response.status >= 400:
        return "refused"
    body = json.loads(response.body) if isinstance(response.body, bytes) else {}
    if str(body.get("note", "")).startswith("not credited"):
        return "not_credited"
    if body.get("applied"):
        return "applied"
    return "replayed" if body.get("instructions") else "ignored"


def _answer(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": message} if status >= 300 else {"received": True, "note": message}, status=status
    )


async def start_webhook_server(
    settings: StripeSettings,
    apply: ApplyInstruction,
    *,
    api: StripeApi | None = None,
    report: ReportIssue | None = None,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    observe: ObserveEvent | None = None,
    subapps: Iterable[tuple[str, web.Application]] = (),
) -> RunningWebhook:
    """Serve the webhook on settings.webhook_host:webhook_port (0: any free port); close() stops it.

    report: records events that cannot be honoured for the operator (None: logged only);
    extra_routes: more routes on the same server (the bot's /metrics, only when the operator opts in); observe: told
    every webhook event; subapps: (prefix, application) pairs mounted on the same server (the bot's web pages)."""
    api = api or StripeApi(settings)
    runner = web.AppRunner(
        build_app(
            settings,
            apply,
            Fulfilment(api, settings.packs),
            report,
            extra_routes=extra_routes,
            observe=observe,
            subapps=subapps,
        ),
        access_log=None,
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        await api.close()
        raise PaymentsError(
            "bad_config",
            f"cannot listen on {settings.webhook_host}:{settings.webhook_port} ({err.strerror}): "
            "set VANIKEYS_WEBHOOK_PORT to a free port",
        ) from err
    host, port = _bound(runner)
    log.info("Stripe webhook listening on %s:%d%s", host, port, WEBHOOK_PATH)
    return RunningWebhook(runner=runner, port=port, url=f"http://{host}:{port}{WEBHOOK_PATH}", api=api)


@asynccontextmanager
async def webhook_server(
    settings: StripeSettings,
    apply: ApplyInstruction,
    *,
    api: StripeApi | None = None,
    report: ReportIssue | None = None,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    observe: ObserveEvent | None = None,
    subapps: Iterable[tuple[str, web.Application]] = (),
) -> AsyncIterator[RunningWebhook]:
    """Serve the webhook for the duration of the `async with`; closed on exit."""
    running = await start_webhook_server(
        settings, apply, api=api, report=report, extra_routes=extra_routes, observe=observe, subapps=subapps
    )
    try:
        yield running
    finally:
        await running.close()


def _bound(runner: web.AppRunner) -> tuple[str, int]:
    address: Any = runner.addresses[0]
    return str(address[0]), int(address[1])
