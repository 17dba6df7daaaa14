from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.grinding.runpod_api import RetryPolicy, RunpodApi

from .runpod_emulator import RunpodEmulator

API_KEY = "rpa_test_key_not_a_secret"
ENDPOINT_ID = "vk-test-endpoint"
FAST_RETRY = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def python_backend() -> Iterator[Any]:
    from gpu_worker.grinders import get_backend

    backend = get_backend("python")
    yield backend
    backend.close()


@pytest.fixture
async def emulator(python_backend: Any) -> AsyncIterator[RunpodEmulator]:
    emu = RunpodEmulator(api_key=API_KEY, endpoint_id=ENDPOINT_ID, backend=python_backend)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


@pytest.fixture
async def api(emulator: RunpodEmulator) -> AsyncIterator[RunpodApi]:
    client = RunpodApi(API_KEY, ENDPOINT_ID, base_url=emulator.base_url, retry=FAST_RETRY, request_timeout_s=5)
    try:
        yield client
    finally:
        await client.close()
