"""How fast `vanikeys` starts: wall and CPU seconds per command, the minimum of N runs (hyperfine-style).

    python benchmarks/cli_startup.py [--runs 10]

Each run is a fresh interpreter (`python -m bot.cli ...`, as the `vanikeys` script runs), timed from the
spawn:
  python -c pass     the interpreter alone, the floor under every figure
  --help             to exit
  odds btc ^a        to exit, the odds printed
  console            to its "> " prompt on a terminal (a pseudo-terminal here), on a fresh SQLite file
  bot                to its first connection: TELEGRAM_TOKEN set and the Bot API pointed at a loopback
                     listener, which only accepts; the bot is then stopped with SIGTERM
The minimum is the figure to compare (the machine's other load only ever adds); the median says how
noisy the run was. CPU is the child's user+system seconds (min over runs). Also printed: the modules
the first two import that they must not (aiohttp, discord, telegram, stripe, asyncpg, ...).
"""

from __future__ import annotations

import argparse
import os
import pty
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("aiohttp", "discord", "telegram", "stripe", "asyncpg", "aiosqlite", "prometheus_client", "bot.app",
         "bot.admin", "bot.jobs", "bot.metrics")


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))}
    env.update(PYTHONPATH=str(REPO), VANIKEYS_DB=str(tmp / "bench.db"), VANIKEYS_VAULT_KEY="55" * 32,
               VANIKEYS_BACKEND="python", VANIKEYS_METRICS="off")
    return env


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _to_exit(argv: list[str], env: dict[str, str]) -> Callable[[], tuple[float, float]]:
    def once() -> tuple[float, float]:
        cpu = _child_cpu()
        began = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        wall = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode()[-400:]}")
        return wall, _child_cpu() - cpu
    return once


def _console_prompt(env: dict[str, str], tmp: Path) -> Callable[[], tuple[float, float]]:
    def once() -> tuple[float, float]:
        (tmp / "bench.db").unlink(missing_ok=True)
        cpu = _child_cpu()
        primary, secondary = pty.openpty()
        began = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "console"], env=env, cwd=REPO, stdin=secondary,
                                stdout=secondary, stderr=secondary, close_fds=True)
        os.close(secondary)
        seen = b""
        try:
            while not seen.endswith(b"> "):
                ready, _, _ = select.select([primary], [], [], 30)
                if not ready:
                    raise RuntimeError(f"no console prompt in 30 s: {seen[-400:]!r}")
                seen += os.read(primary, 4096)
            wall = time.perf_counter() - began
            os.write(primary, b"/quit\n")
            if proc.wait(timeout=30) != 0:
                raise RuntimeError(f"the console exited {proc.returncode}: {seen[-400:]!r}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(primary)
        return wall, _child_cpu() - cpu
    return once


def _bot_first_connection(env: dict[str, str], tmp: Path) -> Callable[[], tuple[float, float]]:
    def once() -> tuple[float, float]:
        (tmp / "bench.db").unlink(missing_ok=True)
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(8)
            port = listener.getsockname()[1]
            bot_env = env | {"TELEGRAM_TOKEN": "7012345678:AAbenchmarkbenchmarkbenchmarkbench",
                             "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot"}
            cpu = _child_cpu()
            began = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "bot"], env=bot_env, cwd=REPO,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                listener.settimeout(30)
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    raise RuntimeError("the bot made no connection in 30 s") from None
                wall = time.perf_counter() - began
                connection.close()
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if proc.stderr is not None:
                    proc.stderr.close()
        return wall, _child_cpu() - cpu
    return once


def imported(argv: list[str], env: dict[str, str]) -> list[str]:
    """The modules of HEAVY that `vanikeys ARGV` imports."""
    probe = ("import runpy, sys\n"
             f"sys.argv = ['vanikeys', *{argv!r}]\n"
             "try:\n    runpy.run_module('bot.cli', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             f"print(' '.join(sorted({{m if m.startswith('bot.') else m.split('.')[0] for m in sys.modules}} "
             f"& set({HEAVY!r}))), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    return done.stderr.strip().splitlines()[-1].split() if done.stderr.strip() else []


def measure(name: str, once: Callable[[], tuple[float, float]], runs: int) -> dict[str, float | str]:
    once()  # warm the page cache and the kernel cache; not counted
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = once()
        walls.append(wall)
        cpus.append(cpu)
    return {"name": name, "min_s": min(walls), "median_s": statistics.median(walls), "cpu_s": min(cpus)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="vanikeys-cli-bench-") as folder:
        tmp = Path(folder)
        env = _env(tmp)
        vanikeys = [sys.executable, "-m", "bot.cli"]
        rows = [
            measure("python -c pass", _to_exit([sys.executable, "-c", "pass"], env), args.runs),
            measure("vanikeys --help", _to_exit([*vanikeys, "--help"], env), args.runs),
            measure("vanikeys odds btc ^a", _to_exit([*vanikeys, "odds", "btc", "^a"], env), args.runs),
            measure("vanikeys console: prompt", _console_prompt(env, tmp), args.runs),
            measure("vanikeys bot: first connection", _bot_first_connection(env, tmp), args.runs),
        ]
        heavy = {" ".join(argv): imported(argv, env) for argv in (["--help"], ["odds", "btc", "^a"])}
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after; {args.runs} runs each (+1 warm-up), wall from spawn")
    print(f"{'command':<34} {'min s':>7} {'median s':>9} {'cpu s':>7}")
    for row in rows:
        print(f"{row['name']:<34} {row['min_s']:>7.3f} {row['median_s']:>9.3f} {row['cpu_s']:>7.3f}")
    for command, modules in heavy.items():
        print(f"vanikeys {command}: imports of {', '.join(HEAVY[:5])}, ...: {', '.join(modules) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
