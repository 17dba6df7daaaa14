"""How fast `vanikeys` starts: wall and CPU seconds per command, the minimum of N runs (hyperfine-style).

    python benchmarks/cli_startup.py [--runs 10] [--against OTHER_CHECKOUT] [--only bot]

Each run is a fresh interpreter (`python -m bot.cli ...`, as the `vanikeys` script runs), timed from the
spawn:
  python -c pass     the interpreter alone, the floor under every figure
  --help             to exit
  odds btc ^a        to exit, the odds printed
  console            to its "> " prompt on a terminal (a pseudo-terminal here), on a fresh SQLite file
  bot                to its first connection: TELEGRAM_TOKEN set and the Bot API pointed at a loopback
                     listener, which only accepts; the bot is then stopped with SIGTERM
  bot: serving       to its first getUpdates (it takes commands from then on): the Bot API is a loopback
                     stand-in that answers getMe with a bot, getUpdates with no update and anything else
                     with true; then SIGTERM
--against DIR times another checkout (the code before a change) in the same run, each of its runs right
after the same command's run here, so that both see the same load; --only bot times the bot's two rows;
--getme-delay S makes the stand-in answer getMe S seconds late, as a real network's round trip would.
The minimum is the figure to compare (the machine's other load only ever adds); the median says how
noisy the run was. CPU is the child's user+system seconds (min over runs): for the bot's rows, what it had
used by that moment (/proc/PID/stat), which is about the wall time it would take on an idle core. Also printed: the
modules the first two import that they must not (aiohttp, discord, telegram, stripe, asyncpg, ...).
"""

from __future__ import annotations

import argparse
import json
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
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = (
    "aiohttp",
    "discord",
    "telegram",
    "stripe",
    "asyncpg",
    "aiosqlite",
    "prometheus_client",
    "bot.app",
    "bot.admin",
    "bot.jobs",
    "bot.metrics",
)


def _env(tmp: Path, repo: Path = REPO) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    env.update(
        PYTHONPATH=str(repo),
        VANIKEYS_DB=str(tmp / "bench.db"),
        VANIKEYS_VAULT_KEY="55" * 32,
        VANIKEYS_BACKEND="python",
        VANIKEYS_METRICS="off",
    )
    return env


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_so_far(pid: int) -> float:
    """User+system CPU seconds process `pid` (all its threads) has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _to_exit(argv: list[str], env: dict[str, str]) -> Callable[[], tuple[float, float]]:
    def once() -> tuple[float, float]:
        cpu = _child_cpu()
        began = time.perf_counter()
        done = subprocess.run(
            argv, env=env, cwd=env["PYTHONPATH"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60
        )
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
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "console"],
            env=env,
            cwd=env["PYTHONPATH"],
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            close_fds=True,
        )
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
            bot_env = env | {
                "TELEGRAM_TOKEN": "7012345678:AAbenchmarkbenchmarkbenchmarkbench",
                "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
            }
            began = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "bot"],
                env=bot_env,
                cwd=env["PYTHONPATH"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                listener.settimeout(30)
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    raise RuntimeError("the bot made no connection in 30 s") from None
                wall = time.perf_counter() - began
                cpu = _cpu_so_far(proc.pid)
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
        return wall, cpu

    return once


class _BotApi(ThreadingHTTPServer):
    """A loopback stand-in for the Bot API, enough for a start: getMe answers a bot, getUpdates no update
    (after 0.2 s, so a polling bot does not spin), any other method true. `polled` is set by the first getUpdates."""

    daemon_threads = True

    def __init__(self, getme_delay_s: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _BotApiHandler)
        self.polled = threading.Event()
        self.getme_delay_s = getme_delay_s

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a bot stopped mid-poll hangs up on its getUpdates: not this benchmark's business


class _BotApiHandler(BaseHTTPRequestHandler):
    server: _BotApi

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        method = self.path.rsplit("/", 1)[-1]
        result: object = True
        if method == "getMe":
            time.sleep(self.server.getme_delay_s)
            result = {
                "id": 7012345678,
                "is_bot": True,
                "first_name": "Bench",
                "username": "bench_bot",
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        elif method == "getUpdates":
            self.server.polled.set()
            time.sleep(0.2)
            result = []
        body = json.dumps({"ok": True, "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _bot_serving(env: dict[str, str], tmp: Path, getme_delay_s: float = 0.0) -> Callable[[], tuple[float, float]]:
    def once() -> tuple[float, float]:
        (tmp / "bench.db").unlink(missing_ok=True)
        api = _BotApi(getme_delay_s)
        serving = threading.Thread(target=api.serve_forever, daemon=True)
        serving.start()
        bot_env = env | {
            "TELEGRAM_TOKEN": "7012345678:AAbenchmarkbenchmarkbenchmarkbench",
            "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{api.server_address[1]}/bot",
            "TELEGRAM_API_FILE_URL": f"http://127.0.0.1:{api.server_address[1]}/file/bot",
        }
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "bot"],
            env=bot_env,
            cwd=env["PYTHONPATH"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = began + 60
            while not api.polled.wait(0.1):
                if proc.poll() is not None or time.perf_counter() > deadline:
                    err = proc.stderr.read().decode()[-400:] if proc.poll() is not None and proc.stderr else ""
                    raise RuntimeError(f"the bot did not poll Telegram: {err}")
            wall = time.perf_counter() - began
            cpu = _cpu_so_far(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
            api.shutdown()
            api.server_close()
        return wall, cpu

    return once


def imported(argv: list[str], env: dict[str, str]) -> list[str]:
    """The modules of HEAVY that `vanikeys ARGV` imports."""
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['vanikeys', *{argv!r}]\n"
        "try:\n    runpy.run_module('bot.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print(' '.join(sorted({{m if m.startswith('bot.') else m.split('.')[0] for m in sys.modules}} "
        f"& set({HEAVY!r}))), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=env["PYTHONPATH"], capture_output=True, text=True, timeout=60
    )
    return done.stderr.strip().splitlines()[-1].split() if done.stderr.strip() else []


def measure(
    name: str,
    once: Callable[[], tuple[float, float]],
    runs: int,
    other: Callable[[], tuple[float, float]] | None = None,
) -> list[dict[str, float | str]]:
    """`runs` timed runs after a warm-up; with `other` (the same command in another checkout), each of its runs
    right after one of these: one row each."""
    takes = [once] if other is None else [once, other]
    for take in takes:
        take()  # warm the page cache and the kernel cache; not counted
    walls: list[list[float]] = [[] for _ in takes]
    cpus: list[list[float]] = [[] for _ in takes]
    for _ in range(runs):
        for i, take in enumerate(takes):
            wall, cpu = take()
            walls[i].append(wall)
            cpus[i].append(cpu)
    names = [name] if other is None else [name, f"  {name} (--against)"]
    return [
        {"name": label, "min_s": min(w), "median_s": statistics.median(w), "cpu_s": min(c)}
        for label, w, c in zip(names, walls, cpus, strict=True)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    parser.add_argument("--against", type=Path, help="another checkout, timed in the same run (interleaved)")
    parser.add_argument("--only", choices=["bot"], help="time only the bot's rows")
    parser.add_argument(
        "--getme-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="the Bot API stand-in answers getMe S seconds late (default 0)",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="vanikeys-cli-bench-") as folder,
        tempfile.TemporaryDirectory(prefix="vanikeys-cli-bench-against-") as other_folder,
    ):
        tmp, other_tmp = Path(folder), Path(other_folder)
        env = _env(tmp)
        other_env = _env(other_tmp, args.against.resolve()) if args.against else None

        def timed(
            name: str, make: Callable[[dict[str, str], Path], Callable[[], tuple[float, float]]]
        ) -> list[dict[str, float | str]]:
            other = make(other_env, other_tmp) if other_env is not None else None
            return measure(name, make(env, tmp), args.runs, other)

        vanikeys = [sys.executable, "-m", "bot.cli"]
        rows = timed("python -c pass", lambda e, _: _to_exit([sys.executable, "-c", "pass"], e))
        if args.only is None:
            rows += timed("vanikeys --help", lambda e, _: _to_exit([*vanikeys, "--help"], e))
            rows += timed("vanikeys odds btc ^a", lambda e, _: _to_exit([*vanikeys, "odds", "btc", "^a"], e))
            rows += timed("vanikeys console: prompt", _console_prompt)
        rows += timed("vanikeys bot: first connection", _bot_first_connection)
        rows += timed("vanikeys bot: serving (getUpdates)", lambda e, t: _bot_serving(e, t, args.getme_delay))
        heavy = {" ".join(argv): imported(argv, env) for argv in (["--help"], ["odds", "btc", "^a"])}
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; {args.runs} runs each (+1 warm-up), wall from spawn"
        + (f"; (--against) rows: {args.against}, each run right after this checkout's" if args.against else "")
        + (f"; getMe answered {args.getme_delay} s late" if args.getme_delay else "")
    )
    print(f"{'command':<50} {'min s':>7} {'median s':>9} {'cpu s':>7}")
    for row in rows:
        print(f"{row['name']:<50} {row['min_s']:>7.3f} {row['median_s']:>9.3f} {row['cpu_s']:>7.3f}")
    for command, modules in heavy.items():
        print(f"vanikeys {command}: imports of {', '.join(HEAVY[:5])}, ...: {', '.join(modules) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
