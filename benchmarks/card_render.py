"""How long a reveal card takes to draw (bot/cards.py), per format, the longest identifiers included.

    .venv/bin/python benchmarks/card_render.py [--repeat 50]

Prints the first (cold) render, which loads fonts, glyphs and the PNG encoder
(the service draws a throwaway card at start-up for this), then per format the
median and 95th percentile of --repeat warm renders and the PNG size.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import coincurve

from bot.cards import CardSpec, font, render_card
from bot.results import shown_key
from gpu_worker.formats import FORMATS
from gpu_worker.odds import odds
from gpu_worker.patterns import parse_pattern, score

PULL_KEYS = 1 << 28
SECRET = 0x1F2E3D4C5B6A79881F2E3D4C5B6A79881F2E3D4C5B6A79881F2E3D4C5B6A7988


def spec_for(format_id: str) -> CardSpec:
    fmt = FORMATS[format_id]
    identifier = fmt.identifier(coincurve.PrivateKey(SECRET.to_bytes(32, "big")).public_key)
    body = fmt.body(identifier)
    text = f"^{body[:4]} {body[10:13]} {body[-2:]}$"  # three highlighted spans
    pattern = parse_pattern(format_id, text)
    key = shown_key(pattern, odds(pattern), identifier, score(pattern, body), PULL_KEYS)
    return CardSpec(key, text, "A Community With A Fairly Long Server Name", "someone")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, Python "
        f"{platform.python_version()}"
    )
    specs = {f: spec_for(f) for f in FORMATS}
    font.cache_clear()
    began = time.perf_counter()
    render_card(specs["btc"])
    print(
        f"cold, first card in the process (the service draws one at start-up): "
        f"{1000 * (time.perf_counter() - began):.1f} ms"
    )
    print(f"{'format':<7} {'median ms':>9} {'p95 ms':>7} {'bytes':>7}  identifier length")
    for format_id, spec in specs.items():
        times, size = [], 0
        for _ in range(args.repeat):
            began = time.perf_counter()
            size = len(render_card(spec))
            times.append(1000 * (time.perf_counter() - began))
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(f"{format_id:<7} {statistics.median(times):>9.1f} {p95:>7.1f} {size:>7}  {len(spec.key.identifier)}")


if __name__ == "__main__":
    main()
