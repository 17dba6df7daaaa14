"""Settings from the environment and .env: defaults, overrides, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings


def test_defaults_with_nothing_set(tmp_path: Path) -> None:
    s = Settings.from_env({}, dotenv_path=None)
    assert s.effective_backend == "local" and not s.stripe_configured and s.free_pulls_per_day == 3
    assert s.pull_cost_pulls(10) == 9 and s.pull_cost_pulls(1) == 1
    assert s.order_price(s.keys_per_token * 10) == 10 + s.order_premium


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("VANIKEYS_PULL_PRICE=7\nVANIKEYS_DB=from-dotenv.db\nDISCORD_TOKEN=abc\n")
    s = Settings.from_env({"VANIKEYS_PULL_PRICE": "9", "RUNPOD_API_KEY": "k", "RUNPOD_ENDPOINT_ID": "e"},
                          dotenv_path=dotenv)
    assert s.pull_price == 9 and s.db_path == Path("from-dotenv.db") and s.discord_token == "abc"
    assert s.effective_backend == "runpod" and s.pull_budget == s.pull_budget_gpu


@pytest.mark.parametrize(
    ("env", "words"),
    [({"VANIKEYS_PULL_PRICE": "ten"}, "is not a number"), ({"VANIKEYS_PULL_BUDGET_CPU": "0"}, "too small"),
     ({"VANIKEYS_BACKEND": "quantum"}, "set one of"), ({"VANIKEYS_MAX_ORDER_S": "nan"}, "too small")],
)
def test_bad_values_name_the_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env, dotenv_path=None)
    assert words in str(err.value) and next(iter(env)) in str(err.value)
