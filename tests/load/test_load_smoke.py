"""The load benchmark's driver, small and fast: the real bot process against both fakes, a few people, a short
mix and a small burst; what it measures must add up (no timings are asserted)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.load import Options, Sent, percentile, reveal_latencies, run_load


async def test_a_short_load_run_measures_every_command_reveal_and_ack(tmp_path: Path) -> None:
    options = Options(
        workdir=str(tmp_path),
        backend="python",
        duration_s=3.0,
        rate=4.0,
        groups=1,
        per_group=3,
        discord_users=3,
        presses=3,
        group_share=0.5,
        warmup_s=1.0,
        drain_s=40.0,
        quiet_s=1.5,
        sample_s=0.5,
        ready_s=60.0,
    )
    run, result = await run_load(options)
    assert result["bot_exit"] == 0  # stopped by SIGTERM, cleanly
    assert {s.phase for s in run.sent} >= {"warmup", "mix", "burst"}
    assert result["unanswered"] == {}  # every command and press got an answer
    assert result["late_acks"] == {}
    assert result["public_pulls_settled"] > 0
    assert result["lost_reveals"] == 0
    assert result["reveals_seen"] == result["public_pulls_settled"]
    assert sum(1 for s in run.sent if s.phase == "burst" and s.platform == "telegram") == 3
    assert result["rss"] and all(sample["bot_mb"] > 0 for sample in result["rss"])
    platforms = {kind.split()[0] for kind in result["latency"]}
    assert platforms == {"telegram", "discord"}  # both front ends answered, in one bot process


def test_percentile_picks_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 51.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 50) != percentile([], 50)  # nan when nothing was measured


def test_a_reveal_is_matched_to_the_earliest_pull_before_it() -> None:
    options = Options()
    sent = [Sent("telegram", "pull", "T001", t0, "mix", is_pull=True) for t0 in (10.0, 11.0)]
    sent.append(Sent("telegram", "odds", "T001", 10.5, "mix"))

    class FakeRun:
        def __init__(self) -> None:
            self.sent, self.options = sent, options

    latencies = reveal_latencies(FakeRun(), {"telegram:T001": [12.0, 14.0]})  # type: ignore[arg-type]
    assert latencies == [2.0, 3.0]
