"""The numbers behind the pages: tier chances, the Wilson interval, the transparency report's sums, the chart."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from bot.app import App, create_app
from bot.results import TIER_ORDER
from bot.web.stats import tier_chances, wilson
from bot.web.svg import ChartRow, tier_chart
from bot.web.transparency import build_report, refund_reason
from gpu_worker.odds import odds, p_best_at_least, rarity
from gpu_worker.patterns import parse_pattern
from tests.bot.conftest import ALICE, BOB, GUILD, small_settings


@pytest.mark.parametrize("pattern,budget", [("^abc xyz", 24), ("^Love", 1 << 22), ("dead beef", 1 << 28)])
def test_tier_chances_come_from_the_rarity_model(pattern: str, budget: int) -> None:
    model = odds(parse_pattern("btc" if "L" in pattern or "^" in pattern else "eth", pattern))
    chances = tier_chances(model, budget)
    assert math.isclose(sum(chances.values()), 1.0, rel_tol=1e-9)
    by_hand = dict.fromkeys(TIER_ORDER, 0.0)  # P(best score == s), filed under the tier rarity() gives s
    for s in range(len(model.p_at_least)):
        exactly = p_best_at_least(model, s, budget) - p_best_at_least(model, s + 1, budget)
        by_hand[str(rarity(model, s, budget).tier.value).capitalize()] += exactly
    assert chances == pytest.approx(by_hand, abs=1e-12)


def test_wilson_interval() -> None:
    low, high = wilson(50, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)  # the textbook value
    assert wilson(0, 10) == pytest.approx((0.0, 3.8415 / 13.8415), abs=1e-4)  # z²/(n+z²) with none seen
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(3, 1000)
    assert low < 0.003 < high


def test_refund_reasons_are_categories_never_the_raw_text() -> None:
    assert refund_reason("RunPod endpoint has no workers") == "provider unavailable"
    assert refund_reason("the hit did not verify") == "verification failed"
    assert refund_reason("the grinder failed") == "grinder error"
    assert refund_reason("user 12345 said something odd") == "other"
    assert refund_reason(None) == "other"


def test_chart_is_svg_with_a_bar_pair_per_tier() -> None:
    svg = tier_chart([ChartRow(t, 0.2, 0.1, 0.05, 0.3) for t in TIER_ORDER], "a <title>")
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "a &lt;title&gt;" in svg
    assert (
        svg.count('class="predicted"') == len(TIER_ORDER) + 1 and svg.count('class="observed"') == len(TIER_ORDER) + 1
    )


async def test_report_adds_up_each_pulls_own_prediction(tmp_path: Path) -> None:
    settings = small_settings(tmp_path, pull_budget_cpu=24, free_pulls_per_day=0)
    async with create_app(settings) as app:
        for person in (ALICE, BOB):
            await app.service.grant(person, 1000)
        await app.service.pull(ALICE, GUILD, "^abc xyz", "btc", 10)
        await app.service.pull(BOB, None, "^Zz", "btc", 1)
        await app.service.pull(BOB, None, "beef", "eth", 1, allow_easy=True)
        await _refunded_row(app)
        report = await build_report(app.db, app.service.odds_cache, "python")
    assert report.overall.pulls == 12 and [t.title for t in report.by_format] == ["btc", "eth"]
    assert report.by_format[0].pulls == 11 and report.by_format[1].pulls == 1
    expected = {
        t: 10 * tier_chances(odds(parse_pattern("btc", "^abc xyz")), 24)[t]
        + tier_chances(odds(parse_pattern("btc", "^Zz")), 24)[t]
        + tier_chances(odds(parse_pattern("eth", "beef")), 24)[t]
        for t in TIER_ORDER
    }
    assert {line.tier: line.expected for line in report.overall.lines} == pytest.approx(expected)
    assert sum(line.observed for line in report.overall.lines) == 12
    assert all(line.low <= line.share <= line.high for line in report.overall.lines)
    assert dict(report.refunds) == {"provider unavailable": 1}


async def _refunded_row(app: App) -> None:
    now = time.time()
    async with app.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO jobs (job_id, kind, platform, user_id, format, pattern, case_mode, fuzzy, count, budget, "
            "price, free_pulls, status, error, created_at, updated_at) VALUES (?, 'pull', ?, ?, 'btc', '^ab', "
            "'insensitive', 0, 1, 24, 1, 0, 'refunded', ?, ?, ?)",
            ("refunded-1", ALICE.platform, ALICE.user_id, "RunPod endpoint unavailable", now, now),
        )
