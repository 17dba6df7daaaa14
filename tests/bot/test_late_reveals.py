"""Reveals kept across a restart: stored per platform and chat, claimed by one process to post (oldest first),
forgotten once posted, claimable again if that process died; on both stores."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import App, create_app
from bot.community import late_reveals
from bot.config import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(store_settings: Settings) -> Settings:
    return store_settings


def lines(claimed: dict[str, list[late_reveals.LateReveal]]) -> dict[str, list[str]]:
    return {chat: [r.line for r in reveals] for chat, reveals in claimed.items()}


async def let_pass(app: App, seconds: float) -> None:
    """`seconds` pass for every claim: claims are on the database's clock, so the rows age instead."""
    async with app.db.transaction() as tx:
        await tx.execute("UPDATE late_reveals SET claimed_at = claimed_at - ?", (seconds,))


async def test_kept_reveals_are_claimed_once_per_chat_in_order(app: App) -> None:
    service = app.service
    assert await service.claim_late_reveals("telegram") == {}
    assert await service.keep_late_reveals("telegram", {"-100": ["a", "b"], "-200": ["c"]}) == 3
    assert await service.keep_late_reveals("discord", {"55": ["d"]}) == 1
    assert await service.keep_late_reveals("telegram", {}) == 0
    claimed = await service.claim_late_reveals("telegram")
    assert lines(claimed) == {"-100": ["a", "b"], "-200": ["c"]}
    assert await service.claim_late_reveals("telegram") == {}  # claimed already: nobody posts them twice
    await service.forget_late_reveals([r.id for r in claimed["-100"]])
    assert lines(await service.claim_late_reveals("discord")) == {"55": ["d"]}
    rows = await app.db.fetchall("SELECT line FROM late_reveals WHERE platform = 'telegram'")
    assert [r["line"] for r in rows] == ["c"]


async def test_a_claim_that_was_never_posted_lapses_and_the_next_start_posts_it(app: App) -> None:
    await app.service.keep_late_reveals("telegram", {"-100": ["a"]})
    first = await late_reveals.claim(app.db, "telegram")
    assert lines(first) == {"-100": ["a"]}
    await let_pass(app, late_reveals.CLAIM_LAPSES_S / 2)
    assert await late_reveals.claim(app.db, "telegram") == {}
    await let_pass(app, late_reveals.CLAIM_LAPSES_S)  # the first claimant died while posting
    assert lines(await late_reveals.claim(app.db, "telegram")) == {"-100": ["a"]}


async def test_two_processes_starting_at_once_split_the_reveals_never_share_one(app: App) -> None:
    await app.service.keep_late_reveals("telegram", {str(-100 - i): [f"line {i}"] for i in range(20)})
    claims = await asyncio.gather(*(app.service.claim_late_reveals("telegram") for _ in range(4)))
    ids = [r.id for claimed in claims for reveals in claimed.values() for r in reveals]
    assert len(ids) == 20 and len(set(ids)) == 20


async def test_kept_reveals_survive_closing_the_database(settings: Settings) -> None:
    async with create_app(settings) as app:
        await app.service.keep_late_reveals("telegram", {"-100": ["🎰 someone ^abc: 1abc Rare"]})
    async with create_app(settings) as app:
        (reveal,) = (await app.service.claim_late_reveals("telegram"))["-100"]
    assert reveal.line == "🎰 someone ^abc: 1abc Rare"


async def test_a_waiting_reveal_is_held_by_its_live_process_and_posted_once_that_process_is_gone(app: App) -> None:
    db = app.db
    row = await late_reveals.keep_waiting(db, "telegram", "-100", "waits", "proc-a")
    assert await late_reveals.claim(db, "telegram", lapse_s=60) == {}, "its process holds it"
    await let_pass(app, 50)
    await late_reveals.renew(db, "proc-a")
    await let_pass(app, 50)  # 100 s after it was kept, 50 s after the renewal: still held
    assert await late_reveals.claim(db, "telegram", lapse_s=60) == {}
    await let_pass(app, 20)  # proc-a died (no renewal for 70 s): a live process claims it
    claimed = await late_reveals.claim(db, "telegram", lapse_s=60)
    assert [r.id for r in claimed["-100"]] == [row]


# A process whose wall clock runs 10 minutes behind: it keeps one waiting reveal and renews its claim, then exits.
BEHIND = """
import asyncio, sys, time
real = time.time
time.time = lambda: real() - 600
from bot.community import late_reveals
from bot.storage import open_database

async def main():
    db = await open_database(sys.argv[1])
    print(await late_reveals.keep_waiting(db, "telegram", "-100", "in my queue", "proc-a"))
    await late_reveals.renew(db, "proc-a")
    await db.close()

asyncio.run(main())
"""


async def test_a_process_whose_clock_runs_behind_keeps_its_waiting_reveals(app: App, db_target: str | Path) -> None:
    """Before, each process wrote and compared claims on its own wall clock: a live process running 10 minutes
    behind had its just-renewed claim taken by a peer (whose clock said it had lapsed), and its queued reveal went
    out twice. Claims are on the database's clock now, as job leases are."""
    behind = subprocess.run(
        [sys.executable, "-c", BEHIND, str(db_target)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert behind.returncode == 0, behind.stderr
    row = int(behind.stdout)
    assert await app.service.claim_lapsed_reveals("telegram", "proc-b") == {}, "a live process's claim was taken"
    await let_pass(app, app.settings.job_lease_s + 1)  # proc-a died: its claim lapses on the database's clock
    claimed = await app.service.claim_lapsed_reveals("telegram", "proc-b")
    assert [r.id for r in claimed["-100"]] == [row]


async def test_a_stopping_process_releases_what_it_holds_for_the_next_start(app: App) -> None:
    await late_reveals.keep_waiting(app.db, "telegram", "-100", "still queued", "proc-b")
    await late_reveals.keep_waiting(app.db, "telegram", "-100", "another's", "proc-c")
    await late_reveals.release(app.db, "proc-b")
    assert lines(await app.service.claim_late_reveals("telegram")) == {"-100": ["still queued"]}


async def test_a_process_never_takes_back_its_own_waiting_reveal_even_when_its_renewal_is_late(app: App) -> None:
    await late_reveals.keep_waiting(app.db, "telegram", "-100", "still in my queue", "proc-d")
    await let_pass(app, 120)  # the renewal is late (a busy event loop, a slow database)
    assert await late_reveals.claim(app.db, "telegram", lapse_s=60, owner="proc-d") == {}
    assert lines(await late_reveals.claim(app.db, "telegram", lapse_s=60, owner="proc-e")) == {
        "-100": ["still in my queue"]
    }


def test_the_late_digest_title_is_one_function_below_both_front_ends() -> None:
    """ "N more pulls (from before the bot restarted)" is written once, in bot/community/late_reveals.py, and
    Discord's digests (and Telegram's, which calls the same function) start with it in every locale."""
    from pathlib import Path

    from bot.frontends.discord.rendering import late_reveal_digests
    from gpu_worker.i18n import use_locale

    root = Path(__file__).resolve().parents[2]
    writing = sorted(
        str(path.relative_to(root))
        for path in (root / "bot").rglob("*.py")
        if "more pulls (from before the bot restarted)" in path.read_text(encoding="utf-8")
    )
    assert writing == ["bot/community/late_reveals.py"]
    for locale in ("en", "ru"):
        with use_locale(locale):
            [(count, text)] = late_reveal_digests(["a", "b"])
            assert count == 2 and text.startswith(late_reveals.digest_title(2) + "\n")
