"""The console front end: command parsing, one reply per command, --json, private deliveries marked."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import random
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.answers import ServiceError
from bot.app import App
from bot.frontends.console import parse_line, run_console, split_order_args, split_pull_args
from tests.payments.stripe_thread import stripe_in_thread
from tests.warm import shared

REPO = Path(__file__).resolve().parents[2]


def test_pull_arguments_read_from_the_right() -> None:
    assert split_pull_args(["GO", "BE", "AWE", "SOME"]) == ("GO BE AWE SOME", "btc", 1)
    assert split_pull_args(["^Love", "eth", "10"]) == ("^Love", "eth", 10)
    assert split_pull_args(["cafe", "ETH"]) == ("cafe", "eth", 1)
    assert split_pull_args(["1"]) == ("1", "btc", 1)
    assert split_order_args(["^ab", "eth", "02" + "11" * 32]) == ("^ab", "eth", "02" + "11" * 32)
    command = parse_line('/pull "GO BE" --fuzzy --exact-case')
    assert command is not None and command.args == ["GO BE"] and command.fuzzy and command.exact_case
    assert parse_line("   ") is None and parse_line("# a comment") is None


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("pull ab", "start with '/'"),
        ("/", "after '/'"),
        ('/pull "ab', "quote is not closed"),
        ("/pull ab --turbo", "unknown option"),
        ("/pull", "Say what to look for"),
    ],
)
def test_bad_lines_are_one_clear_error(line: str, words: str) -> None:
    with pytest.raises(ServiceError) as err:
        command = parse_line(line)
        assert command is not None
        split_pull_args(command.args)
    assert words in err.value.message


async def run_lines(app: App, lines: list[str], *, as_json: bool, user: str = "erin") -> list[str]:
    out = io.StringIO()
    await run_console(
        app.service,
        user_name=user,
        community_name="desk",
        as_json=as_json,
        stdin=io.StringIO("".join(line + "\n" for line in lines)),
        stdout=out,
    )
    return out.getvalue().splitlines()


async def test_json_mode_one_object_per_reply_and_private_deliveries_marked(app: App) -> None:
    lines = await run_lines(
        app,
        [
            "/grant erin 5",
            "/pull ab --anyway",
            "/balance",
            "/pull ab btc 3",
            "/nope",
            "/balance extra",
            "/grant erin lots",
            "/leaderboard",
            "/history",
            "/odds ^ab",
            "/topup",
            "/keys",
            "/help",
        ],
        as_json=True,
    )
    replies = [json.loads(line) for line in lines]
    kinds = [r["type"] for r in replies]
    # the reveal, then the private key, then the final answer (delivered)
    assert kinds == [
        "grant",
        "pull_reveal",
        "private_delivery",
        "pull",
        "balance",
        "error",
        "error",
        "error",
        "error",
        "leaderboard",
        "history",
        "odds",
        "topup",
        "keys",
        "help",
    ]
    reveal, delivery, pull = replies[1]["data"], replies[2], replies[3]["data"]
    assert reveal["delivered"] is False and pull["delivered"] is True
    assert delivery["private"] is True and delivery["to"] == "erin" and delivery["data"]["secrets"][0]["value"]
    assert all(r["private"] is False for r in replies if r["type"] != "private_delivery")
    assert (
        pull["keys"][0]["identifier"] == delivery["data"]["secrets"][0]["identifier"] == reveal["keys"][0]["identifier"]
    )
    assert replies[4]["data"]["tokens"] == 4
    assert [r["code"] for r in replies[5:9]] == ["bad_count", "bad_command", "bad_command", "bad_number"]
    assert replies[9]["data"]["entries"][0]["user"]["user_id"] == "erin"


async def test_text_mode_marks_private_lines_and_highlights(app: App) -> None:
    lines = await run_lines(app, ["/grant erin 1", "/pull ab --anyway", "/pull ab --anyway"], as_json=False)
    private = [line for line in lines if "[private]" in line]
    assert private and all(line.startswith("[private]") or line.startswith("(private to erin)") for line in private)
    assert any("[" in line and "]" in line and "/1" not in line for line in lines if line.startswith("  1"))
    assert lines[-1].startswith("error: ") and "/topup" in lines[-1]


def test_vanikeys_console_in_a_pipe_and_engine_commands_still_there(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANIKEYS_")}
    env.update(VANIKEYS_DB=str(tmp_path / "c.db"), VANIKEYS_BACKEND="python", VANIKEYS_VAULT_KEY="33" * 32)
    warm = shared()
    done = warm.run(
        "bot.cli", ["console", "--user", "fay"], env=env, cwd=REPO, input="/balance\n/odds ^ab\n", timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("fay: 0 tokens; 3/3 free pulls")
    assert len(done.stdout.splitlines()) == 2
    bad = warm.run("bot.cli", ["console", "--user", ""], env=env, cwd=REPO, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--user" in bad.stderr
    engine = warm.run("bot.cli", ["--help"], env=env, cwd=REPO, timeout=60)
    assert all(name in engine.stdout for name in ("grind", "odds", "combine", "bot", "console"))


def test_vanikeys_bot_with_no_platform_token_runs_the_console(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    env.update(VANIKEYS_DB=str(tmp_path / "b.db"), VANIKEYS_BACKEND="python", VANIKEYS_VAULT_KEY="44" * 32)
    done = shared().run(
        "bot.cli", ["bot"], env=env | {"PYTHONPATH": str(REPO)}, cwd=tmp_path, input="/topup\n", timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "payments are not configured" in done.stdout


def _bot_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_", "RUNPOD_"))
    }
    env.update(
        VANIKEYS_DB=str(tmp_path / "b.db"),
        VANIKEYS_BACKEND="python",
        VANIKEYS_VAULT_KEY="44" * 32,
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


def test_vanikeys_bot_refuses_half_a_stripe_configuration(tmp_path: Path) -> None:
    done = shared().run(
        "bot.cli",
        ["bot"],
        env=_bot_env(tmp_path, STRIPE_API_KEY="sk_test_123"),
        cwd=tmp_path,
        input="/balance\n",
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "STRIPE_WEBHOOK_SECRET is not set" in done.stderr
    assert done.stdout == "", "nothing starts on a bad configuration"


def test_vanikeys_bot_keeps_serving_stripe_after_the_console_closes_and_stops_on_sigterm(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stripe = contextlib.ExitStack()
    fake_stripe = stripe.enter_context(
        stripe_in_thread("sk_test_123")
    )  # the bot reaches Stripe at start (bot/startup.py)
    env = _bot_env(
        tmp_path,
        STRIPE_API_KEY="sk_test_123",
        STRIPE_WEBHOOK_SECRET="whsec_test",
        VANIKEYS_WEBHOOK_PORT=str(port),
        STRIPE_API_BASE=fake_stripe.url,
    )
    bot = shared().popen("bot.cli", ["bot"], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        healthy = None
        while healthy is None and time.monotonic() < deadline and bot.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    healthy = json.loads(response.read())
            except OSError:
                time.sleep(0.2)
        assert healthy == {"ok": True}, f"no webhook server (exit {bot.poll()})"
        time.sleep(0.5)
        assert bot.poll() is None, "the bot exited when the console reached end of input"
        bot.send_signal(signal.SIGTERM)
        _, stderr = bot.communicate(timeout=30)
        assert bot.returncode == 0, stderr
        assert "still serving the Stripe webhook" in stderr
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.communicate()
        stripe.close()


def _read_until(fd: int, text: str, timeout_s: float = 60.0) -> str:
    seen = b""
    deadline = time.monotonic() + timeout_s
    while text.encode() not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"waited for {text!r}; the terminal shows {seen.decode(errors='replace')!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            assert chunk, f"the console exited before {text!r}: {seen.decode(errors='replace')!r}"
            seen += chunk
    return seen.decode(errors="replace")


def test_the_interactive_console_prompts_answers_and_leaves(tmp_path: Path) -> None:
    """On a terminal (a pty here) the console greets, prompts with '> ', answers, and /quit ends it cleanly."""
    env = _bot_env(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the console on the pty
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "bot.cli", "console", "--user", "ivy"], env)
    try:
        assert "type /help" in _read_until(fd, "> ")
        os.write(fd, b"/balance\n")
        # Up to the next prompt in one read: the answer and the prompt may arrive in one chunk.
        assert "ivy: 0 tokens; 3/3 free pulls left today" in _read_until(fd, "\n> ")
        os.write(fd, b"/quit\n")
        deadline = time.monotonic() + 30
        while (status := os.waitpid(pid, os.WNOHANG))[0] == 0:
            assert time.monotonic() < deadline, "the console did not leave on /quit"
            with contextlib.suppress(OSError):  # keep the pty drained so the child never blocks writing
                if select.select([fd], [], [], 0.1)[0]:
                    os.read(fd, 4096)
        assert os.waitstatus_to_exitcode(status[1]) == 0
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


# --- one person's screen, hostile numbers, the community commands ------------------------


async def test_startup_shows_only_the_console_users_own_pending_keys(tmp_path: Path) -> None:
    from bot.answers import UserRef
    from bot.app import create_app

    from .conftest import small_settings

    settings = small_settings(tmp_path)
    bob = UserRef("console", "bob", "bob")
    async with create_app(settings) as app:  # no front end running: bob's key waits in the vault
        await app.service.grant(bob, 2)
        pulled = await app.service.pull(bob, None, "^ab")
        assert not pulled.delivered
    async with create_app(settings) as app:
        erin_sees = await run_lines(app, ["/balance"], as_json=True, user="erin")
        await app.jobs.wait_idle()
    assert [json.loads(line)["type"] for line in erin_sees] == ["balance"]
    assert pulled.best.identifier not in "".join(erin_sees)
    async with create_app(settings) as app:
        bob_sees = [json.loads(line) for line in await run_lines(app, ["/balance"], as_json=True, user="bob")]
    [delivery] = [r for r in bob_sees if r["type"] == "private_delivery"]
    assert delivery["to"] == "bob" and delivery["data"]["secrets"][0]["identifier"] == pulled.best.identifier


async def test_unicode_digits_get_one_line_and_grant_nothing(app: App) -> None:
    lines = await run_lines(
        app, ["/grant erin 5", "/pull ab btc ²", "/grant bob ٣", "/grant bob 1e3", "/balance"], as_json=False
    )
    assert lines[0] == "granted 5 tokens to erin; balance now 5"
    assert lines[1].startswith("error: ") and "'²' is not a number" in lines[1]
    assert lines[2].startswith("error: ") and "'٣' is not a number" in lines[2]
    assert lines[3].startswith("error: ") and "not a number" in lines[3]
    assert lines[4].startswith("erin: 5 tokens") and len(lines) == 5
    from bot.answers import UserRef

    assert (await app.service.balance(UserRef("console", "bob"))).tokens == 0


async def test_the_community_commands_at_the_console(app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lines = await run_lines(
        app,
        [
            "/grant erin 20",
            "/gift bob 5",
            "/gift erin 1",
            "/gift bob ²",
            "/config",
            "/config pulls off",
            "/pull ^ab",
            "/config pulls on",
            "/pull ^ab",
            "/streak",
            "/season",
            "/profile --share",
            "/card",
            "/help",
        ],
        as_json=True,
    )
    replies = [json.loads(line) for line in lines]
    by_type: dict[str, list[dict]] = {}
    for reply in replies:
        by_type.setdefault(reply["type"], []).append(reply)
    gift = by_type["gift"][0]["data"]
    assert gift["applied"] and gift["balance_after"] == 15 and gift["recipient"]["user_id"] == "bob"
    assert [e["code"] for e in by_type["error"]] == ["bad_gift", "bad_number", "pulls_disabled"]
    configs = [r["data"] for r in by_type["config"]]
    assert configs[0]["changed"] is None and configs[1]["config"]["pulls_allowed"] is False
    assert configs[2]["config"]["pulls_allowed"] is True
    [reveal] = by_type["pull_reveal"]
    card_png = reveal["data"]["card_png"]
    assert card_png is None or card_png["bytes"] > 1000  # JSON carries a card's size, never its pixels
    assert by_type["streak"][0]["data"]["days"] == 1
    assert by_type["season"][0]["data"]["entries"][0]["user"]["user_id"] == "erin"
    profile = by_type["profile"][0]["data"]
    assert profile["share"] is True and profile["total_pulls"] == 1 and profile["season_rank"] == 1
    [card] = by_type["card"]
    saved = Path(card["data"].rsplit(" saved to ", 1)[1])
    assert (tmp_path / saved).is_file() and (tmp_path / saved).read_bytes().startswith(b"\x89PNG")


async def test_random_unicode_and_numbers_never_break_the_console(app: App) -> None:
    rng = random.Random(13)
    alphabet = "ab1 ²٣٤⁵①½-+.e^$?'\t" + "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(60))
    commands = ["/pull", "/grant", "/gift", "/config", "/card", "/odds", "/profile", "/topup", "/streak", "/season"]
    lines = []
    for _ in range(150):
        words = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 6))) for _ in range(rng.randrange(0, 4))]
        lines.append(" ".join([rng.choice(commands), *words]))
    replies = [json.loads(line) for line in await run_lines(app, lines, as_json=True)]
    answered = [r for r in replies if r["type"] not in ("pull_reveal", "private_delivery", "notice")]
    assert len(answered) == len(lines)  # one reply per line, none lost to an exception
    for reply in answered:
        if reply["type"] == "error":
            assert reply["message"] and "\n" not in reply["message"] and "Traceback" not in reply["message"]


@pytest.mark.parametrize(
    ("line", "code", "words"),
    [
        ("/pull ^Lov doge", "bad_format", "not doge"),  # an unsupported coin in the format's place
        ("/pull ^Lo btc 1e3", "bad_format", "'btc' is a format"),  # a format inside the pattern
        ("/order ^Lo eth ab", "bad_format", "'eth' is a format"),
        ("/odds ^Lo sol", "bad_format", "not sol"),
    ],
)
async def test_a_misplaced_or_unknown_format_is_refused_and_nothing_is_spent(
    app: App, line: str, code: str, words: str
) -> None:
    replies = [json.loads(reply) for reply in await run_lines(app, ["/grant erin 50", line, "/balance"], as_json=True)]
    assert [r["type"] for r in replies] == ["grant", "error", "balance"]
    assert replies[1]["code"] == code and words in replies[1]["message"]
    assert replies[2]["data"]["tokens"] == 50


async def test_a_pattern_that_spells_a_coin_pulls_when_the_format_is_named(app: App) -> None:
    replies = [
        json.loads(reply)
        for reply in await run_lines(app, ["/grant erin 50", "/pull ^Lo doge btc --anyway"], as_json=True)
    ]
    assert replies[-1]["type"] == "pull" and replies[-1]["data"]["pattern"] == "^Lo doge"


def test_output_that_arrives_at_the_prompt_clears_it_and_draws_it_again() -> None:
    from bot.frontends.console import CLEAR_LINE, PROMPT, ConsoleFrontEnd

    out = io.StringIO()
    frontend = ConsoleFrontEnd(out, as_json=False, interactive=True)
    frontend.emit("notice", "your order is 40% done")  # in answer to a command: printed as it is
    frontend.at_prompt = True
    frontend.emit("notice", "your order found its match")  # in the background, while "> " waits
    assert out.getvalue() == ("your order is 40% done\n" + CLEAR_LINE + "your order found its match\n" + PROMPT)
    piped = io.StringIO()
    not_a_terminal = ConsoleFrontEnd(piped, as_json=False, interactive=False)
    not_a_terminal.at_prompt = True
    not_a_terminal.emit("notice", "done")
    assert piped.getvalue() == "done\n", "a pipe gets plain lines, no terminal codes"


# --- the console in the terminal's language -------------------------------------------------------------------------

LANGUAGE_VARIABLES = ("VANIKEYS_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def console_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: list[str], *argv: str
) -> str:
    """`vanikeys console ARGV` as a person runs it, in this process (bot.cli.main): `lines` typed, what it printed."""
    from bot.cli import main

    monkeypatch.setenv("VANIKEYS_DB", str(tmp_path / "console.db"))
    monkeypatch.setenv("VANIKEYS_BACKEND", "python")
    monkeypatch.setenv("VANIKEYS_VAULT_KEY", "33" * 32)
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(line + "\n" for line in lines)))
    assert main(["console", *argv]) == 0
    return capsys.readouterr().out


def speaking(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for name in LANGUAGE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_a_spanish_terminal_gets_a_spanish_console_end_to_end(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    speaking(monkeypatch, LANG="es_ES.UTF-8")
    out = console_in_process(
        monkeypatch,
        capsys,
        tmp_path,
        ["/balance", "/grant you 20", "/pull ab --anyway", "/nope", "/pull ab --turbo", "/history", "/help"]
        + ["/grant you 30", "/order ^ab"],
    )
    assert out.startswith("you: 0 tokens; te quedan 3/3 tiradas gratis hoy; gastado hoy 0/1.000;"), out
    for spanish in (
        "20 tokens dados a you; saldo ahora 20",
        "you tiró 'ab' (Bitcoin (P2PKH)), 32.768 claves:",
        "[privado] solo para este usuario: tirada ",
        "  costó 0 tokens + 1 tirada gratis; saldo 20;",
        "error: comando desconocido /nope: prueba /help",
        "error: opción desconocida '--turbo'",
        "\nsaldo 20\n",
        "/grant <usuario> <tokens>",
        "admin de consola: añade tokens",
        " de '^ab': 21 tokens pagados, saldo 29;",
    ):
        assert spanish in out, spanish
    for english in ("free pulls", "pulled", "[private]", "unknown", "; balance", "cost ", "console admin"):
        assert english not in out, english
    finished = [line for line in out.splitlines() if line.startswith("pedido ") and "[" in line]
    assert finished and ("[encontrado]" in finished[-1] or "[completado]" in finished[-1]), out  # printed later


async def test_config_language_sets_the_consoles_language_until_set_back(app: App) -> None:
    lines = await run_lines(
        app, ["/balance", "/config language ru", "/balance", "/config language default", "/balance"], as_json=False
    )
    balances = [line for line in lines if line.startswith("erin: ")]
    assert len(balances) == 3
    assert "free pulls left today" in balances[0] and "free pulls left today" in balances[2]
    assert "бесплатных круток на сегодня" in balances[1] and "free pulls" not in balances[1]


async def test_the_main_flows_at_the_console_in_the_pseudo_locale(app: App) -> None:
    """The main flows every front end runs in the pseudo-locale: every line the console prints came through the
    catalogs (accented, or padded with "·"), bar the ledger's own rows (a date, a kind, tokens)."""
    from bot.i18n import PSEUDO, use_locale
    from tests.telegram.test_languages import MAIN_FLOWS

    with use_locale(PSEUDO):
        lines = await run_lines(
            app, ["/grant erin 100", *MAIN_FLOWS, "/leaderboard", "/order ^a", "/nope"], as_json=False
        )
    assert len(lines) >= 20
    untranslated = [
        line
        for line in lines
        if any(c.isascii() and c.isalpha() for c in line)
        and not any(c == "·" or (c.isalpha() and not c.isascii()) for c in line)
        and not line[:4].isdigit()  # a ledger row: "2026-12-06 06:32 pull +0 ..."
    ]
    assert not untranslated, untranslated
    assert any(line.startswith("[þŕîṽåţé]") for line in lines)  # the key, delivered privately


def test_console_json_is_byte_identical_in_every_language(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    typed = ["/balance", "/odds ^ab", "/help", "/nope", "/pull", "/pull ab --turbo", "/grant you x", "/history"]
    seen = []
    for lang in ("C.UTF-8", "ru_RU.UTF-8"):
        speaking(monkeypatch, LANG=lang)
        seen.append(console_in_process(monkeypatch, capsys, tmp_path / lang, typed, "--json"))
    assert seen[0] == seen[1]
    assert [json.loads(line)["type"] for line in seen[0].splitlines()][:3] == ["balance", "odds", "help"]
