"""Render sample reveal cards, one per tier per format, into docs/cards/ (real keys, real odds; no secret drawn).

    .venv/bin/python scripts/render_card_gallery.py [--out docs/cards] [--seed 1]

For each format a few random keys are made; patterns are cut from their
identifiers (anchored prefixes and inner terms, some a little longer than what
matches) and rated as the best of one GPU pull (2^28 keys), until every tier has
a card.
"""

from __future__ import annotations

import argparse
import io
import random
from pathlib import Path

import coincurve
from PIL import Image

from bot.answers import ShownKey
from bot.cards import CardSpec, render_card
from bot.results import TIER_ORDER, shown_key
from gpu_worker.errors import VanikeysError
from gpu_worker.formats import CURVE_ORDER, FORMATS
from gpu_worker.odds import odds
from gpu_worker.patterns import parse_pattern, score

PULL_KEYS = 1 << 28


def candidates(body: str, rng: random.Random) -> list[str]:
    out = []
    for n in range(1, 11):
        out.append("^" + body[:n])
        out.append("^" + body[:n] + rng.choice("abcdefghjk"))  # one character more than matches: a near miss
        start = rng.randrange(3, max(4, len(body) - n))
        out.append(body[start : start + n])
        if n >= 2:
            out.append(f"{body[: n // 2]} {body[-(n - n // 2) :]}$")
    return out


def gallery(out: Path, seed: int) -> list[Path]:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in FORMATS.values():
        found: dict[str, list[tuple[ShownKey, str]]] = {}
        for _ in range(40):
            secret = rng.randrange(1, CURVE_ORDER)
            identifier = fmt.identifier(coincurve.PrivateKey(secret.to_bytes(32, "big")).public_key)
            body = fmt.body(identifier)
            for text in candidates(body, rng):
                try:
                    pattern = parse_pattern(fmt.id, text, case="insensitive")
                except VanikeysError:
                    continue
                key = shown_key(pattern, odds(pattern), identifier, score(pattern, body), PULL_KEYS)
                found.setdefault(key.tier, []).append((key, text))
            if len(found) == len(TIER_ORDER) and all(len(v) >= 4 for v in found.values()):
                break
        for tier in TIER_ORDER:
            if tier not in found:
                continue
            key, text = rng.choice(found[tier])  # a mix of full matches, near misses and split terms
            path = out / f"{fmt.id}-{tier.lower()}.png"
            png = render_card(CardSpec(key, text, "VaniKeys Community", "sample"))
            # the repository copy is palette-reduced (a third of the bytes, the same look); the bot sends full colour
            image = Image.open(io.BytesIO(png)).quantize(colors=128, method=Image.Quantize.FASTOCTREE)
            image.save(path, format="PNG", optimize=True)
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/cards"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for path in gallery(args.out, args.seed):
        print(path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
