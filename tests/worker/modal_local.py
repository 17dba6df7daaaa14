"""Modal's side run here: deploy/modal_app.py's function body through Modal's own `.local()`, no network.

`LocalModalCalls` is the client's ModalCalls with each spawned call a task on this event loop, so
the router and the Modal client are driven against the very function Modal would run.
"""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
from pathlib import Path
from types import ModuleType
from typing import Any

from bot.grinding.modal_backend import CallGone, NotReady

REPO = Path(__file__).resolve().parents[2]


def modal_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vanikeys_modal_app", REPO / "deploy" / "modal_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LocalModalCalls:
    def __init__(self) -> None:
        self.app = modal_app()
        self.calls: dict[str, asyncio.Task[Any]] = {}
        self.cancelled: list[str] = []
        self.down = False  # Modal unreachable: spawn fails

    async def spawn(self, job_input: dict[str, Any]) -> str:
        if self.down:
            raise ConnectionError("modal is unreachable")
        call_id = f"fc-{secrets.token_hex(8)}"
        self.calls[call_id] = asyncio.create_task(self.app.grind.local(job_input))
        return call_id

    async def result(self, call_id: str) -> dict[str, Any]:
        task = self.calls.get(call_id)
        if task is None or task.cancelled():
            raise CallGone(call_id)
        if not task.done():
            raise NotReady()
        return task.result()

    async def cancel(self, call_id: str) -> None:
        self.cancelled.append(call_id)
        task = self.calls.get(call_id)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def running(self) -> list[str]:
        return [call_id for call_id, task in self.calls.items() if not task.done()]

    async def stop(self) -> None:
        for task in self.calls.values():
            task.cancel()
        await asyncio.gather(*self.calls.values(), return_exceptions=True)
