"""The command line: one-line errors with exit status 2, and the result JSON of docs/design.md on stdout.

What a person sees from a separate process (no terminal) is checked on processes forked from a warm
interpreter (the `vanikeys` fixture, tests/warm.py); Ctrl-C and SIGKILL, and the import set, on fresh ones.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from gpu_worker.cli import build_parser, key_count, main, run
from gpu_worker.formats import CURVE_ORDER, get_format, identifier_from_secret
from gpu_worker.grinders.python import _sigint_held_while_workers_start
from gpu_worker.job import GrindJob, GrindResult
from gpu_worker.verify import verify_hit
from tests.warm import WarmInterpreter

REPO = Path(__file__).resolve().parents[2]
Vanikeys = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def vanikeys(warm_python: WarmInterpreter) -> Vanikeys:
    """The engine CLI as a person runs it: a separate process, no terminal."""

    def run_it(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
        return warm_python.run("gpu_worker.cli", argv, input=stdin, cwd=REPO, env=env, timeout=60)

    return run_it


def assert_one_line_error(stderr: str, *expected_words: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert stderr.startswith("vanikeys: error: ")
    for word in expected_words:
        assert word in stderr, stderr


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["grind", "doge", "abc"], ["unknown format", "btc"]),
        (["grind", "btc", "GO", "--exact-case"], ["'O'"]),  # base58 has no O
        (["grind", "eth", "xyz"], ["x"]),  # not hex
        (["grind", "btc", "abc", "--budget", "lots"], ["--budget", "200k"]),
        (["grind", "btc", "abc", "--budget", "0"], ["--budget"]),
        (["grind", "btc", "abc", "--top", "0"], ["top"]),
        (["grind", "btc", "abc", "--backend", "abacus"], ["--backend", "python"]),
        (["grind", "btc", "abc", "--split-pubkey", "02abcd"], ["66 hex digits"]),
        (["grind", "btc", "abc", "--time-limit", "-3"], ["--time-limit"]),
        (["grind", "btc"], ["PATTERN"]),
        (["grind", "btc", "abc", "--frobnicate"], ["--frobnicate"]),
        (["odds", "trx", "^t", "--exact-case"], []),  # never lowercase right after the T
        ([], ["command"]),
        (["teleport"], ["teleport"]),
        (["combine", "btc", "--private-key", "12", "--offset", "1" * 64], ["64 hex digits"]),
        (["combine", "btc", "--private-key", "0" * 64, "--offset", "1" * 64], ["1 to n-1"]),
        (["combine", "btc", "--private-key", "1" * 64], ["--offset"]),
        (
            [
                "combine",
                "btc",
                "--private-key",
                "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWX",
                "--offset",
                "1" * 64,
            ],
            ["checksum"],
        ),
    ],
)
def test_bad_input_is_exit_2_and_one_line(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(captured.err, *words)


def test_bad_input_in_a_real_process_is_one_line_without_traceback(vanikeys: Vanikeys) -> None:
    done = vanikeys("grind", "btc", "O0Il", "--exact-case")
    assert done.returncode == 2 and done.stdout == ""
    assert_one_line_error(done.stderr)


def test_grind_json_is_exactly_the_result_object(vanikeys: Vanikeys) -> None:
    done = vanikeys("grind", "btc", "^a b", "--budget", "600", "--top", "2", "--backend", "python", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    payload = json.loads(done.stdout)
    assert set(payload) == {"v", "checked", "elapsed_s", "backend", "device", "results"}
    result = GrindResult.model_validate(payload)
    assert result.checked == 600 and result.backend == "python" and len(result.results) == 2
    job = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^a b", "budget": 600, "top": 2})
    for hit in result.results:
        assert set(hit.model_dump()) == {"secret", "secret_kind", "identifier", "score", "full"}
        verify_hit(job, hit)
    assert result.results[0].score >= result.results[1].score


def test_grind_without_json_shows_the_key_its_secret_and_rarity(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grind", "btc", "^a", "--budget", "300", "--backend", "python"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    identifier = lines[0]
    assert identifier.startswith("1")
    wif_line = next(line for line in lines if line.startswith("WIF"))
    wif = wif_line.split()[1]
    assert wif[0] in "KL" and len(wif) == 52
    assert any(line.startswith("score") and ("full match" in line or "pulls" in line) for line in lines)
    assert "checked 300 keys" in out


def test_did_output_has_hex_and_a_jwk(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grind", "did", "ab", "--budget", "12", "--backend", "python"]) == 0
    lines = capsys.readouterr().out.splitlines()
    secret = int(next(line for line in lines if line.startswith("hex")).split()[1], 16)
    jwk = json.loads(next(line for line in lines if line.startswith("JWK")).split(maxsplit=1)[1])
    assert jwk["kty"] == "EC" and jwk["crv"] == "secp256k1"
    assert lines[0] == identifier_from_secret(get_format("did"), secret)


def test_split_key_output_tells_how_to_combine(capsys: pytest.CaptureFixture[str]) -> None:
    pubkey = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"  # 1·G
    assert main(["grind", "eth", "ab", "--budget", "5", "--backend", "python", "--split-pubkey", pubkey]) == 0
    out = capsys.readouterr().out
    offset_line = next(line for line in out.splitlines() if line.startswith("offset"))
    offset = int(offset_line.split()[1], 16)
    assert "vanikeys combine eth --private-key" in out
    # With d = 1 the final key is 1 + offset.
    assert out.splitlines()[0] == identifier_from_secret(get_format("eth"), (1 + offset) % CURVE_ORDER)


def test_odds_json_has_the_promised_fields(vanikeys: Vanikeys) -> None:
    done = vanikeys("odds", "btc", "^Love", "--budget", "1M", "--json")
    assert done.returncode == 0, done.stderr
    odds = json.loads(done.stdout)
    assert {"p_full", "expected_keys", "p_full_in_budget", "tiers"} <= set(odds)
    assert odds["budget"] == 1_000_000
    assert 0 < odds["p_full"] < 1e-5 and odds["expected_keys"] == pytest.approx(1 / odds["p_full"])
    assert 0 < odds["p_full_in_budget"] < 1
    scores = [tier["score"] for tier in odds["tiers"]]
    assert scores == [1, 2, 3, 4]
    assert [tier["p_at_least"] for tier in odds["tiers"]] == sorted(
        (t["p_at_least"] for t in odds["tiers"]), reverse=True
    )


def test_combine_reads_the_private_key_from_stdin_and_checks_it(vanikeys: Vanikeys) -> None:
    offset = f"{12345:064x}"
    done = vanikeys("combine", "trx", "--private-key", "-", "--offset", offset, "--json", stdin=f"{1:064x}\n")
    assert done.returncode == 0, done.stderr
    combined = json.loads(done.stdout)
    assert combined["secret"] == f"{12346:064x}"
    assert combined["identifier"] == identifier_from_secret(get_format("trx"), 12346)


def test_combine_accepts_a_btc_wif_private_key(capsys: pytest.CaptureFixture[str]) -> None:
    one_wif = "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn"  # private key 1, compressed
    assert main(["combine", "btc", "--private-key", one_wif, "--offset", f"{1:064x}"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == identifier_from_secret(get_format("btc"), 2)
    assert "check   ok" in out


def test_key_counts_read_the_way_people_write_them() -> None:
    assert [key_count(t) for t in ("200000", "200_000", "200k", "1.5M", "1e6", "2^28")] == [
        200_000,
        200_000,
        200_000,
        1_500_000,
        1_000_000,
        1 << 28,
    ]


def test_extra_subcommands_share_the_error_handling(capsys: pytest.CaptureFixture[str]) -> None:
    def add_hello(commands) -> None:  # type: ignore[no-untyped-def]
        hello = commands.add_parser("hello")
        hello.add_argument("--times", type=int, default=1)
        hello.set_defaults(func=lambda args: print("hi " * args.times) or 0)

    parser = build_parser(add_hello)
    assert run(parser, ["hello", "--times", "2"]) == 0
    assert capsys.readouterr().out.startswith("hi hi")
    assert run(parser, ["hello", "--times", "two"]) == 2
    assert_one_line_error(capsys.readouterr().err, "--times")


def test_ctrl_c_exits_130_with_one_line_and_stops_the_workers() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [
        sys.executable,
        "-m",
        "gpu_worker.cli",
        "grind",
        "btc",
        "^zzzzzzzz",
        "--budget",
        "1G",
        "--backend",
        "python",
        "--json",
    ]
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while len(children := _descendant_pids(proc.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # wait for the process pool to be grinding
    time.sleep(0.5)
    began = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole foreground group
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert time.monotonic() - began < 5
    assert out == ""
    assert err == "vanikeys: error: interrupted\n"
    assert len(children) >= 3, "the grind should have been running on worker processes"
    deadline = time.monotonic() + 10
    while (alive := _alive(children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in alive]


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z":  # a zombie has exited; only its parent's wait is pending
            alive.append(pid)
    return alive


def _descendant_pids(pid: int) -> list[int]:
    """Every process below `pid`: the pool's workers are its children where they are spawned, and the fork
    server's (its child) where there is one."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def test_workers_exit_when_the_grinding_process_is_killed_outright() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [
        sys.executable,
        "-m",
        "gpu_worker.cli",
        "grind",
        "eth",
        "^c0ffee c0ffee",
        "--budget",
        "1G",
        "--backend",
        "python",
        "--json",
    ]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while len(children := _descendant_pids(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(children) >= 3, "the grind should have been running on worker processes"
    finally:
        proc.kill()  # SIGKILL: no chance to shut the pool down
        proc.wait()
    deadline = time.monotonic() + 10
    while (alive := _alive(children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in alive:  # leave nothing behind even when the assertion fails
        os.kill(pid, signal.SIGKILL)
    assert not alive


# -- hostile numbers, verbatim identifiers, tiers with the full-match badge ----------------------

HOSTILE_NUMBERS = [
    "1e309",
    "9" * 400,
    "2^4096",
    "²",
    "٣",
    "١٠",
    "-5",
    "0",
    "nan",
    "inf",
    "1e",
    "",
    " ",
    "1.5.2",
    "0x10",
    "1_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0_0",
    "１２",
    "3\u200b",
    "1e-3",
    "+7",
    "7 7",
    "\x00",
    "1" * 31,
    "99999999999999999999t",
    "𝟗",
]


@pytest.mark.parametrize("text", HOSTILE_NUMBERS)
def test_hostile_numbers_are_exit_2_and_one_line(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["grind", "btc", "ab", "--budget", text, "--backend", "python"],
        ["odds", "btc", "ab", "--budget", text],
        ["grind", "btc", "ab", "--top", text, "--backend", "python"],
        ["grind", "btc", "ab", "--time-limit", text, "--backend", "python"],
        ["bench", "--seconds", text],
    ):
        assert main(argv) == 2, argv
        captured = capsys.readouterr()
        assert captured.out == ""
        assert_one_line_error(captured.err)


def test_random_unicode_arguments_never_crash(capsys: pytest.CaptureFixture[str]) -> None:
    import random

    rng = random.Random(13)
    alphabet = "0123456789eE.^,_-+kKmMgGtT ²٣١𝟗１\u200b\u202e:[]@$?abcABC✨\t"
    for _ in range(150):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        option = rng.choice(["--budget", "--top", "--time-limit"])
        code = main(
            [
                "odds" if option == "--budget" and rng.random() < 0.5 else "grind",
                "btc",
                text or "a",
                option,
                text,
                "--backend",
                "python",
                "--json",
            ]
            if option != "--budget"
            else ["odds", "btc", "ab", option, text, "--json"]
        )
        captured = capsys.readouterr()
        if code != 0:
            assert code == 2
            assert_one_line_error(captured.err)


def test_a_400_digit_budget_in_a_real_process_is_one_line(vanikeys: Vanikeys) -> None:
    done = vanikeys("grind", "btc", "ab", "--budget", "9" * 400)
    assert done.returncode == 2 and done.stdout == ""
    assert_one_line_error(done.stderr, "--budget", "too large")


def test_did_key_is_printed_verbatim_not_as_an_emoji(vanikeys: Vanikeys) -> None:
    done = vanikeys("grind", "did", "ab", "--budget", "50", "--backend", "python")
    assert done.returncode == 0, done.stderr
    identifier = done.stdout.splitlines()[0]
    assert identifier.startswith("did:key:zQ3sh"), identifier
    assert "🔑" not in done.stdout


def test_odds_tiers_carry_the_full_match_badge_and_the_easy_note(vanikeys: Vanikeys) -> None:
    easy = vanikeys("odds", "btc", "^11")
    assert easy.returncode == 0, easy.stderr
    assert "this pattern is easy" in easy.stdout and "an order is the better buy" in easy.stdout
    last = easy.stdout.splitlines()[-1]
    assert "Common" in last and "✨ full match" in last and "Mythic" not in easy.stdout
    hard = vanikeys("odds", "btc", "^Lovely")
    assert hard.returncode == 0, hard.stderr
    assert "easy" not in hard.stdout
    rows = hard.stdout.splitlines()[-6:]
    assert [("✨ full match" in row) for row in rows] == [False] * 5 + [True]
    assert "Legendary" in rows[-1] and "1 in " in rows[-1]


def test_odds_json_says_easy_and_full(vanikeys: Vanikeys) -> None:
    easy = json.loads(vanikeys("odds", "btc", "^11", "--json").stdout)
    assert easy["easy"] is True and easy["tiers"][-1]["full"] is True and easy["tiers"][-1]["tier"] == "Common"
    hard = json.loads(vanikeys("odds", "btc", "^Lovely", "--json").stdout)
    assert hard["easy"] is False and [t["full"] for t in hard["tiers"]] == [False] * 5 + [True]


def test_grind_shows_the_tier_with_the_badge_beside_it(vanikeys: Vanikeys) -> None:
    done = vanikeys("grind", "btc", "^a", "--budget", "300", "--backend", "python")
    assert done.returncode == 0, done.stderr
    score_line = next(line for line in done.stdout.splitlines() if line.startswith("score"))
    assert "Common" in score_line and score_line.endswith("✨ full match")
    assert "this pattern is easy" in done.stdout


# -- a command imports only what it runs -----------------------------------------------------------

SERVICE_PACKAGES = {
    "aiohttp",
    "discord",
    "telegram",
    "stripe",
    "asyncpg",
    "aiosqlite",
    "prometheus_client",
    "httpx",
    "runpod",
    "modal",
    "PIL",
    "payments",
}


def imported_by(*argv: str, env: dict[str, str] | None = None) -> set[str]:
    """Every module `vanikeys ARGV` has imported when it exits: a fresh interpreter, as the script runs it (with
    `env` over this process's environment)."""
    probe = (
        "import json, runpy, sys\n"
        "sys.argv = ['vanikeys', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('bot.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "sys.stdout.flush()\n"
        "print('\\n' + json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_help_imports_none_of_the_engine_and_none_of_the_service() -> None:
    """In Russian, so the translated help is what is checked: the catalogs cost no more than stdlib gettext."""
    modules = imported_by("--help", env={"VANIKEYS_LANGUAGE": "ru"})
    assert "gpu_worker.terminal_language" in modules  # it did read the language
    assert not {m.split(".")[0] for m in modules} & (SERVICE_PACKAGES | {"numpy", "pydantic", "rich", "coincurve"})
    assert not any(m.startswith("bot.") and m != "bot.cli" for m in modules), sorted(modules)
    light = (
        "gpu_worker.cli",
        "gpu_worker.errors",
        "gpu_worker.numbers",
        "gpu_worker.i18n",
        "gpu_worker.terminal_language",
    )  # i18n: stdlib gettext only; terminal_language: the environment's language, without pydantic
    assert not any(m.startswith("gpu_worker.") and m not in light for m in modules), sorted(modules)
    assert "babel" not in {m.split(".")[0] for m in modules}, "CLDR data is loaded only to write a number"


def test_odds_imports_the_odds_and_nothing_of_the_service() -> None:
    modules = imported_by("odds", "btc", "^a")
    assert {"gpu_worker.odds", "gpu_worker.patterns"} <= modules  # what it runs (the probe sees the real command)
    assert not {m.split(".")[0] for m in modules} & (SERVICE_PACKAGES | {"pydantic"})
    assert not any(m.startswith("bot.") and m != "bot.cli" for m in modules), sorted(modules)
    assert not any(m.startswith("gpu_worker.grinders") for m in modules)


def test_a_bot_command_imports_its_own_module_only() -> None:
    modules = imported_by("console", "--help")
    assert "bot.cli_commands.console" in modules
    assert not {"bot.app", "bot.admin", "bot.backup", "bot.cli_commands.run", "bot.metrics"} & modules
    assert not {m.split(".")[0] for m in modules} & SERVICE_PACKAGES


def test_the_console_on_the_local_grinder_starts_without_the_network_stacks(tmp_path: Path) -> None:
    """The console's whole start (the app wired, the local grinder, SQLite): no HTTP client or server, no
    PostgreSQL driver; those load when a provider, the webhook, the pages or PostgreSQL are configured."""
    probe = (
        "import json, sys\n"
        "from bot.app import create_app\n"
        "from bot.config import Settings\n"
        "from bot.frontends.console import run_console\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VANIKEYS_", "RUNPOD_", "STRIPE_"))}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    modules = {m.split(".")[0] for m in json.loads(done.stdout)}
    assert not modules & {"aiohttp", "asyncpg", "discord", "telegram", "stripe", "modal", "runpod"}, sorted(modules)


def _bot_started_against_a_silent_telegram(
    tmp_path: Path, vault_key: str = "55" * 32, stop: bool = True
) -> tuple[int, str, set[str]]:
    """`vanikeys bot` with TELEGRAM_TOKEN set and the Bot API on a loopback listener that accepts and never answers
    (as benchmarks/cli_startup.py runs it), stopped with SIGTERM once it has connected (`stop`): exit code, stderr
    and every module it imported (its whole start: storage, vault and app while Telegram has not answered)."""
    import socket

    probe = (
        "import json, runpy, sys\n"
        "sys.argv = ['vanikeys', 'bot']\n"
        "try:\n    runpy.run_module('bot.cli', run_name='__main__')\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        "sys.stdout.flush()\n"
        "print('\\n' + json.dumps(sorted(sys.modules)))\n"
        "sys.exit(code)\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.2)
        env.update(
            PYTHONPATH=str(REPO),
            VANIKEYS_DB=str(tmp_path / "bot.db"),
            VANIKEYS_VAULT_KEY=vault_key,
            VANIKEYS_BACKEND="python",
            VANIKEYS_METRICS="off",
            TELEGRAM_TOKEN="7012345678:AAbenchmarkbenchmarkbenchmarkbench",
            TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{listener.getsockname()[1]}/bot",
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", probe],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        connections = []  # held open, unanswered, until the bot has exited
        try:
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:  # connected, or ended before it did
                try:
                    connections.append(listener.accept()[0])
                except TimeoutError:
                    continue
                if stop:
                    proc.send_signal(signal.SIGTERM)
                break
            out, err = proc.communicate(timeout=60)
        finally:
            for connection in connections:
                connection.close()
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return proc.returncode, err, set(json.loads(out.splitlines()[-1])) if out.strip() else set()


def test_the_bot_on_telegram_starts_without_discord_the_servers_or_the_postgresql_driver(tmp_path: Path) -> None:
    """Only Telegram configured: no discord.py, no aiohttp (/metrics off, no webhook, no pages, the local grinder),
    no asyncpg for a SQLite file, no Stripe, no web pages; and SIGTERM before Telegram answers is a clean stop."""
    code, err, modules = _bot_started_against_a_silent_telegram(tmp_path)
    assert code == 0, err
    assert {"telegram", "bot.startup"} <= modules  # it did reach for Telegram
    assert not {m.split(".")[0] for m in modules} & {
        "discord",
        "aiohttp",
        "asyncpg",
        "stripe",
        "jinja2",
        "runpod",
        "modal",
    }, sorted(modules)
    assert not {m for m in modules if m.startswith(("bot.web", "bot.frontends.discord", "bot.admin"))}


def test_a_wrong_vault_key_stops_the_bot_while_telegram_is_still_being_reached(tmp_path: Path) -> None:
    """The Telegram check runs while storage opens; the vault check still decides: a key that does not match the
    database's is one line and exit 2, without waiting for Telegram (which never answers here)."""
    code, err, _ = _bot_started_against_a_silent_telegram(tmp_path)
    assert code == 0, err  # the first start seals the database to key 55...
    began = time.monotonic()
    code, err, _ = _bot_started_against_a_silent_telegram(tmp_path, vault_key="66" * 32, stop=False)
    assert code == 2, err
    assert err.strip().startswith("vanikeys: error: VANIKEYS_VAULT_KEY") and "Traceback" not in err, err
    assert time.monotonic() - began < 30  # not the Telegram check's retries (60 s)


# --- the terminal's language ----------------------------------------------------------------------------------------

LANGUAGE_VARIABLES = ("VANIKEYS_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def speaking(monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    """This process's environment as a terminal whose only language variable is LANG=lang."""
    for name in LANGUAGE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", lang)


def test_a_command_answers_in_the_terminals_language(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    speaking(monkeypatch, "ru_RU.UTF-8")
    assert main(["odds", "btc", "^ab"]) == 0
    out = capsys.readouterr().out
    assert "шаблон '^ab' · 2 символа для совпадения" in out
    assert "один ключ совпадает полностью с вероятностью 0,00153: примерно 1 из 654 ключей" in out
    assert "очки" in out and "Обычный" in out and "✨ полное совпадение" in out
    assert not {"pattern", "characters", "probability", "Common", "full match"} & set(out.replace("'", " ").split())
    assert main(["grind", "btc", "abc", "--budget", "lots"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vanikeys: error: ") and "--budget, число ключей" in err and err.count("\n") == 1, err
    assert main(["--help"]) == 0
    assert "команды:" in capsys.readouterr().out
    speaking(monkeypatch, "C.UTF-8")
    assert main(["odds", "btc", "^ab"]) == 0
    assert "pattern '^ab' · 2 characters to match" in capsys.readouterr().out  # and nothing stayed Russian


@pytest.mark.parametrize(
    "argv",
    [
        ["odds", "btc", "^ab", "--json"],
        ["odds", "eth", "^dead", "--budget", "2^20", "--fuzzy", "--json"],
        ["combine", "btc", "--private-key", "1" * 64, "--offset", "2" * 64, "--json"],
        ["combine", "eth", "--private-key", "1" * 64, "--offset", "2" * 64, "--identifier", "0xdead", "--json"],
        ["odds", "btc", "O0Il", "--exact-case", "--json"],  # refused: the error line of a --json run is English too
    ],
)
def test_machine_readable_output_is_byte_identical_in_every_language(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = []
    for lang in ("C.UTF-8", "ru_RU.UTF-8", "es_ES.UTF-8"):
        speaking(monkeypatch, lang)
        code = main(argv)
        captured = capsys.readouterr()
        seen.append((code, captured.out, captured.err))
    assert seen[0] == seen[1] == seen[2]
    assert seen[0][1] or seen[0][2].startswith("vanikeys: error: ")


@pytest.mark.parametrize("locale", ["en", "es", "pt_BR", "ru", "en_XA"])
def test_argparses_own_words_keep_its_placeholders_in_every_locale(locale: str) -> None:
    """argparse %-formats its words after looking them up: a translation that lost or renamed one would crash."""
    import re

    from gpu_worker.cli import ARGPARSE_WORDS
    from gpu_worker.i18n import gettext_now, use_locale

    placeholder = re.compile(r"%\(\w+\)\w|%\w")
    values = {"argument_name": "--x", "message": "m", "value": "v", "choices": "a, b", "type": "int"}
    values |= {"option": "--e", "matches": "--ex, --ey"}
    with use_locale(locale):
        for word in ARGPARSE_WORDS:
            shown = gettext_now(word)
            assert sorted(placeholder.findall(shown)) == sorted(placeholder.findall(word)), (word, shown)
            shown % (values if "%(" in word else ("x",) if "%" in word else ())  # formats as argparse does
            assert locale == "en" or shown != word, word


def test_a_usage_error_and_the_help_screen_are_in_one_language(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    speaking(monkeypatch, "es_ES.UTF-8")
    assert main(["grind", "btc", "ab", "--backend", "abacus"]) == 2
    assert capsys.readouterr().err == (
        "vanikeys: error: argumento --backend: opción no válida: 'abacus' (elige entre 'auto', 'python', 'native',"
        " 'cuda') (mira: vanikeys grind --help)\n"
    )
    assert main(["odds", "--help"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("uso: vanikeys odds") and "\nopciones:\n" in shown and "muestra esta ayuda y sale" in shown
    import argparse
    import gettext

    assert vars(argparse)["_"] is gettext.gettext  # argparse's own lookup is back as it was, for anyone else


def test_the_progress_line_of_a_grind_is_in_the_locale() -> None:
    from gpu_worker.cli import _progress_status
    from gpu_worker.grinders.base import GrindProgress
    from gpu_worker.i18n import use_locale

    job = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^abc", "budget": 100_000, "stop": "budget", "top": 1})
    progress = GrindProgress(checked=12_345, budget=100_000, elapsed_s=2.0, best_score=2, max_score=3)
    with use_locale("ru"):
        assert _progress_status(job, progress, 1e6) == "12\xa0345 ключей · 6\xa0172/с · лучший 2/3 · осталось 14 с"
    assert _progress_status(job, progress, 1e6) == "12,345 keys · 6,172/s · best 2/3 · ETA 14 s"


def test_a_ctrl_c_while_a_fresh_pool_starts_is_held_until_its_workers_have_started_then_raised() -> None:
    """Ctrl-C pressed while the pool starts its workers reaches the grind once they have (the window used to ignore
    it, so on a loaded machine, where the workers start slowly, the Ctrl-C was lost and the grind went on)."""
    assert threading.current_thread() is threading.main_thread(), "Ctrl-C is the main thread's to take"
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    held = False
    try:
        with pytest.raises(KeyboardInterrupt), _sigint_held_while_workers_start():
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # the main thread's, as a terminal's would be
            time.sleep(0.05)
            held = True
    finally:
        signal.signal(signal.SIGINT, previous)
    assert held, "the Ctrl-C was raised inside the window, while workers were still starting"
