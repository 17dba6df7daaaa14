"""Which Discord shards this process runs: VANIKEYS_DISCORD_SHARDS="0-3/8" (shards 0 to 3 of 8) or "4,5,6,7/8".

Unset, discord.py's AutoShardedBot asks Discord for the recommended count and
runs them all in this process. Split across processes, each process names its
own shards out of the same total; they share one truth through
VANIKEYS_DB=postgresql://… (docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.config import ConfigError
from bot.settings import load_settings
from gpu_worker.i18n import N_, _
from gpu_worker.localized import Localized, phrase

VAR = "VANIKEYS_DISCORD_SHARDS"
_FIX = N_('set {var} to "FIRST-LAST/TOTAL" or "ID,ID,.../TOTAL", e.g. "0-3/8"')


def shard_options(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """Keyword arguments for AutoShardedBot: {} (all shards, here), or shard_ids and shard_count."""
    text = load_settings(environ, dotenv_path=".env" if environ is None else None).discord_shards
    if not text:
        return {}
    ids_text, slash, total_text = text.partition("/")
    if not slash or not total_text.strip().isdigit() or int(total_text) < 1:
        raise ConfigError(_refusal(N_("{setting} names no shard total: {fix}"), text))
    total = int(total_text)
    ids: set[int] = set()
    for part in ids_text.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ConfigError(_refusal(N_("{setting} is not a list of shard ids: {fix}"), text))
        ids.update(range(int(first), int(last if dash else first) + 1))
    if not ids or max(ids) >= total:
        raise ConfigError(
            phrase(
                N_("{setting}: shard ids run from 0 to {last} for a total of {total}"),
                setting=f"{VAR}={text!r}",
                last=total - 1,
                total=total,
            )
        )
    return {"shard_ids": sorted(ids), "shard_count": total}


def _refusal(message: str, text: str) -> Localized:
    return Localized(lambda: _(message, setting=f"{VAR}={text!r}", fix=_(_FIX, var=VAR)))
