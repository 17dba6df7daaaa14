from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from payments.webhook import RunningWebhook, webhook_server
from tests.payments.fake_stripe import FakeStripe
from tests.payments.helpers import API_KEY, RecordingLedger, settings_for


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    fake = await FakeStripe(API_KEY).start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def ledger() -> RecordingLedger:
    return RecordingLedger()


@pytest.fixture
async def webhook(fake_stripe: FakeStripe, ledger: RecordingLedger) -> AsyncIterator[RunningWebhook]:
    async with webhook_server(settings_for(fake_stripe), ledger.apply) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
