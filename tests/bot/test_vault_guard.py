"""The vault key is guarded: a lost or different key refuses to start (naming the file and the fix) instead of
sealing new secrets under a key that cannot open the old ones; `vanikeys vault rotate` re-seals them all."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bot.answers import ServiceError
from bot.app import create_app
from bot.config import Settings
from bot.vault import VaultError, fingerprint, parse_vault_key, rotate
from tests.warm import shared

from .conftest import ALICE, RecordingFrontEnd, small_settings, store_overrides

REPO = Path(__file__).resolve().parents[2]


async def seal_one_undelivered(settings: Settings) -> str:
    """A pull whose key could not be sent (DMs closed): it waits sealed in the vault. Returns the job id."""
    async with create_app(settings) as app:
        app.service.register_frontend(RecordingFrontEnd(dms_open=False))
        await app.service.grant(ALICE, 1)
        return (await app.service.pull(ALICE, None, "ab", allow_easy=True)).job_id


def cli(env_extra: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VANIKEYS_", "DISCORD_", "TELEGRAM_", "STRIPE_"))}
    env.update(VANIKEYS_BACKEND="python", VANIKEYS_PULL_BUDGET_CPU="60", **env_extra)
    return shared().run("bot.cli", args, env=env, cwd=REPO, input=stdin, timeout=60)


async def test_a_lost_key_file_refuses_to_start_naming_the_file(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, vault_key=None)
    await seal_one_undelivered(settings)
    key_file = settings.resolved_vault_key_file
    key_file.rename(tmp_path / "backup.key")
    with pytest.raises(VaultError) as refused:
        async with create_app(settings):
            pass
    assert str(key_file) in refused.value.message and "restore" in refused.value.message
    assert not key_file.exists(), "a new key was made in place of the lost one"
    done = cli({"VANIKEYS_DB": str(settings.db_path)}, "console", "--json", stdin="/balance\n")
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("vanikeys: error:") and str(key_file) in line and "1 undelivered secret" in line


async def test_a_different_key_refuses_and_rotate_reseals_every_secret(tmp_path: Path) -> None:
    old_file, new_file = tmp_path / "old.key", tmp_path / "new.key"
    old_file.write_text("5a" * 32 + "\n")
    settings = small_settings(tmp_path, vault_key=None, vault_key_file=old_file)
    job_id = await seal_one_undelivered(settings)
    other = "6b" * 32
    with pytest.raises(VaultError, match="vanikeys vault rotate --old"):
        async with create_app(settings.replace(vault_key=other)):
            pass
    env = {"VANIKEYS_DB": str(settings.db_path), "VANIKEYS_VAULT_KEY_FILE": str(old_file)}
    done = cli(env, "vault", "rotate", "--old", str(old_file), "--new", str(new_file))
    assert done.returncode == 0, done.stderr
    assert "re-sealed 1 secret" in done.stdout and new_file.exists()
    new_key = parse_vault_key(new_file.read_text(), source=str(new_file))
    assert fingerprint(new_key) in done.stdout
    again = cli(env, "vault", "rotate", "--old", str(old_file), "--new", str(new_file))
    assert again.returncode == 0 and "re-sealed 0 secret" in again.stdout
    with pytest.raises(VaultError):  # the old key no longer opens what the vault holds
        async with create_app(settings):
            pass
    async with create_app(settings.replace(vault_key_file=new_file)) as app:
        fe = RecordingFrontEnd()
        app.service.register_frontend(fe)
        assert (await app.service.keys(ALICE)).delivered == (job_id,)
        [(_, delivery)] = fe.deliveries
        assert delivery.job_id == job_id


async def test_rotate_refuses_a_wrong_old_key_and_changes_nothing(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, vault_key="5a" * 32)
    await seal_one_undelivered(settings)
    async with create_app(settings, resume_jobs=False) as app:
        before = await app.db.fetchall("SELECT nonce, ciphertext, key_fingerprint FROM vault")
        with pytest.raises(VaultError, match="nothing was changed"):
            await rotate(app.db, bytes.fromhex("7c" * 32), bytes.fromhex("6b" * 32))
        after = await app.db.fetchall("SELECT nonce, ciphertext, key_fingerprint FROM vault")
        assert [tuple(r) for r in before] == [tuple(r) for r in after]


async def test_secrets_sealed_before_fingerprints_are_checked_then_recorded(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, vault_key="5a" * 32)
    await seal_one_undelivered(settings)
    async with create_app(settings, resume_jobs=False) as app:  # as an older version left it
        async with app.db.transaction() as tx:
            await tx.execute("UPDATE vault SET key_fingerprint = NULL")
    with pytest.raises(VaultError, match="sealed before key fingerprints"):
        async with create_app(settings.replace(vault_key="6b" * 32)):
            pass
    async with create_app(settings, resume_jobs=False) as app:
        row = await app.db.fetchone("SELECT key_fingerprint FROM vault")
        assert row["key_fingerprint"] == fingerprint(bytes.fromhex("5a" * 32))


async def test_keys_answers_when_a_secret_does_not_open_with_this_process_key(store_settings: Settings) -> None:
    """Another process (on one PostgreSQL) re-sealed under a key this one lacks: /keys answers, never a traceback."""
    async with create_app(store_settings) as app:
        app.service.register_frontend(RecordingFrontEnd(dms_open=False))
        await app.service.grant(ALICE, 1)
        await app.service.pull(ALICE, None, "ab", allow_easy=True)
        await rotate(app.db, bytes.fromhex(store_settings.vault_key or ""), bytes(range(1, 33)))
        app.service.register_frontend(RecordingFrontEnd())
        with pytest.raises(ServiceError) as answered:
            await app.service.keys(ALICE)
        assert answered.value.code == "vault_unavailable" and "try /keys again later" in answered.value.message


async def test_postgres_needs_a_key_given_to_every_process(tmp_path: Path, postgres_server) -> None:
    url = await postgres_server.fresh_database()
    with pytest.raises(VaultError, match="VANIKEYS_VAULT_KEY"):
        async with create_app(small_settings(tmp_path, db_url=url, vault_key=None)):
            pass


@pytest.mark.parametrize(
    ("where", "text", "named"),
    [
        ("env", "not-a-key", "VANIKEYS_VAULT_KEY must"),
        ("env", "00" * 32, "VANIKEYS_VAULT_KEY is all zeros"),
        ("file", "zz" * 32, "the vault key file"),
        ("file", "00" * 32, "is all zeros"),
    ],
)
def test_malformed_or_zero_keys_are_refused_naming_where_they_came_from(
    tmp_path: Path, where: str, text: str, named: str
) -> None:
    env = {"VANIKEYS_DB": str(tmp_path / "v.db")}
    if where == "env":
        env["VANIKEYS_VAULT_KEY"] = text
    else:
        (tmp_path / "v.db.vaultkey").write_text(text)
    done = cli(env, "console", "--json", stdin="/balance\n")
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert named in line
    if where == "file":
        assert str(tmp_path / "v.db.vaultkey") in line and "VANIKEYS_VAULT_KEY must" not in line


def test_vault_error_is_a_one_line_service_answer() -> None:
    err = VaultError("x")
    assert isinstance(err, ServiceError) and err.code == "vault_key"
    assert json.dumps({"message": err.message})


def test_an_operator_command_answers_a_vault_key_fault_in_its_own_words() -> None:
    """storage_faults_answered sits below the vault (bot/storage/opening.py): it knows VaultError by its code."""
    from bot.storage.opening import FAULT_EXIT_CODE, fault_line, storage_faults_answered

    assert fault_line(VaultError("the vault key in x is not the one these secrets were sealed with")) == (
        "the vault key in x is not the one these secrets were sealed with"
    )
    assert fault_line(ServiceError("busy", "wait")) is None  # another service answer is not a storage fault
    with pytest.raises(SystemExit) as exited, storage_faults_answered():
        raise VaultError("no vault key: set VANIKEYS_VAULT_KEY")
    assert exited.value.code == FAULT_EXIT_CODE


async def test_on_postgres_every_process_must_use_the_recorded_key(tmp_path: Path, postgres_server) -> None:
    url = await postgres_server.fresh_database()
    first, second = "5a" * 32, "6b" * 32
    async with create_app(small_settings(tmp_path, db_url=url, vault_key=first)):
        pass  # nothing sealed yet, but the key is recorded
    with pytest.raises(VaultError, match="every bot process"):
        async with create_app(small_settings(tmp_path, db_url=url, vault_key=second)):
            pass
    async with create_app(small_settings(tmp_path, db_url=url, vault_key=first), resume_jobs=False) as app:
        assert await rotate(app.db, bytes.fromhex(first), bytes.fromhex(second)) == 0
    async with create_app(small_settings(tmp_path, db_url=url, vault_key=second)):
        pass


async def test_every_store_refuses_a_process_with_another_key_even_with_nothing_sealed(
    tmp_path: Path, db_target: str | Path
) -> None:
    """SQLite checks the recorded fingerprint exactly as PostgreSQL does: a second process given another key would
    seal secrets the first cannot open, so it is refused before anything is sealed."""
    store = store_overrides(db_target)
    first, second = "5a" * 32, "6b" * 32
    async with create_app(small_settings(tmp_path, vault_key=first, **store)):
        pass  # nothing sealed, but the key is recorded
    with pytest.raises(VaultError, match="every bot process") as refused:
        async with create_app(small_settings(tmp_path, vault_key=second, **store)):
            pass
    assert fingerprint(bytes.fromhex(first)) in refused.value.message
    async with create_app(small_settings(tmp_path, vault_key=first, **store), resume_jobs=False) as app:
        assert await rotate(app.db, bytes.fromhex(first), bytes.fromhex(second)) == 0
    async with create_app(small_settings(tmp_path, vault_key=second, **store)):
        pass


async def test_a_lost_key_file_with_nothing_sealed_is_not_silently_replaced(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, vault_key=None)
    async with create_app(settings):
        pass
    key_file = settings.resolved_vault_key_file
    recorded = fingerprint(parse_vault_key(key_file.read_text()))
    key_file.unlink()
    with pytest.raises(VaultError, match="is missing") as refused:
        async with create_app(settings):
            pass
    assert recorded in refused.value.message and not key_file.exists()
