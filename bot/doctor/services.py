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
from gpu_worker.i18n import N_, _
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
        return [
            skip(
                N_("stripe"),
                _(
                    "not configured (set {key} and {secret} to sell tokens)",
                    key="STRIPE_API_KEY",
                    secret="STRIPE_WEBHOOK_SECRET",
                ),
            )
        ]
    found: list[Finding] = []
    secret = settings.stripe_webhook_secret or ""
    if re.fullmatch(r"whsec_[A-Za-z0-9+/=_-]{24,}", secret):
        found.append(ok(N_("stripe webhook secret"), _("whsec_… of the expected shape")))
    else:
        found.append(
            fail(
                N_("stripe webhook secret"),
                _("{variable} is not a whsec_… signing secret", variable="STRIPE_WEBHOOK_SECRET"),
                _("{dashboard}/webhooks → your endpoint → Signing secret → Reveal, and set it", dashboard=DASHBOARD),
            )
        )
    key = settings.stripe_api_key or ""
    api = (settings.stripe_api_base or ctx.stripe_api).rstrip("/")
    headers = {"Authorization": f"Bearer {key}"}
    status, account = await ctx.call("Stripe", "GET", f"{api}/v1/account", headers=headers)
    if status == 401 or not key:
        return found + [
            fail(
                N_("stripe key"),
                _("Stripe rejects {variable} ({status})", variable="STRIPE_API_KEY", status=401),
                _("{dashboard}/apikeys → Secret key (sk_test_… in test mode), and set it", dashboard=DASHBOARD),
            )
        ]
    if status != 200 or not isinstance(account, dict):
        return found + [
            fail(
                N_("stripe key"),
                _("Stripe answered {request} with HTTP {status}", request="/v1/account", status=status),
                _("a restricted key needs read access to the account and webhook endpoints"),
            )
        ]
    mode = _("test mode") if "_test_" in key else _("live mode")
    found.append(
        ok(N_("stripe key"), _("account {id} ({mode})", id=account.get("id"), mode=mode))
        if account.get("charges_enabled", True)
        else warn(
            N_("stripe key"),
            _("account {id} ({mode}) cannot take charges yet", id=account.get("id"), mode=mode),
            _("{dashboard}/account/onboarding: finish the account's activation", dashboard=DASHBOARD),
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
            N_("stripe public webhook"),
            _("{variable} is {url}, not https://", variable="VANIKEYS_PUBLIC_URL", url=public),
            _(
                "serve the bot behind an HTTPS reverse proxy and set {variable} to its https:// address",
                variable="VANIKEYS_PUBLIC_URL",
            ),
        )
    try:
        # An unsigned event: our webhook refuses it with 400 and changes nothing.
        status, _body = await ctx.call(
            "public URL", "POST", url, data=b"{}", headers={"Content-Type": "application/json"}
        )
    except aiohttp.ClientError as exc:
        return fail(
            N_("stripe public webhook"),
            _("{url} does not answer ({error})", url=url, error=type(exc).__name__),
            _(
                "check the reverse proxy, its certificate and DNS, and that it forwards to {host}:{port}",
                host="VANIKEYS_WEBHOOK_HOST",
                port="VANIKEYS_WEBHOOK_PORT",
            ),
        )
    if status == 400:
        return ok(
            N_("stripe public webhook"), _("{url} answers over HTTPS (400 to an unsigned event, as it should)", url=url)
        )
    return fail(
        N_("stripe public webhook"),
        _("{url} answered an unsigned event with HTTP {status}, not 400", url=url, status=status),
        _("make the proxy forward {path} to the bot's webhook", path=WEBHOOK_PATH),
    )


async def _events(ctx: Context, api: str, headers: dict[str, str]) -> Finding:
    wanted = ctx.settings.public_base_url.rstrip("/") + WEBHOOK_PATH
    status, body = await ctx.call("Stripe", "GET", f"{api}/v1/webhook_endpoints?limit=100", headers=headers)
    if status != 200 or not isinstance(body, dict):
        return warn(
            N_("stripe events"),
            _("cannot list webhook endpoints (HTTP {status})", status=status),
            _(
                "give the key read access to webhook endpoints, or check the events by hand: {events}",
                events=", ".join(REQUIRED_EVENTS),
            ),
        )
    endpoints = [e for e in body.get("data") or [] if isinstance(e, dict) and e.get("url") == wanted]
    fix = _(
        "{dashboard}/webhooks: an endpoint at {url} with the events {events}",
        dashboard=DASHBOARD,
        url=wanted,
        events=", ".join(REQUIRED_EVENTS),
    )
    if not endpoints:
        return fail(N_("stripe events"), _("no webhook endpoint at {url}", url=wanted), fix)
    endpoint = endpoints[0]
    if endpoint.get("status") not in (None, "enabled"):
        return fail(
            N_("stripe events"), _("the endpoint at {url} is {status}", url=wanted, status=endpoint.get("status")), fix
        )
    enabled = set(endpoint.get("enabled_events") or ())
    missing = [] if "*" in enabled else [e for e in REQUIRED_EVENTS if e not in enabled]
    if missing:
        return fail(
            N_("stripe events"), _("the endpoint at {url} lacks {events}", url=wanted, events=", ".join(missing)), fix
        )
    return ok(
        N_("stripe events"),
        _(
            "{id} at {url} sends all {count} events needed",
            id=endpoint.get("id"),
            url=wanted,
            count=len(REQUIRED_EVENTS),
        ),
    )


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
    redeploy = _("rebuild the worker image from this checkout and redeploy it (docs/runpod.md, docs/providers.md)")
    if status == 200 and isinstance(body, dict) and body.get("status") == "FAILED":
        return warn(check, _("the worker predates version probes (ours is {ours})", ours=ours), redeploy)
    if not isinstance(theirs, str):
        state = body.get("status") if isinstance(body, dict) else f"HTTP {status}"
        return warn(
            check,
            _("the version probe did not come back ({state})", state=state),
            _("run `vanikeys doctor` again once a worker is up"),
        )
    if theirs != ours:
        return warn(check, _("the worker runs engine {theirs}, this bot {ours}", theirs=theirs, ours=ours), redeploy)
    return ok(check, _("the worker runs this bot's engine ({ours})", ours=ours))


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
        return [
            skip(
                N_("runpod"),
                _(
                    "not configured (set {key} and {endpoint} to grind there)",
                    key="RUNPOD_API_KEY",
                    endpoint="RUNPOD_ENDPOINT_ID",
                ),
            )
        ]
    if not settings.runpod_api_key or not settings.runpod_endpoint_id:
        return [
            fail(
                N_("runpod"),
                _("only one of {key} and {endpoint} is set", key="RUNPOD_API_KEY", endpoint="RUNPOD_ENDPOINT_ID"),
                _("set both, or neither"),
            )
        ]
    from bot.grinding.runpod_api import DEFAULT_BASE_URL

    base = (settings.runpod_base_url or DEFAULT_BASE_URL).rstrip("/")
    found = []
    endpoints = [(N_("runpod endpoint"), N_("runpod endpoint version"), settings.runpod_endpoint_id)]
    if settings.runpod_orders_endpoint_id:
        endpoints.append(
            (N_("runpod orders endpoint"), N_("runpod orders endpoint version"), settings.runpod_orders_endpoint_id)
        )
    for check, version_check, endpoint in endpoints:
        status, body = await _health(ctx, "RunPod", f"{base}/{endpoint}/health", settings.runpod_api_key)
        if status == 401:
            found.append(
                fail(
                    check,
                    _("RunPod rejects {variable} ({status})", variable="RUNPOD_API_KEY", status=401),
                    _("RunPod console → Settings → API Keys: a key with access to Serverless, and set it"),
                )
            )
        elif status == 404:
            found.append(
                fail(
                    check,
                    _("RunPod has no endpoint {endpoint}", endpoint=endpoint),
                    _("RunPod console → Serverless → your endpoint: copy its id"),
                )
            )
        elif status != 200 or body is None:
            found.append(
                fail(
                    check,
                    _("RunPod answered {request} with HTTP {status}", request="/health", status=status),
                    _("try again later"),
                )
            )
        else:
            ready, idle, running, queued = _workers(body)
            unhealthy = int((body.get("workers") or {}).get("unhealthy", 0) or 0)
            detail = _(
                "{endpoint}: {ready} worker(s) ready, {idle} idle, {running} running, {queued} job(s) queued",
                endpoint=endpoint,
                ready=ready,
                idle=idle,
                running=running,
                queued=queued,
            )
            if unhealthy:
                found.append(
                    fail(
                        check,
                        _("{detail}, {unhealthy} unhealthy", detail=detail, unhealthy=unhealthy),
                        _(
                            "RunPod console → the endpoint → Workers: read the unhealthy worker's logs (its fitness "
                            "check failed)"
                        ),
                    )
                )
            elif ready + idle + running == 0:
                found.append(
                    warn(
                        check,
                        _("{detail}: none up, the next pull waits for a cold start", detail=detail),
                        _("set Active Workers to 1 or more on the endpoint to keep one warm"),
                    )
                )
            else:
                found.append(ok(check, detail))
            if ready + idle > 0:  # never wake a cold endpoint (and pay for it) just to ask
                found.append(
                    await _version(ctx, version_check, "RunPod", f"{base}/{endpoint}", settings.runpod_api_key)
                )
    return found


async def selfhosted(ctx: Context) -> list[Finding]:
    """Check the self-hosted box answers its health check with the token, and its version; skipped unconfigured."""
    settings = ctx.settings
    if not settings.selfhosted_url:
        return [
            skip(
                N_("self-hosted box"),
                _("not configured (set {variable} to use one)", variable="VANIKEYS_SELFHOSTED_URL"),
            )
        ]
    url = settings.selfhosted_url.rstrip("/") + "/v2/selfhosted/health"
    status, body = await _health(ctx, "self-hosted box", url, settings.selfhosted_token or "")
    if status == 401:
        return [
            fail(
                N_("self-hosted box"),
                _(
                    "{url} refuses {variable} ({status})",
                    url=settings.selfhosted_url,
                    variable="VANIKEYS_SELFHOSTED_TOKEN",
                    status=401,
                ),
                _("set the same {variable} here and on the box", variable="VANIKEYS_SELFHOSTED_TOKEN"),
            )
        ]
    if status != 200 or body is None:
        return [
            fail(
                N_("self-hosted box"),
                _("{url} answered HTTP {status}", url=url, status=status),
                _("start `python -m gpu_worker.selfhosted` on the box, or fix the URL"),
            )
        ]
    _ready, idle, running, queued = _workers(body)
    return [
        ok(
            N_("self-hosted box"),
            _(
                "{url}: {idle} slot(s) idle, {running} running, {queued} job(s) queued",
                url=settings.selfhosted_url,
                idle=idle,
                running=running,
                queued=queued,
            ),
        ),
        await _version(
            ctx,
            N_("self-hosted box version"),
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
        return [skip(N_("modal"), _("not configured (set {variable} to grind there)", variable="VANIKEYS_MODAL_APP"))]
    try:
        function = await (lookup or _modal_lookup)(app, MODAL_FUNCTION)
    except ModuleNotFoundError:
        return [
            fail(
                N_("modal"),
                _("the modal package is not installed"),
                _("pip install modal (the bot image has it)"),
            )
        ]
    except Exception as exc:  # the SDK's NotFoundError, AuthError, a network fault: one line each
        return [
            fail(
                N_("modal"),
                _(
                    "cannot find {function}: {error}",
                    function=".".join((app, MODAL_FUNCTION)),
                    error=": ".join((type(exc).__name__, str(exc))),
                ).strip(),
                _("`modal setup` (or MODAL_TOKEN_ID / MODAL_TOKEN_SECRET), then `modal deploy deploy/modal_app.py`"),
            )
        ]
    found = [
        ok(
            N_("modal"),
            _(
                "function {function} deployed (id {id})",
                function=".".join((app, MODAL_FUNCTION)),
                id=getattr(function, "object_id", "?"),
            ),
        )
    ]
    return found + [await _modal_version(ctx, function)]


async def _modal_version(ctx: Context, function: Any) -> Finding:
    """The engine a warm container runs, asked with the version probe; a cold app is not woken to ask."""
    from gpu_worker.version import PROBE, worker_version

    ours, check = worker_version(), N_("modal version")
    stats = await function.get_current_stats.aio()
    if not getattr(stats, "num_total_runners", 0):
        return skip(check, _("no container is up to ask (ours is {ours}); it is not started just for this", ours=ours))
    answer = await asyncio.wait_for(function.remote.aio(PROBE), ctx.timeout_s * 2)
    theirs = answer.get("worker_version") if isinstance(answer, dict) else None
    redeploy = _("`modal deploy deploy/modal_app.py` from this checkout")
    if theirs is None:
        return warn(check, _("the deployed function predates version probes (ours is {ours})", ours=ours), redeploy)
    if theirs != ours:
        return warn(
            check, _("the deployed function runs engine {theirs}, this bot {ours}", theirs=theirs, ours=ours), redeploy
        )
    return ok(check, _("the deployed function runs this bot's engine ({ours})", ours=ours))
