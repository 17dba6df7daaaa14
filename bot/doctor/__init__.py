"""`vanikeys doctor`: every configured dependency checked live, one line each with ✓ or ✗ and the fix.

Exit 0 when no required check fails, 1 when one does, 2 when the configuration itself cannot be read;
`--json` prints one object per check instead. Each check's faults are its own line, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from bot.doctor import chat, local, services
from bot.doctor.model import Context, Finding, fail
from bot.settings import ConfigError, load_settings
from gpu_worker.config_fields import is_secret
from gpu_worker.i18n import N_, _
from gpu_worker.localized import in_current_locale

Check = Callable[[Context], Awaitable[list[Finding]]]
# Remote checks first: their answers' Date headers measure the clock's skew, checked last.
CHECKS: tuple[tuple[str, Check], ...] = (
    (N_("discord"), chat.discord),
    (N_("telegram"), chat.telegram),
    (N_("stripe"), services.stripe),
    (N_("runpod"), services.runpod),
    (N_("self-hosted box"), services.selfhosted),
    (N_("modal"), services.modal),
    (N_("storage"), local.storage),
    (N_("vault key"), local.vault_key),
    (N_("free disk"), local.free_disk),
    (N_("clock skew"), local.clock_skew),
)


CHECK_LIMIT_S = 60.0  # no check holds the others up longer than this, whatever its peer does
NETWORK_FIX = N_("check the network, the URL and any proxy or firewall in between")


async def run_checks(ctx: Context, checks: Sequence[tuple[str, Check]] = CHECKS) -> list[Finding]:
    """Run each check in turn, each within CHECK_LIMIT_S; a check that times out or breaks is one failed finding."""
    findings: list[Finding] = []
    for name, check in checks:
        try:
            findings += await asyncio.wait_for(check(ctx), CHECK_LIMIT_S)
        except TimeoutError:
            findings.append(
                fail(
                    name,
                    _("no answer within {seconds} s", seconds=format(CHECK_LIMIT_S, ".0f")),
                    _(NETWORK_FIX),
                )
            )
        except (aiohttp.ClientError, OSError) as exc:
            findings.append(
                fail(
                    name,
                    _("cannot reach it: {error}", error=type(exc).__name__ + _said(exc)),
                    _(NETWORK_FIX),
                )
            )
        except Exception as exc:  # a check that breaks is one line, and the others still run
            findings.append(
                fail(
                    name,
                    _("the check failed: {error}", error=type(exc).__name__ + _said(exc)),
                    _("run `vanikeys doctor` again; report this line if it stays"),
                )
            )
    return [_redacted(finding, _secrets(ctx)) for finding in findings]


def _secrets(ctx: Context) -> list[str]:
    """Every secret the settings hold: a URL in an error (Telegram's carries the token) must not show one."""
    values = [
        getattr(ctx.settings, name)
        for name, info in type(ctx.settings).model_fields.items()
        if is_secret(info) and info.default is None
    ]  # tokens and keys (VANIKEYS_DB is shown redacted)
    return sorted((v for v in values if isinstance(v, str) and len(v) >= 4), key=len, reverse=True)


def _redacted(finding: Finding, secrets: list[str]) -> Finding:
    detail, fix = finding.detail, finding.fix
    for secret in secrets:
        detail, fix = detail.replace(secret, "***"), fix.replace(secret, "***")
    return dataclasses.replace(finding, detail=detail, fix=fix)


def _said(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:200]
    return f": {text}" if text else ""


async def doctor(ctx_factory: Callable[[aiohttp.ClientSession], Context]) -> list[Finding]:
    """Every check against the configured services, over one HTTP session."""
    async with aiohttp.ClientSession() as http:
        return await run_checks(ctx_factory(http))


def cmd_doctor(args: argparse.Namespace) -> int:
    """Run `vanikeys doctor`: print one line per finding (JSON with --json); exit 1 on a failure, 2 on bad settings,
    else 0.
    """
    try:
        settings = load_settings()
    except ConfigError as exc:
        line = Finding(
            N_("configuration"),
            "fail",
            in_current_locale(exc),
            _("set a value it accepts, or unset it for the default"),
        )
        print(json.dumps([line.to_json()]) if args.json else line.line())
        return 2
    findings = asyncio.run(doctor(lambda http: Context(settings, http)))
    if args.json:
        print(json.dumps([f.to_json() for f in findings], ensure_ascii=False))
    else:
        for finding in findings:
            print(finding.line())
    sys.stdout.flush()
    return 1 if any(f.status == "fail" for f in findings) else 0
