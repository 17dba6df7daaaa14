"""The router across real workers: a self-hosted worker process, the RunPod emulator and Modal's function
body run locally. Preference, overflow, failover at submit and mid-order, and the usage it records."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.costs import UsageLog, cost_report
from bot.grinding import GrindingError, OrderPolicy
from bot.grinding.modal_backend import ModalGrindingClient
from bot.grinding.model import Billed
from bot.grinding.router import Provider, RouterGrindingClient, Usage
from bot.grinding.runpod_api import RunpodApi
from bot.grinding.runpod_backend import RunpodGrindingClient
from bot.storage import open_database
from gpu_worker.job import GrindJob, GrindResult
from gpu_worker.sealing import ResultSealer
from gpu_worker.verify import verify_hit
from tests.warm import shared

from .conftest import FAST_RETRY, free_port
from .modal_local import LocalModalCalls
from .runpod_emulator import RunpodEmulator
from .test_runpod_client import make

REPO = Path(__file__).resolve().parents[2]
TOKEN = "selfhosted-test-token-0123456789"
PULL = GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": 300, "tag": "job0123456789ab"})
SLOW = GrindJob.parse({"v": 1, "format": "btc", "pattern": "^zzzzzz", "budget": 10**12, "time_limit_s": 3.0})
ORDER = GrindJob.parse({"v": 1, "format": "eth", "pattern": "^abcd", "budget": 1, "stop": "full"})  # ~65,536 keys
CHUNKS = OrderPolicy(chunk_seconds=0.3, initial_rate=2e4, max_parallel=2, max_failures=2)
LIMIT_S = 90


class Recorded:
    def __init__(self) -> None:
        self.usage: list[Usage] = []

    async def record(self, usage: Usage) -> None:
        self.usage.append(usage)


@pytest.fixture(autouse=True)
def python_worker_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANIKEYS_WORKER_BACKEND", "python")  # Modal's function body, run here


@asynccontextmanager
async def box_process(slots: int) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {**os.environ, "VANIKEYS_SELFHOSTED_TOKEN": TOKEN, "VANIKEYS_WORKER_BACKEND": "python"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gpu_worker.selfhosted",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--slots",
            str(slots),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v2"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(
                        f"{url}/selfhosted/health", headers={"Authorization": f"Bearer {TOKEN}"}
                    ) as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the self-hosted worker did not start")
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(20)


@pytest.fixture
async def selfhosted() -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    async with box_process(1) as box:
        yield box


async def box_billing(url: str) -> list[dict[str, object]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/selfhosted/billing", headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            return list((await response.json())["jobs"])


def selfhosted_client(url: str, sealer: ResultSealer, **settings: object) -> RunpodGrindingClient:
    api = RunpodApi(TOKEN, "selfhosted", base_url=url, retry=FAST_RETRY, request_timeout_s=5)
    return RunpodGrindingClient(
        api,
        name="selfhosted",
        idempotent_submit=True,
        poll_interval_s=0.05,
        max_poll_interval_s=0.1,
        outage_limit_s=1.0,
        order_policy=CHUNKS,
        sealer=sealer,
        **settings,
    )  # type: ignore[arg-type]


@pytest.fixture
async def modal_calls() -> AsyncIterator[LocalModalCalls]:
    calls = LocalModalCalls()
    yield calls
    await calls.stop()


async def test_modal_function_body_answers_like_the_runpod_worker(modal_calls: LocalModalCalls) -> None:
    client = ModalGrindingClient(modal_calls, poll_interval_s=0.02)
    job_id = await client.submit(PULL)
    result = await asyncio.wait_for(client.wait(job_id, PULL), LIMIT_S)
    assert result.checked == 300 and len(result.results) == 1
    verify_hit(PULL, result.results[0])
    sent = await modal_calls.calls[job_id]
    assert all(hit["secret"].startswith("sealed:") for hit in sent["results"])  # Modal holds only sealed secrets
    slow = await client.submit(SLOW)
    waiter = asyncio.create_task(client.wait(slow, SLOW))
    await asyncio.sleep(0.2)
    await client.cancel(slow)
    with pytest.raises(GrindingError) as caught:
        await asyncio.wait_for(waiter, LIMIT_S)
    assert caught.value.code == "cancelled" and modal_calls.running() == []


async def test_selfhosted_is_preferred_while_it_has_room_then_runpod_takes_the_overflow(
    emulator: RunpodEmulator, selfhosted: tuple[subprocess.Popen[bytes], str]
) -> None:
    _, url = selfhosted
    sealer = ResultSealer.generate()
    recorded = Recorded()
    box = selfhosted_client(url, sealer)
    runpod = make(emulator, sealer=sealer)
    router = RouterGrindingClient(
        [
            Provider("runpod", runpod, 0.00031, health=runpod.health),
            Provider("selfhosted", box, 0.0, slots=1, preferred=True, health=box.health),
        ],
        order_policy=CHUNKS,
        usage=recorded,
    )
    try:
        first = await router.submit(SLOW)
        second = await router.submit(SLOW)
        assert first.startswith("selfhosted:") and second.startswith("runpod:")  # the box is full: overflow
        results = await asyncio.wait_for(asyncio.gather(router.wait(first, SLOW), router.wait(second, SLOW)), LIMIT_S)
        assert all(r.checked > 0 for r in results)
        third = await router.submit(PULL)  # room again: back to the box
        assert third.startswith("selfhosted:")
        await asyncio.wait_for(router.wait(third, PULL), LIMIT_S)
    finally:
        await router.close()
    assert sorted((u.provider, u.kind, u.outcome) for u in recorded.usage) == [
        ("runpod", "pull", "completed"),
        ("selfhosted", "pull", "completed"),
        ("selfhosted", "pull", "completed"),
    ]
    [on_runpod] = [u for u in recorded.usage if u.provider == "runpod"]
    assert on_runpod.gpu_s > 0 and on_runpod.cost_usd == pytest.approx(on_runpod.gpu_s * 0.00031)
    assert recorded.usage[-1].job_ref == PULL.tag and recorded.usage[-1].cost_usd == 0.0


async def test_a_submit_fails_over_when_runpod_is_down(emulator: RunpodEmulator, modal_calls: LocalModalCalls) -> None:
    sealer = ResultSealer.generate()
    runpod = make(emulator, sealer=sealer)
    modal = ModalGrindingClient(modal_calls, poll_interval_s=0.02, sealer=sealer)
    router = RouterGrindingClient(
        [Provider("runpod", runpod, 0.0002), Provider("modal", modal, 0.0003)], order_policy=CHUNKS, cooldown_s=60
    )
    try:
        emulator.outage(30.0)
        job_id = await router.submit(PULL)  # runpod is cheaper, but its /runsync answers 503: modal takes it
        assert job_id.startswith("modal:")
        await asyncio.wait_for(router.wait(job_id, PULL), LIMIT_S)
        assert (await router.ranked())[0].name == "modal"  # runpod rests after its failure
        emulator.outage(0)
        modal_calls.down = True
        job_id = await router.submit(PULL)  # modal (first now) is down; runpod, though resting, is still tried
        assert job_id.startswith("runpod:")
        await asyncio.wait_for(router.wait(job_id, PULL), LIMIT_S)
        modal_calls.down = False
        emulator.outage(30.0)
        modal_calls.down = True
        with pytest.raises(GrindingError) as caught:  # nobody takes it: unavailable, named per provider
            await router.submit(PULL)
        assert (
            caught.value.code == "unavailable" and "runpod" in caught.value.message and "modal" in caught.value.message
        )
    finally:
        await router.close()


async def test_an_order_fails_over_mid_order_when_the_selfhosted_box_dies(
    selfhosted: tuple[subprocess.Popen[bytes], str], modal_calls: LocalModalCalls, tmp_path: Path
) -> None:
    process, url = selfhosted
    sealer = ResultSealer.generate()
    db = await open_database(tmp_path / "usage.db")
    box = selfhosted_client(url, sealer)
    modal = ModalGrindingClient(modal_calls, poll_interval_s=0.02, sealer=sealer)
    router = RouterGrindingClient(
        [Provider("selfhosted", box, 0.0, slots=2, preferred=True), Provider("modal", modal, 0.0003)],
        order_policy=CHUNKS,
        usage=UsageLog(db),
        cooldown_s=60,
    )
    chunks_on_box: list[str] = []

    async def progress(report: object) -> None:
        for chunk in report.state.running:  # type: ignore[attr-defined]
            if chunk.job_id.startswith("selfhosted:") and chunk.job_id not in chunks_on_box:
                chunks_on_box.append(chunk.job_id)

    order = asyncio.create_task(
        router.run_order(ORDER.model_copy(update={"tag": "order0123456789a"}), 65536.0, progress)
    )
    try:
        for _ in range(400):
            await asyncio.sleep(0.05)
            if chunks_on_box:
                break
        assert chunks_on_box, "no chunk ran on the self-hosted box"
        process.kill()  # the box dies mid-order, its chunks with it
        outcome = await asyncio.wait_for(order, LIMIT_S)
    finally:
        if not order.done():
            order.cancel()
        await router.close()
    verify_hit(ORDER, outcome.hit)
    rows = await db.fetchall("SELECT provider, kind, outcome, job_ref, estimated FROM grind_usage")
    await db.close()
    # Neither Modal nor a dead box can say what it billed: those rows are the bot's estimate, and say so.
    assert all(r["estimated"] for r in rows if r["provider"] == "modal" or r["outcome"] == "unavailable")
    providers = {r["provider"] for r in rows if r["outcome"] == "completed"}
    assert "modal" in providers  # the rest of the order ran on Modal
    assert any(r["provider"] == "selfhosted" and r["outcome"] == "unavailable" for r in rows)  # the dead box's chunks
    assert {r["job_ref"] for r in rows} == {"order0123456789a"} and {r["kind"] for r in rows} == {"order"}
    assert modal_calls.running() == []  # the winner's siblings were cancelled


async def test_twelve_pulls_at_once_give_a_two_slot_box_two_and_the_rest_elsewhere(emulator: RunpodEmulator) -> None:
    """Before: a job counted against its provider only once its submit returned, so a burst of submits all saw
    the box empty and all went there (12 of 12 to a 2-slot box while RunPod sat idle)."""
    sealer = ResultSealer.generate()
    async with box_process(2) as (_, url):
        box = selfhosted_client(url, sealer)
        runpod = make(emulator, sealer=sealer)
        router = RouterGrindingClient(
            [
                Provider("runpod", runpod, 0.00031, health=runpod.health),
                Provider("selfhosted", box, 0.0, slots=2, preferred=True, health=box.health),
            ],
            order_policy=CHUNKS,
        )
        try:
            ids = await asyncio.gather(*(router.submit(SLOW) for _ in range(12)))
            placed = [job_id.split(":", 1)[0] for job_id in ids]
            assert placed.count("selfhosted") == 2 and placed.count("runpod") == 10
            await asyncio.gather(*(router.cancel(job_id) for job_id in ids))
        finally:
            await router.close()


async def test_usage_matches_each_providers_own_billing_to_the_second(emulator: RunpodEmulator, tmp_path: Path) -> None:
    """Before: only collected jobs had a row, at the worker's grind time: an order's cancelled chunks and jobs
    given up on cost GPU time that `vanikeys costs` never showed."""
    sealer = ResultSealer.generate()
    db = await open_database(tmp_path / "usage.db")
    async with box_process(1) as (_, url):
        box = selfhosted_client(url, sealer)
        runpod = make(emulator, sealer=sealer)
        router = RouterGrindingClient(
            [Provider("runpod", runpod, 0.00031), Provider("selfhosted", box, 0.0, slots=1, preferred=True)],
            order_policy=OrderPolicy(chunk_seconds=0.3, initial_rate=2e4, max_parallel=3, max_failures=2),
            usage=UsageLog(db),
        )
        try:
            outcome = await asyncio.wait_for(
                router.run_order(ORDER.model_copy(update={"tag": "order0123456789a"}), 65536.0), LIMIT_S
            )
            verify_hit(ORDER, outcome.hit)
            slow = await router.submit(SLOW)  # given up on while it runs: cancelled, and billed to that moment
            await asyncio.sleep(0.5)
            await router.cancel(slow)
            billed = {
                "runpod": sum(float(j["billed_s"]) for j in emulator.billing()),
                "selfhosted": sum(float(j["billed_s"]) for j in await box_billing(url)),
            }  # type: ignore[arg-type]
        finally:
            await router.close()
    rows = await db.fetchall("SELECT provider, outcome, gpu_s, estimated FROM grind_usage")
    await db.close()
    assert {r["outcome"] for r in rows} >= {"completed", "cancelled"}
    assert not any(r["estimated"] for r in rows)
    for provider, seconds in billed.items():
        recorded = sum(r["gpu_s"] for r in rows if r["provider"] == provider)
        assert recorded == pytest.approx(seconds, abs=0.01), provider
    assert sum(billed.values()) > 0.5


class SlowBill:
    """A provider client whose job finishes at once and whose billed seconds come back when `bill` is set."""

    backend = "slowbill"
    durable = True

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.bill = asyncio.Event()

    async def submit(self, job: GrindJob) -> str:
        return "j1"

    async def wait(self, job_id: str, job: GrindJob, on_progress: object = None) -> GrindResult:
        return GrindResult(checked=10, elapsed_s=0.3, backend="slowbill", device="none", results=[])

    async def billed(self, job_id: str) -> Billed:
        self.asked.set()
        await self.bill.wait()
        return Billed(gpu_s=0.3)

    async def cancel(self, job_id: str) -> None:
        pass

    async def close(self) -> None:
        pass


async def test_a_chunk_cancelled_while_its_usage_is_recorded_still_gets_its_row() -> None:
    """Before: an order whose other chunk won cancels this chunk's wait; arriving while the finished chunk asked the
    provider for its billed seconds, the cancel dropped the row, and the cancel that follows found no watch left
    to record: 0.1-0.3 s of RunPod's bill missing from `vanikeys costs` (seen under load)."""
    client, usage = SlowBill(), Recorded()
    router = RouterGrindingClient([Provider("slowbill", client, 0.001)], order_policy=CHUNKS, usage=usage)
    job_id = await router.submit(PULL)
    waiting = asyncio.create_task(router.wait(job_id, PULL))
    await asyncio.wait_for(client.asked.wait(), 5)
    waiting.cancel()  # as ChunkedOrders._stop_all does: the wait, then the job itself
    await router.cancel(job_id)
    client.bill.set()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert [(u.outcome, u.gpu_s) for u in usage.usage] == [("completed", 0.3)]


async def test_cost_report_puts_usage_beside_revenue(tmp_path: Path) -> None:
    db = await open_database(tmp_path / "costs.db")
    try:
        log = UsageLog(db)
        await log.record(Usage("runpod", "a", "j1", "pull", 10, 1.0, 0.00031, "completed"))
        await log.record(Usage("runpod", "a", "j1", "pull", 10, 1.0, 0.00031, "completed"))  # recorded once
        await log.record(Usage("selfhosted", "b", "j2", "order", 1, 60.0, 0.0, "completed"))
        await log.record(Usage("modal", "c", "j2", "order", 1, 30.0, 0.00666, "completed", estimated=True))
        report = await cost_report(db, 7, usd_per_token=0.01)
    finally:
        await db.close()
    assert [(r.provider, r.kind, r.jobs) for r in report.by_provider] == [
        ("modal", "order", 1),
        ("runpod", "pull", 1),
        ("selfhosted", "order", 1),
    ]
    assert report.cost("order") == pytest.approx(0.00666) and report.cost("pull") == pytest.approx(0.00031)
    text = report.render()
    assert "runpod" in text and "selfhosted" in text and "revenue 0 tokens ($0.00)" in text
    assert report.by_provider[0].estimated_gpu_s == 30.0 and "(30.0 estimated)" in text


async def test_orders_can_have_an_endpoint_of_their_own(emulator: RunpodEmulator, python_backend: object) -> None:
    orders_endpoint = RunpodEmulator(api_key=emulator.api_key, endpoint_id=emulator.endpoint_id, backend=python_backend)
    await orders_endpoint.start()
    sealer = ResultSealer.generate()
    pulls = make(emulator, sealer=sealer)
    orders = make(orders_endpoint, sealer=sealer)
    router = RouterGrindingClient(
        [
            Provider("runpod", pulls, 0.0003, kinds=("pull",)),
            Provider("runpod-orders", orders, 0.0003, kinds=("order",)),
        ],
        order_policy=CHUNKS,
    )
    try:
        pull_id = await router.submit(PULL)
        chunk = GrindJob.parse({"v": 1, "format": "btc", "pattern": "ab", "budget": 400, "stop": "full"})
        chunk_id = await router.submit(chunk)
        assert pull_id.startswith("runpod:") and chunk_id.startswith("runpod-orders:")
        await asyncio.wait_for(router.wait(chunk_id, chunk), LIMIT_S)
        assert len(emulator.jobs) == 1 and len(orders_endpoint.jobs) == 1
    finally:
        await router.close()
        await orders_endpoint.stop()


async def _fresh_database(path: Path) -> None:
    from bot.storage import open_database

    await (await open_database(path)).close()


def test_vanikeys_costs_reports_and_refuses_a_bad_day_count(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VANIKEYS_", "RUNPOD_"))}
    env.update(VANIKEYS_DB=str(tmp_path / "costs.db"), VANIKEYS_USD_PER_TOKEN="0.01")
    asyncio.run(_fresh_database(tmp_path / "costs.db"))  # operator commands refuse a database that is not there
    warm = shared()
    done = warm.run("bot.cli", ["costs", "--days", "30"], env=env, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "grinding costs over the last 30 days" in done.stdout and "revenue 0 tokens ($0.00)" in done.stdout
    bad = warm.run("bot.cli", ["costs", "--days", "lots"], env=env, cwd=REPO, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--days" in bad.stderr


async def test_start_up_warns_when_an_endpoint_reports_no_workers(
    emulator: RunpodEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.idle_workers = 0
    client = make(emulator, sealer=ResultSealer.generate())
    router = RouterGrindingClient([Provider("runpod", client, 0.0003, health=client.health)], order_policy=CHUNKS)
    try:
        with caplog.at_level("WARNING", logger="bot.grinding.router"):
            await router.check_health()
        assert any("runpod reports no workers" in r.getMessage() for r in caplog.records)
        caplog.clear()
        emulator.idle_workers = 1
        await router.check_health()  # a healthy endpoint says nothing more
        assert not [r for r in caplog.records if r.levelname == "WARNING"]
    finally:
        await router.close()


class NeverDone:
    """Modal calls that stay queued (or running: Modal does not say which) for ever."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.spawned = 0

    async def spawn(self, job_input: dict[str, object]) -> str:
        self.spawned += 1
        return f"fc-{self.spawned}"

    async def result(self, call_id: str) -> dict[str, object]:
        from bot.grinding.modal_backend import NotReady

        raise NotReady()

    async def cancel(self, call_id: str) -> None:
        self.cancelled.append(call_id)


async def test_a_modal_pull_stops_at_runpods_queue_limit_and_modal_counts_as_backed_up(
    emulator: RunpodEmulator,
) -> None:
    """Before: a Modal pull waited up to 900 s where RunPod stops at 120 s, and Modal was never backed up."""
    calls = NeverDone()
    skew = [0.0]
    modal = ModalGrindingClient(
        calls, poll_interval_s=0.01, max_poll_interval_s=0.02, clock=lambda: asyncio.get_running_loop().time() + skew[0]
    )
    job_id = await modal.submit(PULL)
    waiter = asyncio.create_task(modal.wait(job_id, PULL))
    await asyncio.sleep(0.05)
    skew[0] = 120 + 60 + 30 - 5.0  # not yet past the queue limit + the pull's time limit + grace
    await asyncio.sleep(0.05)
    assert not waiter.done()
    skew[0] = 120 + 60 + 30 + 1.0
    with pytest.raises(GrindingError) as caught:
        await asyncio.wait_for(waiter, LIMIT_S)
    assert caught.value.code == "unavailable" and calls.cancelled == [job_id]

    sealer = ResultSealer.generate()
    runpod = make(emulator, sealer=sealer)
    router = RouterGrindingClient(
        [
            Provider("modal", ModalGrindingClient(NeverDone(), sealer=sealer), 0.0001, max_in_flight=2),
            Provider("runpod", runpod, 0.00031),
        ],
        order_policy=CHUNKS,
    )
    try:
        placed = [(await router.submit(PULL)).split(":", 1)[0] for _ in range(3)]
        assert placed == ["modal", "modal", "runpod"]  # cheaper, until two of ours are in flight there
    finally:
        await router.close()
