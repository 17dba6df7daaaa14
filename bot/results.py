"""From a verified hit to what may be shown: identifier, highlighted spans, score, rarity. No secrets."""

from __future__ import annotations

import math
from typing import Any

from bot.answers import ShownKey
from gpu_worker.formats import get_format
from gpu_worker.odds import Odds, rarity
from gpu_worker.patterns import Pattern, match_spans


def shown_key(pattern: Pattern, odds: Odds, identifier: str, score: int, pull_keys: int) -> ShownKey:
    """An identifier as people see it: its matched spans, score, tier and one-in-N rarity for a pull of `pull_keys`
    keys.
    """
    fmt = get_format(pattern.format_id)
    body = fmt.body(identifier)
    offset = len(identifier) - len(body)
    spans = tuple((start + offset, end + offset) for start, end in match_spans(pattern, body))
    full = score == pattern.max_score
    tier = rarity(odds, score, pull_keys)
    one_in = float(tier.one_in_pulls)
    return ShownKey(
        format_id=fmt.id,
        identifier=identifier,
        spans=spans,
        score=score,
        max_score=pattern.max_score,
        full=full,
        tier=_tier_name(tier.tier),
        one_in_pulls=one_in if math.isfinite(one_in) else 1e308,
    )


def _tier_name(tier: object) -> str:
    value = getattr(tier, "value", tier)
    text = str(value)
    return text[:1].upper() + text[1:].lower()


def shown_key_to_json(key: ShownKey) -> dict[str, object]:
    """The shown key as JSON-ready data (stored with the pull)."""
    return {
        "format_id": key.format_id,
        "identifier": key.identifier,
        "spans": [list(s) for s in key.spans],
        "score": key.score,
        "max_score": key.max_score,
        "full": key.full,
        "tier": key.tier,
        "one_in_pulls": key.one_in_pulls,
    }


def shown_key_from_json(data: dict[str, Any]) -> ShownKey:
    """The shown key `shown_key_to_json` stored; KeyError or ValueError for data it did not write."""
    return ShownKey(
        format_id=str(data["format_id"]),
        identifier=str(data["identifier"]),
        spans=tuple((int(a), int(b)) for a, b in data["spans"]),
        score=int(data["score"]),
        max_score=int(data["max_score"]),
        full=bool(data["full"]),
        tier=str(data["tier"]),
        one_in_pulls=float(data["one_in_pulls"]),
    )


TIER_COLOURS: dict[str, tuple[int, int, int]] = {
    "Common": (154, 160, 166),
    "Uncommon": (46, 204, 113),
    "Rare": (52, 152, 219),
    "Epic": (155, 89, 182),
    "Legendary": (243, 156, 18),
    "Mythic": (231, 76, 60),
}
TIER_ORDER = ("Common", "Uncommon", "Rare", "Epic", "Legendary", "Mythic")


def tier_at_least(tier: str, floor: str) -> bool:
    """True when `tier` is `floor` or rarer ("Epic" is at least "Rare")."""
    return tier in TIER_ORDER and TIER_ORDER.index(tier) >= TIER_ORDER.index(floor)


def best_first(keys: tuple[ShownKey, ...]) -> tuple[ShownKey, ...]:
    """Rarest first, then highest score; ties keep pull order (so the first best stays first)."""
    return tuple(sorted(keys, key=lambda k: (-k.one_in_pulls, -k.score)))
