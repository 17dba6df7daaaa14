"""`vanikeys admin` on a real bot database: views, and changes that are ledger rows made exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot import admin
from bot.answers import ServiceError
from bot.app import create_app
from bot.cli import main
from bot.config import Settings
from bot.job_records import JobSpec
from tests.bot.conftest import RecordingFrontEnd, small_settings
from tests.ops.session import ALICE, CAROL, FAILING_PATTERN, FlakyProvider

REPO = Path(__file__).resolve().parents[2]


@dataclass
class World:
    settings: Settings
    env: dict[str, str]
    delivered: list[str]  # jobs delivered to Alice
    failed: str  # Alice's pull that the provider failed (refunded by the bot)
    undelivered: str  # Carol's pull (DMs closed): found, waiting for /keys
    waiting: str  # an accepted job nobody drives yet
    secrets: list[str]  # every secret value delivered


async def _build(settings: Settings) -> World:
    async with create_app(settings, grinder=FlakyProvider("python"), resume_jobs=False) as app:
        fe, closed = RecordingFrontEnd("test"), RecordingFrontEnd("closed", dms_open=False)
        app.service.register_frontend(fe)
        app.service.register_frontend(closed)
        await app.service.grant(ALICE, 20)
        await app.service.grant(CAROL, 5)
        delivered = [(await app.service.pull(ALICE, None, "ab", allow_easy=True)).job_id for _ in range(2)]
        with pytest.raises(ServiceError):
            await app.service.pull(ALICE, None, FAILING_PATTERN, allow_easy=True)
        [failed] = [r["job_id"] for r in await app.db.fetchall("SELECT job_id FROM jobs WHERE status = 'refunded'")]
        undelivered = (await app.service.pull(CAROL, None, "ab", allow_easy=True)).job_id
        spec = JobSpec(
            kind="pull",
            user=ALICE,
            community=None,
            origin=None,
            format_id="btc",
            pattern="ab",
            case_mode="insensitive",
            fuzzy=False,
            split_pubkey=None,
            count=1,
            budget=240,
            expected_keys=1.0,
        )
        waiting, _ = await app.jobs.create(spec, pulls=1, tokens=0)
        await app.jobs.db_release_all()
        secrets = [item.value for _, d in fe.deliveries for item in d.secrets]
    env = {
        "VANIKEYS_DB": str(settings.db_path),
        "VANIKEYS_VAULT_KEY": settings.vault_key or "",
        "VANIKEYS_PULL_PRICE": "1",
        "VANIKEYS_FREE_PULLS_PER_DAY": "0",
        "VANIKEYS_BACKEND": "python",
        "VANIKEYS_VAULT_GRACE_S": "0",
    }
    return World(settings, env, delivered, failed, undelivered, waiting.job_id, secrets)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    built = asyncio.run(_build(small_settings(tmp_path, vault_grace_s=3600.0)))  # the CLI's grace is 0
    monkeypatch.chdir(tmp_path)  # no .env of the repository's
    for name, value in built.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("USER", "tester")
    return built


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | str, str]:
    code = main(["admin", *argv])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


async def _ledger_rows(settings: Settings, key: str) -> list[dict]:
    async with admin.open_state(settings) as state:
        return [dict(r) for r in await state.db.fetchall("SELECT * FROM ledger WHERE idempotency_key = ?", (key,))]


def test_user_view_shows_money_jobs_and_undelivered_identifiers_never_secrets(world: World, capsys) -> None:
    code, alice, _ = cli(capsys, "user", "test:alice", "--json")
    assert code == 0
    assert (alice["balance"], alice["debt"], alice["frozen"]) == (20 - 2 - 1, 0, False)  # 2 pulls + the waiting one
    assert {j["job_id"] for j in alice["jobs"]} == {*world.delivered, world.failed, world.waiting}
    assert [r["kind"] for r in alice["ledger"]][-1] == "grant" and "refund" in [r["kind"] for r in alice["ledger"]]
    assert alice["undelivered_keys"] == []
    code, carol, _ = cli(capsys, "user", "closed:carol", "--json")
    assert code == 0
    [pending] = carol["undelivered_keys"]
    assert pending["job_id"] == world.undelivered and len(pending["identifiers"]) == 1
    assert pending["identifiers"][0].startswith("1")
    code, human, _ = cli(capsys, "user", "test:alice")
    assert code == 0 and "balance: 17" in human
    for text in (json.dumps(alice), json.dumps(carol), human):
        assert not any(secret in text for secret in world.secrets)
        assert "ciphertext" not in text and "nonce" not in text


def test_job_view_has_history_provider_and_what_the_user_was_told(world: World, capsys) -> None:
    code, job, _ = cli(capsys, "job", world.delivered[0], "--json")
    assert code == 0
    assert [step["status"] for step in job["history"]] == ["accepted", "submitted", "running", "found", "delivered"]
    assert job["provider"] == "python" and job["price_tokens"] == 1 and job["keys_checked"] >= 240
    assert job["told"][-1] == "the secret was sent privately" and job["told"][1].startswith("result shown: 1")
    assert job["provider_jobs"] == [] and job["provider_cost_usd"] == 0  # the in-process grinder bills nothing

    async def billed() -> None:  # as the router records a RunPod job it ran for this pull
        from bot.costs import UsageLog
        from bot.grinding.router import Usage

        async with admin.open_state(world.settings) as state:
            await UsageLog(state.db).record(
                Usage("runpod", "rp-1", f"{world.delivered[1]}-0", "pull", 1, 2.5, 0.00075, "completed")
            )

    asyncio.run(billed())
    code, paid, _ = cli(capsys, "job", world.delivered[1], "--json")
    assert (paid["provider_cost_usd"], paid["provider_gpu_seconds"]) == (0.00075, 2.5)
    assert [(u["provider"], u["backend_job_id"]) for u in paid["provider_jobs"]] == [("runpod", "rp-1")]
    code, failed, _ = cli(capsys, "job", world.failed, "--json")
    assert failed["status"] == "refunded" and "failed" in failed["told"][-1]
    assert [r["kind"] for r in failed["ledger"]] == ["pull", "refund"]
    assert not any(secret in json.dumps(job) for secret in world.secrets)


def test_grant_is_one_ledger_row_with_reason_operator_and_key_exactly_once(world: World, capsys) -> None:
    args = ("grant", "test:alice", "50", "--reason", "outage goodwill", "--by", "ops-anna", "--json")
    code, first, _ = cli(capsys, *args)
    assert code == 0 and first["applied"] and first["balance"] == 67
    code, retried, _ = cli(capsys, *args, "--key", first["idempotency_key"])  # the key it showed: a safe retry
    assert code == 0 and not retried["applied"] and retried["balance"] == 67
    assert "already applied" in retried["message"]
    [row] = asyncio.run(_ledger_rows(world.settings, first["idempotency_key"]))
    assert (row["kind"], row["tokens"], row["reason"], row["actor"]) == (
        "admin_grant",
        50,
        "outage goodwill",
        "ops-anna",
    )
    code, keyed, _ = cli(capsys, "grant", "test:alice", "5", "--reason", "contest", "--key", "contest-7", "--json")
    assert keyed["applied"] and keyed["balance"] == 72
    [row] = asyncio.run(_ledger_rows(world.settings, "admin:contest-7"))
    assert row["actor"] == "tester"  # $USER when --by is not given


def test_without_a_key_each_command_is_a_new_request(world: World, capsys) -> None:
    args = ("grant", "test:alice", "3", "--reason", "same words", "--json")
    _, first, _ = cli(capsys, *args)
    _, second, _ = cli(capsys, *args)
    assert first["applied"] and second["applied"] and second["balance"] == first["balance"] + 3
    assert first["idempotency_key"] != second["idempotency_key"]
    code, human, _ = cli(capsys, "grant", "test:alice", "1", "--reason", "shown")
    assert code == 0 and "idempotency_key: admin:grant:" in human


def test_freeze_unfreeze_freeze_again_the_same_day_freezes(world: World, capsys) -> None:
    reason = ("--reason", "abuse review", "--json")
    assert cli(capsys, "freeze", "test:alice", *reason)[1]["applied"]
    assert cli(capsys, "unfreeze", "test:alice", *reason)[1]["applied"]
    code, again, _ = cli(capsys, "freeze", "test:alice", *reason)
    assert code == 0 and again["applied"], again
    assert cli(capsys, "user", "test:alice", "--json")[1]["frozen"] is True


@pytest.mark.parametrize(
    ("changed", "names"),
    [
        (("grant", "test:alice", "9", "--reason", "contest"), "tokens 5, not 9"),
        (("grant", "closed:carol", "5", "--reason", "contest"), "user test:alice, not closed:carol"),
        (("grant", "test:alice", "5", "--reason", "other"), "reason 'contest', not 'other'"),
        (("take", "test:alice", "5", "--reason", "contest"), "action grant, not take"),
        (("freeze", "test:alice", "--reason", "contest"), "action grant, not freeze"),
    ],
)
def test_a_reused_key_with_other_arguments_is_refused_naming_the_difference(
    world: World, capsys, changed: tuple[str, ...], names: str
) -> None:
    assert cli(capsys, "grant", "test:alice", "5", "--reason", "contest", "--key", "k-1", "--json")[1]["applied"]
    code, out, err = cli(capsys, *changed, "--key", "k-1")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert names in err and "nothing changed" in err
    assert cli(capsys, "user", "test:alice", "--json")[1]["balance"] == 22  # only the first grant moved


@pytest.mark.parametrize(
    "argv, says",
    [
        (("grant", "test:nobody", "5", "--reason", "x"), "no account test:nobody"),
        (("grant", "test:alice", "0", "--reason", "x"), "out of range"),
        (("grant", "test:alice", "12abc", "--reason", "x"), "not a number"),
        (("grant", "alice", "5", "--reason", "x"), "PLATFORM:ID"),
        (("grant", "test:alice", "5"), "--reason"),
        (("grant", "test:alice", "5", "--reason", "   "), "say why"),
        (("take", "test:alice", "1000", "--reason", "x"), "take at most"),
        (("refund", "f" * 16, "--reason", "x"), "no job"),
        (("job", "nope"), "no job"),
        (("user", "test:ghost"), "no account"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(world: World, capsys, argv: tuple[str, ...], says: str) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("vanikeys: error: ") and says in err


def test_take_freeze_unfreeze_refund_and_purge(world: World, capsys) -> None:
    code, took, _ = cli(capsys, "take", "test:alice", "7", "--reason", "chargeback by hand", "--json")
    assert took["applied"] and took["balance"] == 10
    assert not cli(
        capsys, "take", "test:alice", "7", "--reason", "chargeback by hand", "--key", took["idempotency_key"], "--json"
    )[1]["applied"]

    code, froze, _ = cli(capsys, "freeze", "test:alice", "--reason", "abuse review", "--json")
    assert code == 0 and froze["applied"]
    assert not cli(capsys, "freeze", "test:alice", "--reason", "abuse review", "--json")[1]["applied"]  # frozen
    assert cli(capsys, "user", "test:alice", "--json")[1]["hold"]["reason"] == "abuse review"

    async def pull() -> str:
        async with create_app(world.settings, resume_jobs=False) as app:
            app.service.register_frontend(RecordingFrontEnd("test"))
            try:
                return (await app.service.pull(ALICE, None, "ab", allow_easy=True)).job_id
            except ServiceError as exc:
                return exc.code

    assert asyncio.run(pull()) == "account_frozen"
    code, unfroze, _ = cli(capsys, "unfreeze", "test:alice", "--reason", "review done", "--json")
    assert unfroze["applied"]
    assert asyncio.run(pull()) not in ("account_frozen",)

    # Carol's undelivered pull: refunded once, whoever asks again
    code, refunded, _ = cli(capsys, "refund", world.undelivered, "--reason", "key never arrived", "--json")
    assert refunded["applied"] and refunded["idempotency_key"] == f"refund:{world.undelivered}"
    assert refunded["balance"] == 5
    assert not cli(capsys, "refund", world.undelivered, "--reason", "again", "--json")[1]["applied"]
    assert not cli(capsys, "refund", world.failed, "--reason", "again", "--json")[1]["applied"]
    code, _, err = cli(capsys, "refund", world.waiting, "--reason", "stuck")
    assert code == 2 and "still accepted" in err

    code, purged, _ = cli(capsys, "purge", "--json")
    assert code == 0 and purged["purged"] == 3  # Alice's delivered keys (the CLI's grace is 0), not Carol's
    assert cli(capsys, "purge", "--json")[1]["purged"] == 0
    [pending] = cli(capsys, "user", "closed:carol", "--json")[1]["undelivered_keys"]
    assert not pending["purged"]

    async def audit() -> list[str]:
        async with admin.open_state(world.settings) as state:
            return await state.ledger.audit()

    assert asyncio.run(audit()) == []


def test_a_failed_job_left_unrefunded_by_a_crash_is_settled_once(world: World, capsys) -> None:
    async def crash_after_failing() -> None:  # the state a crash between "failed" and "refunded" leaves
        async with admin.open_state(world.settings) as state, state.db.transaction() as tx:
            await tx.execute(
                "UPDATE jobs SET status = 'failed', error = 'provider lost it' WHERE job_id = ?", (world.waiting,)
            )

    asyncio.run(crash_after_failing())
    code, settled, _ = cli(capsys, "refund", world.waiting, "--reason", "stuck", "--by", "ops-anna", "--json")
    assert code == 0 and settled["applied"] and settled["balance"] == 18
    assert not cli(capsys, "refund", world.waiting, "--reason", "stuck", "--json")[1]["applied"]
    [row] = asyncio.run(_ledger_rows(world.settings, f"refund:{world.waiting}"))
    assert row["actor"] == "ops-anna" and row["tokens"] == 1


def test_the_installed_command_answers_bad_input_in_one_line(world: World) -> None:
    env = {**os.environ, **world.env}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "admin", "grant", "test:alice", "-5", "--reason", "x"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize("fault", ["after_commit_reads_back", "after_commit_reads_fail", "before_commit"])
def test_a_storage_fault_under_a_change_says_what_committed(world: World, fault: str) -> None:
    from tests.bot.faults import StorageFaults

    async def change_under_a_fault() -> tuple[admin.Change | str, int]:
        async with admin.open_state(world.settings) as state:
            faults = StorageFaults(state.db)
            if fault == "before_commit":
                faults.down, faults.reads_down = True, False
            else:
                faults.after_commits(1, reads_fail=fault == "after_commit_reads_fail")
            key = "admin:fault-1"
            try:
                said: admin.Change | str = await admin.said_after_fault(
                    state, "grant", key, admin.grant(state, ALICE, 4, reason="goodwill", actor="anna", key=key)
                )
            except admin.AdminError as exc:
                said = str(exc)
            faults.heal()
            retried = await admin.grant(state, ALICE, 4, reason="goodwill", actor="anna", key=key)  # --key again
            rows = await state.db.fetchall("SELECT tokens FROM ledger WHERE idempotency_key = ?", (key,))
            assert len(rows) == 1 and await state.ledger.audit() == []
            return said, int(retried.applied)

    said, applied_on_retry = asyncio.run(change_under_a_fault())
    if fault == "after_commit_reads_back":
        assert isinstance(said, admin.Change) and said.applied and said.balance == 21
        assert "grant applied (admin:fault-1)" in said.message and "do not run it again" in said.message
        assert applied_on_retry == 0
    elif fault == "after_commit_reads_fail":
        assert isinstance(said, str) and "cannot tell yet whether it was applied" in said
        assert "--key admin:fault-1" in said and applied_on_retry == 0
    else:
        assert isinstance(said, str) and "it was not applied, nothing changed" in said
        assert applied_on_retry == 1


def test_a_russian_terminal_reads_admin_in_russian_and_its_json_stays_english(
    world: World, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("VANIKEYS_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C")
    english = cli(capsys, "user", "test:alice", "--json")
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    russian = cli(capsys, "user", "test:alice", "--json")
    assert russian == english  # for scripts: the same keys, values and words in every language

    code, human, _ = cli(capsys, "user", "test:alice")
    assert code == 0 and "\nбаланс: 17\n" in human and "\nbalance:" not in human
    code, granted, _ = cli(capsys, "grant", "test:alice", "3", "--reason", "тест")
    assert code == 0 and "сообщение: test:alice получил токенов: 3\n" in granted
    code, _, err = cli(capsys, "grant", "alice", "3", "--reason", "x")
    assert code == 2 and err == (
        "vanikeys: error: 'alice' — не пользователь: пиши ПЛАТФОРМА:ID, например discord:123456789 или telegram:42\n"
    )
