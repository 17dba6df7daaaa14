"""Languages across a restart, and failures people can read: an order placed in Spanish keeps showing its
progress (and its ending) in Spanish after the app restarts in-process, although nothing sets a locale for the
recovered order's task; a grind failure reads as its kind's sentence in the person's language, never the
engine's own English words. On both stores (the job's locale and failure kind are columns of their own)."""

from __future__ import annotations

import asyncio

import pytest

from bot.answers import CommunityRef, OrderView, ServiceError, UserRef
from bot.app import create_app
from bot.config import Settings
from bot.grinding import GrindingError, OrderProgress, OrderState
from bot.grinding.failures import SENTENCES, failure_kind, failure_reason
from gpu_worker.errors import VanikeysError
from gpu_worker.i18n import current, use_locale

from .conftest import RecordingFrontEnd
from .faults import GatedGrinder

ANA = UserRef("test", "ana", "Ana")
GROUP = CommunityRef("test", "grupo", "Los Vanidosos")
ENGINE_WORDS = "no exact match in 1,234 keys (raw engine words)"


@pytest.fixture
def settings(store_settings: Settings) -> Settings:
    return store_settings


class LocaleRecorder(RecordingFrontEnd):
    """Also notes the locale each order view was shown in."""

    def __init__(self) -> None:
        super().__init__()
        self.shown_in: list[str] = []

    async def order_progress(self, order: OrderView) -> None:
        self.shown_in.append(current())
        await super().order_progress(order)

    async def order_finished(self, order: OrderView) -> None:
        self.shown_in.append(current())
        await super().order_finished(order)


class RestartedOrderGrinder:
    """An order grinder: the first run reports progress and then grinds until the app stops; a run resumed
    after the restart reports progress, then gives up with the engine's own words."""

    backend = "scripted"
    durable = False

    def __init__(self) -> None:
        self.runs = 0
        self.progressed = asyncio.Event()

    async def submit(self, job: object) -> str:
        raise AssertionError("orders run through run_order")

    async def wait(self, job_id: str, job: object, on_progress: object = None) -> object:
        raise AssertionError("orders run through run_order")

    async def cancel(self, job_id: str) -> None:
        return None

    async def run_order(self, job_template, expected_keys, on_progress=None, resume_state=None):
        self.runs += 1
        state = OrderState(checked=1234 * self.runs)
        assert on_progress is not None
        await on_progress(OrderProgress(state.checked, 1000.0, expected_keys, None, 1, state))
        self.progressed.set()
        if self.runs == 1:
            await asyncio.Event().wait()  # grinding until the app stops
        raise GrindingError("order_failed", ENGINE_WORDS, kind="no_match")

    async def close(self) -> None:
        return None


async def test_an_order_recovered_after_a_restart_keeps_its_language(settings: Settings) -> None:
    grinder = RestartedOrderGrinder()
    async with create_app(settings, grinder=grinder) as app:  # type: ignore[arg-type]
        before = LocaleRecorder()
        app.service.register_frontend(before)
        await app.service.grant(ANA, 500)
        with use_locale("es"):  # the group's language, as a front end sets it for the update
            await app.service.order(ANA, GROUP, "^a", "btc")
        await asyncio.wait_for(grinder.progressed.wait(), 30)
    assert before.shown_in and set(before.shown_in) == {"es"}

    grinder.progressed.clear()
    assert current() == "en"  # the restarted app's tasks start with no locale of their own
    async with create_app(settings, grinder=grinder) as app:  # type: ignore[arg-type]
        after = LocaleRecorder()
        app.service.register_frontend(after)
        await asyncio.wait_for(grinder.progressed.wait(), 30)
        await app.jobs.wait_idle()
    assert grinder.runs == 2
    [progress] = after.progress
    [finished] = after.finished
    assert set(after.shown_in) == {"es"}
    assert "claves revisadas" in progress.message
    with use_locale("es"):
        reason = failure_reason("no_match")
    assert finished.status == "refunded" and reason in finished.message
    assert reason != SENTENCES["no_match"]  # translated
    assert "raw engine words" not in finished.message and "keys" not in finished.message


async def test_a_failed_pull_says_why_in_the_persons_language_not_the_engines(tmp_path, settings: Settings) -> None:
    grinder = GatedGrinder()
    grinder.release.set()  # its job fails at once: "the grinder failed on purpose"
    async with create_app(settings, grinder=grinder) as app:  # type: ignore[arg-type]
        app.service.register_frontend(RecordingFrontEnd())
        await app.service.grant(ANA, 5)
        with use_locale("ru"), pytest.raises(ServiceError) as refused:
            await app.service.pull(ANA, None, "^a", "btc", 1, allow_easy=True)
        [row] = await app.db.fetchall("SELECT error, error_kind FROM jobs")
    with use_locale("ru"):
        reason = failure_reason("grinder_failed")
    assert refused.value.code == "grind_failed" and reason in refused.value.message
    assert "on purpose" not in refused.value.message and "grinder" not in refused.value.message
    assert row["error_kind"] == "grinder_failed" and "on purpose" in row["error"]  # the words: operators only


def test_every_failure_a_person_can_see_has_a_kind_and_a_sentence() -> None:
    assert failure_kind(GrindingError("order_failed", "x", kind="no_match")) == "no_match"
    assert failure_kind(GrindingError("rejected", "x")) == "refused"
    assert failure_kind(VanikeysError("verification_failed", "x")) == "not_verified"
    assert failure_kind(RuntimeError("boom")) == "grinder_failed"
    for code in ("rejected", "failed", "timed_out", "cancelled", "lost", "worker_fault", "unavailable"):
        assert failure_kind(GrindingError(code, "x")) in SENTENCES  # type: ignore[arg-type]
    assert failure_reason("something stored before kinds") == failure_reason(None) != ""
