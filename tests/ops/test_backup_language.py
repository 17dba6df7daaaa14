"""`vanikeys backup` / `restore` as an operator reads them: in the terminal's language, in this process
(bot.cli.main); `--json` stays English."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from bot.cli import main
from bot.storage import open_database

LANGUAGE_VARIABLES = ("VANIKEYS_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


async def _fresh_database(path: Path) -> None:
    await (await open_database(path)).close()


def test_backup_and_restore_speak_the_terminals_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "live.db"
    asyncio.run(_fresh_database(db))
    for name in list(os.environ):
        if name.startswith("VANIKEYS_") or name in LANGUAGE_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VANIKEYS_DB", str(db))
    monkeypatch.setenv("VANIKEYS_VAULT_KEY", "44" * 32)
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")

    assert main(["backup", str(tmp_path / "b1")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"сделана копия sqlite в {tmp_path / 'b1'}/"), lines
    assert (
        lines[1]
        == "храни сам ключ хранилища в другом месте: без него ни один найденный ключ из этой копии не откроется"
    )

    assert main(["backup", str(tmp_path / "b1")]) == 2  # not an empty directory
    assert capsys.readouterr().err == (
        f"vanikeys: error: {tmp_path / 'b1'} уже существует и это не пустая папка: укажи новую папку для копии\n"
    )

    monkeypatch.setenv("LANG", "es_ES.UTF-8")
    assert main(["restore", str(tmp_path / "b1"), "--db", str(tmp_path / "new.db")]) == 0
    assert capsys.readouterr().out.startswith(f"restaurado {tmp_path / 'b1'} en {tmp_path / 'new.db'}: ")

    assert main(["backup", str(tmp_path / "b2"), "--json"]) == 0  # for scripts: English keys and values
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["source"] == "sqlite" and "vault_key_fingerprint" in manifest
