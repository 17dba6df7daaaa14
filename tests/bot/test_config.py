"""The one typed configuration: defaults, .env, one-line errors, generated docs, and no direct environment reads."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from bot.settings import VanikeysSettings, load_settings
from gpu_worker.config_fields import env_name
from gpu_worker.settings import WorkerSettings, load_worker_settings

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import gen_config_docs  # noqa: E402

# Every variable the code read before the settings were typed (grep of bot/, gpu_worker/, payments/ and
# deploy/): each must still work under its own name.
KNOWN_VARIABLES = (
    """
DISCORD_TOKEN TELEGRAM_TOKEN RUNPOD_API_KEY RUNPOD_ENDPOINT_ID RUNPOD_ORDERS_ENDPOINT_ID RUNPOD_BASE_URL
STRIPE_API_KEY STRIPE_WEBHOOK_SECRET STRIPE_SUCCESS_URL STRIPE_CANCEL_URL STRIPE_API_BASE
VANIKEYS_DB VANIKEYS_DB_CONNECT_TIMEOUT_S VANIKEYS_JOB_LEASE_S VANIKEYS_JOB_RETENTION_DAYS VANIKEYS_VAULT_KEY
VANIKEYS_VAULT_KEY_FILE VANIKEYS_VAULT_GRACE_S VANIKEYS_BACKEND VANIKEYS_PULL_BUDGET_GPU VANIKEYS_PULL_BUDGET_CPU
VANIKEYS_GPU_KEYS_PER_S VANIKEYS_CPU_KEYS_PER_S VANIKEYS_LOCAL_WORKERS VANIKEYS_GRIND_SLOTS VANIKEYS_ODDS_WORKERS
VANIKEYS_SELFHOSTED_URL VANIKEYS_SELFHOSTED_TOKEN VANIKEYS_SELFHOSTED_SLOTS VANIKEYS_MODAL_APP
VANIKEYS_RUNPOD_USD_PER_S VANIKEYS_SELFHOSTED_USD_PER_S VANIKEYS_MODAL_USD_PER_S VANIKEYS_USD_PER_TOKEN
VANIKEYS_PULL_TIME_LIMIT_S VANIKEYS_PULL_QUEUE_LIMIT_S VANIKEYS_FIRST_POLL_S VANIKEYS_DOWNTIME_ALLOWANCE_S
VANIKEYS_POLL_INTERVAL_S VANIKEYS_PULL_PRICE VANIKEYS_TEN_PULL_PULLS VANIKEYS_FREE_PULLS_PER_DAY
VANIKEYS_DAILY_SPEND_LIMIT VANIKEYS_KEYS_PER_TOKEN VANIKEYS_ORDER_PREMIUM VANIKEYS_MAX_ORDER_S
VANIKEYS_ORDER_ATTEMPT_FACTOR VANIKEYS_ORDER_PROGRESS_INTERVAL_S VANIKEYS_TIME_ZONE VANIKEYS_STREAK_MILESTONES
VANIKEYS_STREAK_BONUS_PULLS VANIKEYS_PACKS VANIKEYS_CURRENCY VANIKEYS_PUBLIC_URL VANIKEYS_WEBHOOK_HOST
VANIKEYS_WEBHOOK_PORT VANIKEYS_METRICS VANIKEYS_METRICS_HOST VANIKEYS_METRICS_PORT TELEGRAM_API_BASE_URL
TELEGRAM_API_FILE_URL TELEGRAM_WEBHOOK_URL TELEGRAM_WEBHOOK_LISTEN TELEGRAM_WEBHOOK_PORT TELEGRAM_WEBHOOK_SECRET
TELEGRAM_ADMIN_IDS TELEGRAM_COOLDOWN_S TELEGRAM_ODDS_COOLDOWN_S TELEGRAM_STALE_AFTER_S
TELEGRAM_GROUP_MESSAGES_PER_MINUTE TELEGRAM_STRIPE_TOPUP TELEGRAM_STARS_PACKS VANIKEYS_DISCORD_SYNC_ON_START
VANIKEYS_DISCORD_PULL_COOLDOWN_S VANIKEYS_DISCORD_ORDER_COOLDOWN_S VANIKEYS_DISCORD_ODDS_COOLDOWN_S
VANIKEYS_DISCORD_COMMAND_COOLDOWN_S VANIKEYS_DISCORD_ORDER_PROGRESS_GAP_S VANIKEYS_DISCORD_SHARDS
VANIKEYS_LOG_FORMAT VANIKEYS_MALLOC_ARENAS MALLOC_ARENA_MAX USER VANIKEYS_CRASH_AT VANIKEYS_PEERS
VANIKEYS_WORKER_BACKEND VANIKEYS_CACHE CXX VANIKEYS_CPU_CORES RUNPOD_LOG_LEVEL RUNPOD_DEBUG_LEVEL RUNPOD_WEBHOOK_GET_JOB
RUNPOD_WEBHOOK_POST_OUTPUT VANIKEYS_MODAL_GPU VANIKEYS_MODAL_MAX_CONTAINERS VANIKEYS_REQUIRE_GPU VANIKEYS_CARD_FONT
""".split()
    + """
VANIKEYS_ODDS_TIME_CAP_S VANIKEYS_ODDS_MEMORY_MB VANIKEYS_MODAL_MAX_IN_FLIGHT VANIKEYS_WEB
VANIKEYS_TRUSTED_PROXIES VANIKEYS_WEB_REQUESTS_PER_MINUTE VANIKEYS_MINIAPP_MAX_AGE_S VANIKEYS_METRICS_ON_WEBHOOK
VANIKEYS_START_RETRY_S
VANIKEYS_SELFHOSTED_PORT
VANIKEYS_LANGUAGE LANGUAGE LC_ALL LC_MESSAGES LANG
""".split()
)  # added since: the odds workers' caps, Modal's queue limit, the public pages, /metrics' opt-in, start-up retries,
# the box's health check port, the command line's language

# Only these modules may touch the environment; everything else reads a settings field.
SETTINGS_MODULES = {
    "bot/settings.py",
    "gpu_worker/settings.py",
    "gpu_worker/config_fields.py",
    "gpu_worker/config_model.py",
    "gpu_worker/terminal_language.py",  # the language at start, without pydantic (`vanikeys --help` stays fast)
}
HOW_TO_ADD = (
    "read settings, not the environment. To add a setting: add one field to VanikeysSettings in bot/settings.py "
    "(or WorkerSettings in gpu_worker/settings.py for the GPU worker), e.g.\n"
    '    queue_limit: int = setting("VANIKEYS_QUEUE_LIMIT", 10, "what it does, in one line", ge=0, unit="jobs")\n'
    "then read it as load_settings().queue_limit (a same-named field of bot/config.py Settings is filled in "
    "too), and run `python scripts/gen_config_docs.py` to regenerate README's table and .env.example."
)


def test_defaults_with_nothing_set(tmp_path: Path) -> None:
    s = Settings.from_env({}, dotenv_path=None)
    assert s.effective_backend == "local" and not s.stripe_configured and s.free_pulls_per_day == 3
    assert s.pull_cost_pulls(10) == 9 and s.pull_cost_pulls(1) == 1
    assert s.order_price(s.keys_per_token * 10) == 10 + s.order_premium
    assert s == Settings()  # the view's own defaults are the settings' defaults


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("VANIKEYS_PULL_PRICE=7\nVANIKEYS_DB=from-dotenv.db\nDISCORD_TOKEN=abc\nTELEGRAM_ADMIN_IDS=5\n")
    s = Settings.from_env(
        {"VANIKEYS_PULL_PRICE": "9", "RUNPOD_API_KEY": "k", "RUNPOD_ENDPOINT_ID": "e"}, dotenv_path=dotenv
    )
    assert s.pull_price == 9 and s.db_path == Path("from-dotenv.db") and s.discord_token == "abc"
    assert s.effective_backend == "runpod" and s.pull_budget == s.pull_budget_gpu
    assert load_settings({}, dotenv_path=dotenv).telegram_admin_ids == (5,)


def test_the_process_environment_is_read_when_no_mapping_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("VANIKEYS_FREE_PULLS_PER_DAY=5\nVANIKEYS_PULL_PRICE=7\n")
    monkeypatch.setenv("VANIKEYS_PULL_PRICE", " 12 ")
    monkeypatch.setenv("VANIKEYS_ORDER_PREMIUM", "   ")  # blank: the default
    s = Settings.from_env()
    assert (s.pull_price, s.free_pulls_per_day, s.order_premium) == (12, 5, 20)


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"VANIKEYS_PULL_PRICE": "abc"}, "VANIKEYS_PULL_PRICE='abc': a whole number of tokens, 0 or more"),
        ({"VANIKEYS_PULL_PRICE": "-1"}, "VANIKEYS_PULL_PRICE='-1': a whole number of tokens, 0 or more"),
        ({"VANIKEYS_PULL_PRICE": "٣"}, "VANIKEYS_PULL_PRICE='٣': a whole number of tokens, 0 or more"),
        ({"VANIKEYS_PULL_BUDGET_CPU": "0"}, "VANIKEYS_PULL_BUDGET_CPU='0': a whole number of keys, 1 or more"),
        (
            {"VANIKEYS_BACKEND": "quantum"},
            "VANIKEYS_BACKEND='quantum': one of auto, local, python, native, cuda, runpod",
        ),
        ({"VANIKEYS_MAX_ORDER_S": "nan"}, "VANIKEYS_MAX_ORDER_S='nan': a number of seconds, more than 0"),
        ({"TELEGRAM_COOLDOWN_S": "1e309"}, "TELEGRAM_COOLDOWN_S='1e309': a number of seconds, from 0 to 1,000,000,000"),
        ({"VANIKEYS_WEBHOOK_PORT": "http"}, "VANIKEYS_WEBHOOK_PORT='http': a port number, from 0 to 65,535"),
        ({"TELEGRAM_STRIPE_TOPUP": "maybe"}, "TELEGRAM_STRIPE_TOPUP='maybe': on or off"),
        (
            {"VANIKEYS_TIME_ZONE": "Mars/Olympus"},
            "VANIKEYS_TIME_ZONE='Mars/Olympus': an IANA time zone such as UTC or Europe/Berlin",
        ),
        ({"VANIKEYS_USD_PER_TOKEN": "a cent"}, "VANIKEYS_USD_PER_TOKEN='a cent': a number of dollars, 0 or more"),
        ({"VANIKEYS_SELFHOSTED_SLOTS": "0"}, "VANIKEYS_SELFHOSTED_SLOTS='0': a whole number of jobs, from 1 to 1,024"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable_the_value_and_what_is_accepted(
    env: dict[str, str], line: str
) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env, dotenv_path=None)
    assert str(err.value) == line


def test_a_bad_secret_is_named_without_its_value() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"TELEGRAM_WEBHOOK_SECRET": "not a header value"}, dotenv_path=None)
    assert str(err.value).startswith("TELEGRAM_WEBHOOK_SECRET=(hidden): ")
    assert "header value" not in str(err.value)
    assert "sk_live_x" not in repr(load_settings({"STRIPE_API_KEY": "sk_live_x"}, dotenv_path=None))


def test_a_bad_value_stops_the_bot_with_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VANIKEYS_PULL_PRICE": "abc"}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stderr == "vanikeys: error: VANIKEYS_PULL_PRICE='abc': a whole number of tokens, 0 or more\n"


def test_every_variable_read_before_still_works_under_its_name() -> None:
    fields = {env_name(info) for model in (VanikeysSettings, WorkerSettings) for info in model.model_fields.values()}
    assert not set(KNOWN_VARIABLES) - fields
    assert set(fields) - set(KNOWN_VARIABLES) == set()  # a new one is added to the list above with its test
    samples = {
        "VANIKEYS_BACKEND": "runpod",
        "VANIKEYS_METRICS": "on",
        "VANIKEYS_LOG_FORMAT": "json",
        "VANIKEYS_TIME_ZONE": "Europe/Berlin",
        "VANIKEYS_STREAK_MILESTONES": "3,7",
        "TELEGRAM_ADMIN_IDS": "1,2",
        "VANIKEYS_DISCORD_SYNC_ON_START": "global",
        "TELEGRAM_STRIPE_TOPUP": "on",
        "VANIKEYS_WORKER_BACKEND": "python",
        "TELEGRAM_WEBHOOK_URL": "https://bot.example/tg",
        "VANIKEYS_REQUIRE_GPU": "1",
        "VANIKEYS_WEB": "on",
        "VANIKEYS_TRUSTED_PROXIES": "10.0.0.0/8",
        "VANIKEYS_ODDS_MEMORY_MB": "1024",
        "VANIKEYS_METRICS_ON_WEBHOOK": "yes",
        "VANIKEYS_CRASH_AT": "job.found",
    }
    for name in KNOWN_VARIABLES:
        for model, load in ((VanikeysSettings, load_settings), (WorkerSettings, load_worker_settings)):
            found = model.field_for_env(name)
            if found is not None:
                value = samples.get(name, "5" if str(found[1].default) in ("3", "3.0") else "3")
                loaded = getattr(load({name: value}, dotenv_path=None), found[0])
                assert loaded != found[1].default, name


def test_the_worker_reads_its_settings_without_pydantic_settings_or_dotenv(tmp_path: Path) -> None:
    """The Modal image installs the engine's few packages only: the worker's settings need pydantic alone."""
    code = (
        "import sys; sys.modules['pydantic_settings'] = None; sys.modules['dotenv'] = None\n"
        "import gpu_worker.handler, gpu_worker.selfhosted, gpu_worker.grinders.native as native\n"
        "from gpu_worker.settings import load_worker_settings\n"
        "s = load_worker_settings()\n"
        "print(s.worker_backend, s.modal_max_containers, native.cache_dir())\n"
        "from gpu_worker.settings import ConfigError\n"
        "import os; os.environ['VANIKEYS_WORKER_BACKEND'] = 'gpu'\n"
        "try:\n    load_worker_settings()\nexcept ConfigError as exc:\n    print(exc)\n"
    )
    (tmp_path / ".env").write_text("VANIKEYS_MODAL_MAX_CONTAINERS=3\n")  # not read: no python-dotenv here
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VANIKEYS_WORKER_BACKEND": "python", "VANIKEYS_CACHE": "/tmp/vk"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "python 10 /tmp/vk",
        "VANIKEYS_WORKER_BACKEND='gpu': one of auto, python, native, cuda",
    ]
    assert load_worker_settings({}, dotenv_path=tmp_path / ".env").modal_max_containers == 3  # with python-dotenv


def test_the_views_take_their_values_from_the_one_settings_object() -> None:
    from bot.frontends.discord.config import DiscordConfig
    from bot.frontends.telegram.config import TelegramConfig
    from bot.metrics import MetricsConfig
    from payments.config import settings_from

    env = {
        "VANIKEYS_DISCORD_PULL_COOLDOWN_S": "7",
        "TELEGRAM_WEBHOOK_PORT": "9443",
        "TELEGRAM_ADMIN_IDS": "4",
        "VANIKEYS_METRICS_PORT": "9100",
        "STRIPE_API_KEY": "sk_test_a",
        "STRIPE_WEBHOOK_SECRET": "whsec_a",
        "VANIKEYS_WEBHOOK_PORT": "9000",
        "VANIKEYS_PACKS": "10=0.50",
    }
    assert DiscordConfig.from_env(env, dotenv_path=None).pull_cooldown_s == 7
    telegram = TelegramConfig.from_env("T", env, dotenv_path=None)
    assert telegram.webhook_port == 9443 and telegram.admin_ids == {4}
    assert MetricsConfig.from_env(env).port == 9100
    stripe = settings_from(env)
    assert stripe is not None and stripe.webhook_port == 9000 and [p.tokens for p in stripe.packs.packs] == [10]


def test_the_generated_docs_are_current() -> None:
    assert gen_config_docs.main(["--check"]) == 0, "run python scripts/gen_config_docs.py"
    for info in VanikeysSettings.model_fields.values():
        assert info.description, env_name(info)
        assert f"`{env_name(info)}`" in gen_config_docs.README.read_text(encoding="utf-8")
        assert f"# {env_name(info)}=" in gen_config_docs.ENV_EXAMPLE.read_text(encoding="utf-8")


def test_the_docs_check_fails_when_a_document_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme, example = tmp_path / "README.md", tmp_path / ".env.example"
    readme.write_text(
        gen_config_docs.README.read_text(encoding="utf-8").replace(
            "`VANIKEYS_PULL_PRICE` | `10`", "`VANIKEYS_PULL_PRICE` | `11`"
        )
    )
    example.write_text(gen_config_docs.env_example())
    monkeypatch.setattr(gen_config_docs, "ROOT", tmp_path)
    monkeypatch.setattr(gen_config_docs, "README", readme)
    monkeypatch.setattr(gen_config_docs, "ENV_EXAMPLE", example)
    assert gen_config_docs.main(["--check"]) == 1
    example.write_text(example.read_text() + "# VANIKEYS_UNKNOWN=1\n")
    assert gen_config_docs.main([]) == 0 and gen_config_docs.main(["--check"]) == 0  # regenerated
    assert "`VANIKEYS_PULL_PRICE` | `10`" in readme.read_text() and "UNKNOWN" not in example.read_text()


# --- no module reads the environment directly ---------------------------------------------------------------

_ENV_ATTRIBUTES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def environment_reads(source: str) -> list[tuple[int, str]]:
    """(line, what) for each direct use of the environment: os.environ/getenv/..., `from os import environ`, dotenv."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in _ENV_ATTRIBUTES:
            found.append((node.lineno, ast.unparse(node)))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(alias.name in _ENV_ATTRIBUTES for alias in node.names)
        ):
            found.append((node.lineno, "from os import " + ", ".join(a.name for a in node.names)))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(m == "dotenv" or m.startswith("dotenv.") for m in modules):
                found.append((node.lineno, "dotenv"))
    return found


def test_the_scan_finds_each_kind_of_direct_read() -> None:
    source = (
        "import os\nfrom os import getenv\nimport dotenv\nfrom dotenv import dotenv_values\n"
        "a = os.environ.get('X')\nb = os.getenv('Y')\nos.environ['Z'] = '1'\n"
    )
    assert sorted(line for line, _ in environment_reads(source)) == [2, 3, 4, 5, 6, 7]
    assert environment_reads("def f(environ):\n    return environ.get('X')\nimport os\nos.cpu_count()\n") == []


def test_no_module_reads_the_environment_directly() -> None:
    offenders = []
    for package in ("bot", "gpu_worker", "payments"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in SETTINGS_MODULES:
                continue
            offenders += [f"{relative}:{line}: {what}" for line, what in environment_reads(path.read_text("utf-8"))]
    assert not offenders, "\n".join(offenders) + "\n" + HOW_TO_ADD
