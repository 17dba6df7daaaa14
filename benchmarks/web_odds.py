"""The public odds calculator under load: 50 concurrent loopback clients, p50/p99 per request.

    python benchmarks/web_odds.py                     # 50 clients x 20 requests, then 1 client for the baseline
    python benchmarks/web_odds.py --clients 50 --requests 40 --patterns 40

The bot (real app, a SQLite file in a temporary folder, the pages on) runs in a
child process, as it would; the clients run here. Each client is its own address
behind the trusted proxy (X-Forwarded-For from 127.0.0.1), so the per-client rate
limit applies as in production and no client is refused. Requests cycle through
--patterns distinct patterns. One client first asks for each pattern once (its odds
computed in the odds worker: the cold figure); then the clients run with the odds
cached, so the figures are the pages' own cost under concurrency; then one client
alone on the same pages, the baseline in the same run. Latency is wall time per
request, from this process, so it includes HTML rendering and the loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATTERNS = {  # accepted patterns of every format, from one term to several
    "btc": ("Love", "^Lucky", "ab cd", "Moon$", "^Zz", "Food", "Kiss Me", "^1Bob"),
    "eth": ("cafe", "^dead", "beef$", "ab cd", "^0xface", "c0ffee"),
    "trx": ("Love", "Moon", "ab cd", "Star$"),
    "did": ("Love", "Moon", "ab cd", "Star$"),
}


def _serve(port_out: multiprocessing.connection.Connection, folder: str) -> None:
    from bot.app import create_app
    from bot.config import Settings
    from bot.web.server import web_server

    async def main() -> None:
        settings = Settings(
            db_path=Path(folder) / "bench.db",
            vault_key=secrets.token_hex(32),
            backend="python",
            web_mode="on",
            trusted_proxies=("127.0.0.1",),
            web_requests_per_minute=600,
        )
        async with create_app(settings, resume_jobs=False) as app, web_server(app, "127.0.0.1", 0) as port:
            port_out.send(port)
            await asyncio.get_running_loop().run_in_executor(None, port_out.recv)  # until told to stop

    asyncio.run(main())


def _queries(patterns: int) -> list[str]:
    every = [(fmt, text) for fmt, texts in PATTERNS.items() for text in texts]
    out = []
    for i in range(patterns):  # past the list, the same patterns with a '?' added: new to the cache
        fmt, text = every[i % len(every)]
        out.append(urlencode({"format": fmt, "pattern": text + "?" * (i // len(every))}))
    return out


async def _client(
    base: str,
    address: str,
    queries: list[str],
    start: int,
    count: int,
    timings: list[tuple[float, bool]],
    seen: set[str],
    statuses: dict[int, int],
) -> None:
    import aiohttp

    async with aiohttp.ClientSession(headers={"X-Forwarded-For": address}) as http:
        for n in range(count):
            query = queries[(start + n) % len(queries)]
            cold = query not in seen
            seen.add(query)
            began = time.perf_counter()
            async with http.get(f"{base}/web/odds?{query}") as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            timings.append((time.perf_counter() - began, cold))


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _run(base: str, clients: int, requests: int, queries: list[str]) -> dict[str, object]:
    timings: list[tuple[float, bool]] = []
    statuses: dict[int, int] = {}
    seen: set[str] = set()
    began = time.perf_counter()
    await asyncio.gather(
        *(
            _client(base, f"198.18.{i // 250}.{i % 250 + 1}", queries, i, requests, timings, seen, statuses)
            for i in range(clients)
        )
    )
    wall = time.perf_counter() - began
    every = [t for t, _ in timings]
    warm = [t for t, cold in timings if not cold] or every
    return {
        "requests": len(every),
        "wall_s": wall,
        "per_s": len(every) / wall,
        "statuses": statuses,
        "p50_ms": 1000 * statistics.median(every),
        "p99_ms": 1000 * _percentile(every, 99),
        "warm_p50_ms": 1000 * statistics.median(warm),
        "warm_p99_ms": 1000 * _percentile(warm, 99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="per client")
    parser.add_argument("--patterns", type=int, default=24, help="distinct patterns the requests cycle through")
    args = parser.parse_args()
    queries = _queries(args.patterns)
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = multiprocessing.Pipe()
        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(theirs, folder))
        server.start()
        try:
            port = ours.recv()
            base = f"http://127.0.0.1:{port}"
            cold = asyncio.run(_run(base, 1, len(queries), queries))  # each pattern once: its odds computed
            loaded = asyncio.run(_run(base, args.clients, args.requests, queries))
            single = asyncio.run(_run(base, 1, args.requests, queries))  # the same pages, one client: the baseline
        finally:
            ours.send("stop")
            server.join(timeout=30)
            if server.is_alive():
                server.terminate()
    if any(set(run["statuses"]) != {200} for run in (cold, loaded, single)):
        print(
            f"not every request was answered 200: {cold['statuses']} {loaded['statuses']} {single['statuses']}",
            file=sys.stderr,
        )
        return 1
    print(
        f"{args.clients} clients x {args.requests} requests over {args.patterns} patterns: "
        f"{loaded['requests']} requests in {loaded['wall_s']:.1f} s ({loaded['per_s']:.0f}/s), "
        f"statuses {loaded['statuses']}"
    )
    print(f"  p50 {loaded['p50_ms']:.1f} ms   p99 {loaded['p99_ms']:.1f} ms   (odds cached: the pages' own cost)")
    print(
        f"1 client, same pages: p50 {single['p50_ms']:.1f} ms   p99 {single['p99_ms']:.1f} ms   "
        f"({single['per_s']:.0f}/s); {args.clients}-client p50 / 1-client p50 = "
        f"{loaded['p50_ms'] / single['p50_ms']:.1f}x"
    )
    print(
        f"first request of each pattern (odds computed, 1 client): p50 {cold['p50_ms']:.1f} ms   "
        f"max {cold['p99_ms']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
