"""The fake enforces the Discord rules our tests rely on: if it did not, the end-to-end tests could not fail."""

from __future__ import annotations

import aiohttp
import pytest

from tests.discord.fake_discord import FakeDiscord


async def call(fake: FakeDiscord, method: str, path: str, body: object = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, fake.api_base + path, json=body) as response:
            return response.status, await response.json(content_type=None) if response.status != 204 else {}


class _NoGateway(FakeDiscord):
    async def dispatch(self, event: str, data: dict) -> None:  # record only: no bot connected in these tests
        self.dispatched = getattr(self, "dispatched", []) + [(event, data)]


@pytest.fixture
async def bare() -> _NoGateway:
    fake = _NoGateway()
    await fake.start()
    yield fake  # type: ignore[misc]
    await fake.stop()


async def test_an_interaction_is_acknowledged_once_and_within_three_seconds(bare: _NoGateway,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    user = bare.add_user("u")
    first = await bare.slash(user, "pull", {"pattern": "^a"})
    status, _ = await call(bare, "POST", f"/webhooks/{bare.app_id}/{first.token}", {"content": "too early"})
    assert status == 404, "a follow-up before the acknowledgement is an unknown webhook"
    status, _ = await call(bare, "POST", f"/interactions/{first.id}/{first.token}/callback", {"type": 5})
    assert status == 204
    status, body = await call(bare, "POST", f"/interactions/{first.id}/{first.token}/callback", {"type": 5})
    assert (status, body["code"]) == (400, 40060)

    late = await bare.slash(user, "pull", {"pattern": "^a"})
    late.created -= 3.5
    status, body = await call(bare, "POST", f"/interactions/{late.id}/{late.token}/callback", {"type": 5})
    assert (status, body["code"]) == (404, 10062)


async def test_closed_dms_are_a_403_50007_and_limits_are_enforced(bare: _NoGateway) -> None:
    shy = bare.add_user("shy", dms_closed=True)
    status, channel = await call(bare, "POST", "/users/@me/channels", {"recipient_id": str(shy.id)})
    assert status == 200 and channel["type"] == 1
    status, body = await call(bare, "POST", f"/channels/{channel['id']}/messages", {"content": "hi"})
    assert (status, body["code"]) == (403, 50007)
    status, body = await call(bare, "POST", f"/channels/{bare.channel_id}/messages", {"content": "x" * 2001})
    assert (status, body["code"]) == (400, 50035)
    status, body = await call(bare, "POST", f"/channels/{bare.channel_id}/messages", {
        "embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]})
    assert status == 400
    status, body = await call(bare, "POST", f"/channels/{bare.channel_id}/messages", {"content": "ok", "components": [
        {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": "c" * 101}]}]})
    assert status == 400


async def test_the_first_follow_up_replaces_the_thinking_message_and_keeps_its_flags(bare: _NoGateway) -> None:
    user = bare.add_user("u")
    interaction = await bare.slash(user, "balance")
    await call(bare, "POST", f"/interactions/{interaction.id}/{interaction.token}/callback?with_response=1",
               {"type": 5, "data": {"flags": 64}})
    status, first = await call(bare, "POST", f"/webhooks/{bare.app_id}/{interaction.token}?wait=1",
                               {"content": "answer"})
    assert status == 200 and first["id"] == str(interaction.original_id) and first["flags"] & 64
    status, second = await call(bare, "POST", f"/webhooks/{bare.app_id}/{interaction.token}?wait=1",
                                {"content": "more"})
    assert second["id"] != first["id"] and not second["flags"] & 64
