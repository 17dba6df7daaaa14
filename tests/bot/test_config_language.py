"""A settings error at start-up: the command line prints its explanation in the terminal's language, the variable
and the value as typed; the error itself (what a log record or a script gets) stays English."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import ConfigError, load_settings
from gpu_worker.i18n import use_locale
from gpu_worker.localized import in_current_locale

LANGUAGE_VARIABLES = ("VANIKEYS_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def test_a_bad_setting_is_explained_in_the_terminals_language_and_logged_in_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("VANIKEYS_") or name in LANGUAGE_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("LANG", "es_ES.UTF-8")
    monkeypatch.setenv("VANIKEYS_PULL_PRICE", "abc")
    assert main(["costs"]) == 2
    assert (
        capsys.readouterr().err == "vanikeys: error: VANIKEYS_PULL_PRICE='abc': un número entero de tokens, 0 o más\n"
    )

    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    monkeypatch.setenv("VANIKEYS_PULL_PRICE", "1")
    monkeypatch.setenv("VANIKEYS_ODDS_WORKERS", "-3")
    assert main(["costs"]) == 2
    assert capsys.readouterr().err == "vanikeys: error: VANIKEYS_ODDS_WORKERS='-3': целое число процессов, от 0 до 8\n"


def test_the_error_itself_is_english_whatever_the_locale_it_was_raised_in(caplog: pytest.LogCaptureFixture) -> None:
    with use_locale("ru"), pytest.raises(ConfigError) as raised:
        load_settings({"VANIKEYS_PULL_PRICE": "abc", "VANIKEYS_LOG_FORMAT": "x"}, dotenv_path=None)
    error = raised.value
    english = (
        "VANIKEYS_PULL_PRICE='abc': a whole number of tokens, 0 or more; VANIKEYS_LOG_FORMAT='x': one of human, json"
    )
    assert str(error) == english
    with caplog.at_level(logging.WARNING):
        logging.getLogger("vanikeys").warning("%s", error)
    assert caplog.messages == [english]
    with use_locale("pt_BR"):
        assert in_current_locale(error) == (
            "VANIKEYS_PULL_PRICE='abc': um número inteiro de tokens, 0 ou mais; "
            "VANIKEYS_LOG_FORMAT='x': um de human, json"
        )


def test_storage_vault_and_pack_errors_at_start_up_are_printed_in_the_terminals_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith(("VANIKEYS_", "STRIPE_")) or name in LANGUAGE_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    missing = tmp_path / "none.db"
    monkeypatch.setenv("VANIKEYS_DB", str(missing))
    assert main(["costs"]) == 2
    assert capsys.readouterr().err == f"vanikeys: error: базы данных в {missing} нет: укажи в VANIKEYS_DB базу бота\n"

    monkeypatch.setenv("LANG", "es_ES.UTF-8")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_x")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_" + "A" * 32)
    monkeypatch.setenv("VANIKEYS_CURRENCY", "xx")
    assert main(["bot"]) == 2  # refused before anything starts
    assert capsys.readouterr().err == (
        "vanikeys: error: VANIKEYS_CURRENCY='xx' no está soportada: pon un código de tres letras con céntimos, "
        "como usd, eur o gbp\n"
    )
    monkeypatch.delenv("VANIKEYS_CURRENCY")
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    assert main(["bot"]) == 2
    assert capsys.readouterr().err == (
        "vanikeys: error: STRIPE_WEBHOOK_SECRET no está definida: define STRIPE_API_KEY y STRIPE_WEBHOOK_SECRET, "
        "o ninguna para funcionar sin pagos\n"
    )


def test_a_vault_key_file_error_is_english_in_the_log_and_translated_where_printed(tmp_path: Path) -> None:
    from bot.storage.opening import fault_line
    from bot.vault import VaultError, read_key_file

    folder = tmp_path / "vault.key"
    folder.mkdir()  # a directory where the key file should be
    with use_locale("ru"), pytest.raises(VaultError) as raised:
        read_key_file(folder)
    assert str(raised.value) == f"the vault key file {folder} is a directory: set VANIKEYS_VAULT_KEY_FILE to a file"
    with use_locale("pt_BR"):
        assert fault_line(raised.value) == (
            f"o arquivo de chave do cofre {folder} é um diretório: defina VANIKEYS_VAULT_KEY_FILE com um arquivo"
        )


def test_a_bad_log_format_is_english_in_str_and_translated_where_printed() -> None:
    from bot.logs import formatter

    with use_locale("es"), pytest.raises(ConfigError) as raised:
        formatter("xml")
    assert str(raised.value) == "VANIKEYS_LOG_FORMAT='xml' is not a log format: set human or json"
    with use_locale("ru"):
        assert in_current_locale(raised.value) == "VANIKEYS_LOG_FORMAT='xml' — не формат логов: задай human или json"


def test_the_front_ends_start_up_refusals_are_english_in_str_and_translated_where_printed() -> None:
    """The checks the Discord and Telegram front ends and the web listener make by hand at start-up (shards, Stars
    packs, sync targets, a port that is taken) speak the reader's language like the settings' own errors."""
    from bot.frontends.discord.shards import shard_options
    from bot.frontends.discord.sync import parse_targets
    from bot.frontends.telegram.config import parse_stars_packs

    refusals = []
    for attempt in (
        lambda: shard_options({"VANIKEYS_DISCORD_SHARDS": "0-3"}),
        lambda: shard_options({"VANIKEYS_DISCORD_SHARDS": "0-9/4"}),
        lambda: parse_targets(["everywhere"]),
        lambda: parse_stars_packs("small=100"),
    ):
        with pytest.raises(ConfigError) as refused:
            attempt()
        refusals.append(refused.value)
    english = [str(exc) for exc in refusals]
    assert english[0] == (
        "VANIKEYS_DISCORD_SHARDS='0-3' names no shard total: "
        'set VANIKEYS_DISCORD_SHARDS to "FIRST-LAST/TOTAL" or "ID,ID,.../TOTAL", e.g. "0-3/8"'
    )
    assert english[1] == "VANIKEYS_DISCORD_SHARDS='0-9/4': shard ids run from 0 to 3 for a total of 4"
    with use_locale("es"):
        spanish = [in_current_locale(exc) for exc in refusals]
    assert spanish[0] == (
        "VANIKEYS_DISCORD_SHARDS='0-3' no indica el total de shards: "
        'define VANIKEYS_DISCORD_SHARDS como "PRIMERO-ÚLTIMO/TOTAL" o "ID,ID,.../TOTAL", p. ej. "0-3/8"'
    )
    assert spanish[1] == "VANIKEYS_DISCORD_SHARDS='0-9/4': los ids de shard van de 0 a 3 para un total de 4"
    assert spanish[2].startswith("'everywhere' no es un destino de sincronización")
    assert spanish[3].startswith("la parte 'small=100' de TELEGRAM_STARS_PACKS no es paquete=tokens:estrellas")
    assert [str(exc) for exc in refusals] == english, "reading it in Spanish left the error itself English"
