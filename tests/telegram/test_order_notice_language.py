"""A failed group order's private "ended" notice is in the person's language, its reason included: the view's
`message` is in the group's, and the notice writes it again in the person's (bot/answers.py OrderView)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

from bot.answers import Origin, UserRef
from bot.app import create_app
from bot.frontends.console import to_json
from bot.frontends.telegram.frontend import TelegramFrontEnd
from bot.grinding import GrindingError
from bot.grinding.failures import failure_reason
from bot.i18n import PEOPLE
from gpu_worker.i18n import use_locale
from tests.bot.conftest import RecordingFrontEnd, small_settings

IVAN = UserRef("telegram", "7301", "Ivan")


class FailingOrderGrinder:
    """Every order gives up at once, with the engine's own words (its kind: no match)."""

    backend = "scripted"
    durable = False

    async def run_order(self, job_template: Any, expected_keys: Any, on_progress: Any = None, resume_state: Any = None):
        raise GrindingError("order_failed", "engine words", kind="no_match")

    async def cancel(self, job_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


class NoticeRecorder(TelegramFrontEnd):
    """The real notice logic; what it would send is kept instead."""

    def __init__(self) -> None:
        super().__init__(bot=None)  # type: ignore[arg-type]  # nothing here reaches the Bot API
        self.notices: list[str] = []

    def send_text(self, chat_id: int, text: str, **kwargs: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def notify(self, user: UserRef, text: str) -> None:
        self.notices.append(text)


async def test_a_failed_group_orders_private_notice_gives_its_reason_in_the_persons_language(tmp_path: Path) -> None:
    recorder = RecordingFrontEnd("telegram")
    async with create_app(small_settings(tmp_path), grinder=FailingOrderGrinder()) as app:  # type: ignore[arg-type]
        app.service.register_frontend(recorder)
        await app.service.grant(IVAN, 500)
        with use_locale("es"):  # the group's language
            await app.service.order(IVAN, None, "^a", "btc", origin=Origin("telegram", "-100123", "5"))
        await app.jobs.wait_idle()
    [view] = [v for v in recorder.finished if v.status == "refunded"]
    with use_locale("es"):
        spanish_reason = failure_reason("no_match")
    with use_locale("ru"):
        russian_reason = failure_reason("no_match")
    assert spanish_reason in view.message  # the group's view
    assert json.dumps(to_json(view))  # what `console --json` prints of a view: its data, no renderer
    assert "message_in_current_locale" not in to_json(view) and view == dataclasses.replace(view)

    PEOPLE.remember("telegram", IVAN.user_id, "ru")  # Ivan's app is in Russian
    frontend = NoticeRecorder()
    with use_locale("es"):  # as the group's order is announced
        await frontend._announce_finished(view)
    [notice] = frontend.notices
    assert notice.startswith("твой заказ ^a завершён: ")
    assert russian_reason in notice and spanish_reason not in notice
