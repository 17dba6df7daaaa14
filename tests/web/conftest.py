"""The web tests: a live bot (tests/web/site.py) and headless Chromium from the system (never downloaded)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.site import LiveSite, site_settings

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TELEGRAM_COOLDOWN_S", "30")  # the Mini App waits as long as /pull: long enough to test it
        live = LiveSite(site_settings(tmp_path_factory.mktemp("web"), pull_budget_cpu=24)).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")  # not longer: while Playwright's sync API runs, no asyncio test can
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium binary: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: docs/web when VANIKEYS_WEB_SCREENSHOTS names it, else a temporary folder."""
    target = os.environ.get("VANIKEYS_WEB_SCREENSHOTS")
    folder = Path(target) if target else tmp_path_factory.mktemp("shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
