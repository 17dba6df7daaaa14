"""Shared by the payments tests: a contract-faithful in-test ledger, settings, signed posts."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field

import aiohttp

from payments.config import StripeSettings, settings_from
from payments.events import ApplyOutcome, LedgerInstruction
from tests.payments.fake_stripe import FakeStripe
from tests.payments.stripe_events import sign

API_KEY = "sk_test_fakekey123"
WEBHOOK_SECRET = "whsec_test_secret456"


@dataclass
class RecordingLedger:
    """Applies instructions the way the bot's contract says: once per key, never below zero, the rest is debt."""

    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    debts: dict[tuple[str, str], int] = field(default_factory=dict)
    applied: dict[str, LedgerInstruction] = field(default_factory=dict)
    taken: dict[str, int] = field(default_factory=dict)  # clawback key -> tokens it took (balance and debt)
    calls: int = 0
    fail_next: int = 0

    async def apply(self, instruction: LedgerInstruction) -> ApplyOutcome:
        self.calls += 1
        await asyncio.sleep(0)  # let concurrent deliveries interleave before the check
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("database is locked")
        who = (instruction.platform, instruction.user_id)
        if instruction.idempotency_key in self.applied:
            return ApplyOutcome(applied=False, balance=self.balances.get(who, 0))
        tokens = instruction.tokens
        if instruction.reverses is not None:  # give back exactly what that clawback took, if it was applied
            tokens = self.taken.get(instruction.reverses, 0)
            if tokens == 0:
                return ApplyOutcome(applied=False, balance=self.balances.get(who, 0))
        self.applied[instruction.idempotency_key] = instruction
        balance, debt = self.balances.get(who, 0), self.debts.get(who, 0)
        if tokens > 0:
            settle = min(debt, tokens)
            moved, debt = tokens - settle, debt - settle
        else:
            moved = -min(balance, -tokens)
            debt += -tokens + moved
            self.taken[instruction.idempotency_key] = -tokens
        self.balances[who], self.debts[who] = balance + moved, debt
        return ApplyOutcome(applied=True, tokens_moved=moved, debt=debt, balance=balance + moved)


def settings_for(fake: FakeStripe, **env: str) -> StripeSettings:
    settings = settings_from(
        {
            "STRIPE_API_KEY": API_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": fake.url,
            "VANIKEYS_PUBLIC_URL": "https://vanikeys.example",
            "VANIKEYS_WEBHOOK_PORT": "0",
            **env,
        }
    )
    assert settings is not None
    return dataclasses.replace(settings, max_network_retries=0)


async def post_event(
    http: aiohttp.ClientSession, url: str, payload: str, *, signature: str | None = None, secret: str = WEBHOOK_SECRET
) -> tuple[int, dict]:
    header = sign(payload, secret) if signature is None else signature
    async with http.post(
        url, data=payload.encode(), headers={"Stripe-Signature": header, "Content-Type": "application/json"}
    ) as response:
        return response.status, await response.json(content_type=None)
