"""The loopback fake of Stripe in a thread of its own, for tests that start `vanikeys bot` as a subprocess:
the bot reaches Stripe at start (bot/startup.py), so a configured Stripe must answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.payments.fake_stripe import FakeStripe


@contextmanager
def stripe_in_thread(api_key: str) -> Iterator[FakeStripe]:
    """A started FakeStripe (its .url for STRIPE_API_BASE), served by a background event loop until exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-stripe", daemon=True)
    thread.start()
    fake = asyncio.run_coroutine_threadsafe(FakeStripe(api_key=api_key).start(), loop).result(timeout=30)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
