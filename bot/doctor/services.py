"""Checks on the paid services: Stripe (the key, the webhook secret, the public webhook over HTTPS, the events
enabled) and the GPU providers (RunPod's endpoint health, the self-hosted box, the Modal app)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.doctor.model import Context, Finding, fail, ok, skip, warn
from payments.config import WEBHOOK_PATH
from payments.fulfilment import HANDLED_EVENTS

# The events README asks for; charge.refund.updated is handled when Stripe sends it, but refund.updated covers it.
REQUIRED_EVENTS = tuple(event for event in HANDLED_EVENTS if event != "charge.refund.updated")
DASHBOARD = "https://dashboard.stripe.com"
MODAL_FUNCTION = "grind"  # the function deploy/modal_app.py deploys and bot/grinding/modal_backend.py calls


async def stripe(ctx: Context) -> list[Finding]:
    """Check the Stripe key and webhook secret, the webhook endpoint and the public URL; skipped unconfigured."""
    settings = ctx.settings
    if not settings.stripe_api_key and not settings.stripe_webhook_secret:
        return [skip("stripe", "not configured (set STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET to sell tokens)")]
    found: list[Finding] = []
    secret = settings.stripe_webhook_secret or ""
    if re.fullmatch(r"whsec_[A-Za-z0-9+/=_-]{24,}", secret):
        found.append(ok("stripe webhook secret", "whsec_… of the expected shape"))
    else:
        found.append(
            fail(
                "stripe webhook secret",
                "STRIPE_WEBHOOK_SECRET is not a whsec_… signing secret",
                f"{DASHBOARD}/webhooks → your endpoint → Signing secret → Reveal, and set it",
            )
        )
    key = settings.stripe_api_key or ""
    api = (settings.stripe_api_base or ctx.stripe_api).rstrip("/")
    headers = {"Authorization": f"Bearer {key}"}
    status, account = await ctx.call("Stripe", "GET", f"{api}/v1/account", headers=headers)
    if status == 401 or not key:
        return found + [
            fail(
                "stripe key",
                "Stripe rejects STRIPE_API_KEY (401)",
                f"{DASHBOARD}/apikeys → Secret key (sk_test_… in test mode), and set it",
            )
        ]
    if status != 200 or not isinstance(account, dict):
        return found + [
            fail(
                "stripe key",
                f"Stripe answered /v1/account with HTTP {status}",
                "a restricted key needs read access to the account and webhook endpoints",
            )
        ]
    mode = "test mode" if "_test_" in key else "live mode"
    found.append(
        ok("stripe key", f"account {account.get('id')} ({mode})")
        if account.get("charges_enabled", True)
        else warn(
            "stripe key",
            f"account {account.get('id')} ({mode}) cannot take charges yet",
            f"{DASHBOARD}/account/onboarding: finish the account's activation",
        )
    )
    found.append(await _public_webhook(ctx))
    found.append(await _events(ctx, api, headers))
    return found


async def _public_webhook(ctx: Context) -> Finding:
    public = ctx.settings.public_base_url.rstrip("/")
    url = public + WEBHOOK_PATH
    if urlsplit(public).scheme != "https":
        return fail(
            "stripe public webhook",
            f"VANIKEYS_PUBLIC_URL is {public}, not https://",
            "serve the bot behind an HTTPS reverse proxy and set VANIKEYS_PUBLIC_URL to its https:// address",
        )
    try:
        # An unsigned event: our webhook refuses it with 400 and changes nothing.
        status, _body = await ctx.call(
            "public URL", "POST", url, data=b"{}", headers={"Content-Type": "application/json"}
        )
    except aiohttp.ClientError as exc:
        return fail(
            "stripe public webhook",
            f"{url} does not answer ({type(exc).__name__})",
            "check the reverse proxy, its certificate and DNS, and that it forwards to "
            "VANIKEYS_WEBHOOK_HOST:VANIKEYS_WEBHOOK_PORT",
        )
    if status == 400:
        return ok("stripe public webhook", f"{url} answers over HTTPS (400 to an unsigned event, as it should)")
    return fail(
        "stripe public webhook",
        f"{url} answered an unsigned event with HTTP {status}, not 400",
        f"make the proxy forward {WEBHOOK_PATH} to the bot's webhook",
    )


async def _events(ctx: Context, api: str, headers: dict[str, str]) -> Finding:
    wanted = ctx.settings.public_base_url.rstrip("/") + WEBHOOK_PATH
    status, body = await ctx.call("Stripe", "GET", f"{api}/v1/webhook_endpoints?limit=100", headers=headers)
    if status != 200 or not isinstance(body, dict):
        return warn(
            "stripe events",
            f"cannot list webhook endpoints (HTTP {status})",
            "give the key read access to webhook endpoints, or check the events by hand: " + ", ".join(REQUIRED_EVENTS),
        )
    endpoints = [e for e in body.get("data") or [] if isinstance(e, dict) and e.get("url") == wanted]
    fix = f"{DASHBOARD}/webhooks: an endpoint at {wanted} with the events " + ", ".join(REQUIRED_EVENTS)
    if not endpoints:
        return fail("stripe events", f"no webhook endpoint at {wanted}", fix)
    endpoint = endpoints[0]
    if endpoint.get("status") not in (None, "enabled"):
        return fail("stripe events", f"the endpoint at {wanted} is {endpoint.get('status')}", fix)
    enabled = set(endpoint.get("enabled_events") or ())
    missing = [] if "*" in enabled else [e for e in REQUIRED_EVENTS if e not in enabled]
    if missing:
        return fail("stripe events", f"the endpoint at {wanted} lacks {', '.join(missing)}", fix)
    return ok("stripe events", f"{endpoint.get('id')} at {wanted} sends all {len(REQUIRED_EVENTS)} events needed")


# --- GPU providers -----------------------------------------------------------------------------------------


async def _health(ctx: Context, service: str, url: str, token: str) -> tuple[int, dict[str, Any] | None]:
    status, body = await ctx.call(service, "GET", url, headers={"Authorization": f"Bearer {token}"})
    return status, body if isinstance(body, dict) else None


async def _version(ctx: Context, check: str, service: str, endpoint_url: str, token: str) -> Finding:
    """Ask a worker which engine it runs (a probe answered without grinding) and compare it with ours."""
    from gpu_worker.version import PROBE, worker_version

    ours = worker_version()
    status, body = await ctx.call(
        service,
        "POST",
        f"{endpoint_url}/runsync?wait=20000",
        json={"input": PROBE, "policy": {"executionTimeout": 10_000, "ttl": 60_000}},
        headers={"Authorization": f"Bearer {token}"},
    )
    output = body.get("output") if isinstance(body, dict) else None
    theirs = output.get("worker_version") if isinstance(output, dict) else None
    redeploy = "rebuild the worker image from this checkout and redeploy it (docs/runpod.md, docs/providers.md)"
    if status == 200 and isinstance(body, dict) and body.get("status") == "FAILED":
        return warn(check, f"the worker predates version probes (ours is {ours})", redeploy)
    if not isinstance(theirs, str):
        state = body.get("status") if isinstance(body, dict) else f"HTTP {status}"
        return warn(
            check, f"the version probe did not come back ({state})", "run `vanikeys doctor` again once a worker is up"
        )
    if theirs != ours:
        return warn(check, f"the worker runs engine {theirs}, this bot {ours}", redeploy)
    return ok(check, f"the worker runs this bot's engine ({ours})")


def _workers(body: dict[str, Any]) -> tuple[int, int, int, int]:
    workers, jobs = body.get("workers") or {}, body.get("jobs") or {}
    ready = int(workers.get("ready", workers.get("idle", 0)) or 0)
    return (
        ready,
        int(workers.get("idle", 0) or 0),
        int(workers.get("running", 0) or 0),
        int(jobs.get("inQueue", 0) or 0),
    )


async def runpod(ctx: Context) -> list[Finding]:
    """Check the RunPod key and endpoint(s) answer and have workers; skipped unconfigured, failed if half-set."""
    settings = ctx.settings
    if not settings.runpod_api_key and not settings.runpod_endpoint_id:
        return [skip("runpod", "not configured (set RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID to grind there)")]
    if not settings.runpod_api_key or not settings.runpod_endpoint_id:
        return [fail("runpod", "only one of RUNPOD_API_KEY and RUNPOD_ENDPOINT_ID is set", "set both, or neither")]
    from bot.grinding.runpod_api import DEFAULT_BASE_URL

    base = (settings.runpod_base_url or DEFAULT_BASE_URL).rstrip("/")
    found = []
    endpoints = [("runpod endpoint", settings.runpod_endpoint_id)]
    if settings.runpod_orders_endpoint_id:
        endpoints.append(("runpod orders endpoint", settings.runpod_orders_endpoint_id))
    for check, endpoint in endpoints:
        status, body = await _health(ctx, "RunPod", f"{base}/{endpoint}/health", settings.runpod_api_key)
        if status == 401:
            found.append(
                fail(
                    check,
                    "RunPod rejects RUNPOD_API_KEY (401)",
                    "RunPod console → Settings → API Keys: a key with access to Serverless, and set it",
                )
            )
        elif status == 404:
            found.append(
                fail(
                    check,
                    f"RunPod has no endpoint {endpoint}",
                    "RunPod console → Serverless → your endpoint: copy its id",
                )
            )
        elif status != 200 or body is None:
            found.append(fail(check, f"RunPod answered /health with HTTP {status}", "try again later"))
        else:
            ready, idle, running, queued = _workers(body)
            unhealthy = int((body.get("workers") or {}).get("unhealthy", 0) or 0)
            detail = f"{endpoint}: {ready} worker(s) ready, {idle} idle, {running} running, {queued} job(s) queued"
            if unhealthy:
                found.append(
                    fail(
                        check,
                        f"{detail}, {unhealthy} unhealthy",
                        "RunPod console → the endpoint → "
                        "Workers: read the unhealthy worker's logs (its fitness check failed)",
                    )
                )
            elif ready + idle + running == 0:
                found.append(
                    warn(
                        check,
                        f"{detail}: none up, the next pull waits for a cold start",
                        "set Active Workers to 1 or more on the endpoint to keep one warm",
                    )
                )
            else:
                found.append(ok(check, detail))
            if ready + idle > 0:  # never wake a cold endpoint (and pay for it) just to ask
                found.append(
                    await _version(ctx, f"{check} version", "RunPod", f"{base}/{endpoint}", settings.runpod_api_key)
                )
    return found


async def selfhosted(ctx: Context) -> list[Finding]:
    """Check the self-hosted box answers its health check with the token, and its version; skipped unconfigured."""
    settings = ctx.settings
    if not settings.selfhosted_url:
        return [skip("self-hosted box", "not configured (set VANIKEYS_SELFHOSTED_URL to use one)")]
    url = settings.selfhosted_url.rstrip("/") + "/v2/selfhosted/health"
    status, body = await _health(ctx, "self-hosted box", url, settings.selfhosted_token or "")
    if status == 401:
        return [
            fail(
                "self-hosted box",
                f"{settings.selfhosted_url} refuses VANIKEYS_SELFHOSTED_TOKEN (401)",
                "set the same VANIKEYS_SELFHOSTED_TOKEN here and on the box",
            )
        ]
    if status != 200 or body is None:
        return [
            fail(
                "self-hosted box",
                f"{url} answered HTTP {status}",
                "start `python -m gpu_worker.selfhosted` on the box, or fix the URL",
            )
        ]
    _ready, idle, running, queued = _workers(body)
    return [
        ok(
            "self-hosted box",
            f"{settings.selfhosted_url}: {idle} slot(s) idle, {running} running, {queued} job(s) queued",
        ),
        await _version(
            ctx,
            "self-hosted box version",
            "self-hosted box",
            settings.selfhosted_url.rstrip("/") + "/v2/selfhosted",
            settings.selfhosted_token or "",
        ),
    ]


ModalLookup = Callable[[str, str], Awaitable[Any]]


async def _modal_lookup(app: str, function: str) -> Any:
    import modal

    found = modal.Function.from_name(app, function)
    await found.hydrate.aio()
    return found


async def modal(ctx: Context, lookup: ModalLookup | None = None) -> list[Finding]:
    """Check the Modal app is deployed with the grind function and its version; skipped unconfigured."""
    app = ctx.settings.modal_app
    if not app:
        return [skip("modal", "not configured (set VANIKEYS_MODAL_APP to grind there)")]
    try:
        function = await (lookup or _modal_lookup)(app, MODAL_FUNCTION)
    except ModuleNotFoundError:
        return [fail("modal", "the modal package is not installed", "pip install modal (the bot image has it)")]
    except Exception as exc:  # the SDK's NotFoundError, AuthError, a network fault: one line each
        return [
            fail(
                "modal",
                f"cannot find {app}.{MODAL_FUNCTION}: {type(exc).__name__}: {exc}".strip(),
                "`modal setup` (or MODAL_TOKEN_ID / MODAL_TOKEN_SECRET), then `modal deploy deploy/modal_app.py`",
            )
        ]
    found = [ok("modal", f"function {app}.{MODAL_FUNCTION} deployed (id {getattr(function, 'object_id', '?')})")]
    return found + [await _modal_version(ctx, function)]


async def _modal_version(ctx: Context, function: Any) -> Finding:
    """The engine a warm container runs, asked with the version probe; a cold app is not woken to ask."""
    from gpu_worker.version import PROBE, worker_version

    ours, check = worker_version(), "modal version"
    stats = await function.get_current_stats.aio()
    if not getattr(stats, "num_total_runners", 0):
        return skip(check, f"no container is up to ask (ours is {ours}); it is not started just for this")
    answer = await asyncio.wait_for(function.remote.aio(PROBE), ctx.timeout_s * 2)
    theirs = answer.get("worker_version") if isinstance(answer, dict) else None
    redeploy = "`modal deploy deploy/modal_app.py` from this checkout"
    if theirs is None:
        return warn(check, f"the deployed function predates version probes (ours is {ours})", redeploy)
    if theirs != ours:
        return warn(check, f"the deployed function runs engine {theirs}, this bot {ours}", redeploy)
    return ok(check, f"the deployed function runs this bot's engine ({ours})")
