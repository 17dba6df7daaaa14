"""`vanikeys costs` as an operator reads it: the report in the terminal's language, in this process (bot.cli.main)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import pytest

from bot.cli import main
from bot.storage import open_database

LANGUAGE_VARIABLES = ("VANIKEYS_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


async def _fresh_database(path: Path) -> None:
    await (await open_database(path)).close()


def test_a_spanish_terminal_reads_the_cost_report_in_spanish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "costs.db"
    asyncio.run(_fresh_database(db))  # operator commands refuse a database that is not there
    with sqlite3.connect(db) as connection:  # what the router records for one RunPod job (bot/costs.py UsageLog)
        connection.execute(
            "INSERT INTO grind_usage (provider, backend_job_id, job_ref, kind, pulls, gpu_s, cost_usd, outcome, "
            "estimated, at) VALUES ('runpod', 'rp-1', NULL, 'pull', 1, 1234.5, 0.25, 'collected', 0, ?)",
            (time.time(),),
        )
    for name in list(os.environ):
        if name.startswith(("VANIKEYS_", "RUNPOD_")) or name in LANGUAGE_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("VANIKEYS_DB", str(db))
    monkeypatch.setenv("VANIKEYS_USD_PER_TOKEN", "0.01")
    monkeypatch.setenv("LANG", "es_ES.UTF-8")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout's

    assert main(["costs", "--days", "30"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "costes de minado de los últimos 30 días",
        "  runpod      tirada       1 trabajo      1.234,5 GPU-s $    0,2500",
        "  tiradas: 0 a n/d cada una; pedidos: 0 a n/d cada uno",
        "  coste total de GPU $0,2500; ingresos 0 tokens ($0,00)",
    ], out
