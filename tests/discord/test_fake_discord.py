"""The fake enforces the Discord rules our tests rely on: if it did not, the end-to-end tests could not fail."""

from __future__ import annotations

import aiohttp
import pytest

from tests.discord.fake_discord import FakeDiscord
from tests.specs.conformance import expecting_faults


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


async def test_an_interaction_is_acknowledged_once_and_within_three_seconds(
    bare: _NoGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    with expecting_faults() as faults:  # requests the spec refuses, sent on purpose: the checker sees them too
        status, body = await call(
            bare,
            "POST",
            f"/channels/{bare.channel_id}/messages",
            {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
        )
        assert status == 400
        assert len(faults) == 1 and "embeds/0/fields/0/value" in faults[0], faults
        status, body = await call(
            bare,
            "POST",
            f"/channels/{bare.channel_id}/messages",
            {
                "content": "ok",
                "components": [
                    {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": "c" * 101}]}
                ],
            },
        )
        assert status == 400
        assert len(faults) == 2 and "components/0/components/0" in faults[1], faults


async def test_the_first_follow_up_replaces_the_thinking_message_and_keeps_its_flags(bare: _NoGateway) -> None:
    user = bare.add_user("u")
    interaction = await bare.slash(user, "balance")
    await call(
        bare,
        "POST",
        f"/interactions/{interaction.id}/{interaction.token}/callback?with_response=1",
        {"type": 5, "data": {"flags": 64}},
    )
    status, first = await call(
        bare, "POST", f"/webhooks/{bare.app_id}/{interaction.token}?wait=1", {"content": "answer"}
    )
    assert status == 200 and first["id"] == str(interaction.original_id) and first["flags"] & 64
    status, second = await call(
        bare, "POST", f"/webhooks/{bare.app_id}/{interaction.token}?wait=1", {"content": "more"}
    )
    assert second["id"] != first["id"] and not second["flags"] & 64


async def test_interaction_tokens_expire_after_fifteen_minutes_on_the_fakes_clock(bare: _NoGateway) -> None:
    user = bare.add_user("u")
    interaction = await bare.slash(user, "pull", {"pattern": "^a"})
    await call(bare, "POST", f"/interactions/{interaction.id}/{interaction.token}/callback", {"type": 5})
    bare.advance(14 * 60)
    status, _ = await call(bare, "POST", f"/webhooks/{bare.app_id}/{interaction.token}", {"content": "in time"})
    assert status == 204
    bare.advance(61)
    for method, path, body in (
        ("POST", f"/webhooks/{bare.app_id}/{interaction.token}", {"content": "late"}),
        ("PATCH", f"/webhooks/{bare.app_id}/{interaction.token}/messages/@original", {"content": "late"}),
        ("DELETE", f"/webhooks/{bare.app_id}/{interaction.token}/messages/@original", None),
    ):
        status, body = await call(bare, method, path, body)
        assert (status, body["code"]) == (401, 50027), method
    # the message itself lives on: the channel endpoint still edits it
    status, _ = await call(
        bare,
        "PATCH",
        f"/channels/{bare.channel_id}/messages/{interaction.original_id}",
        {"content": "edited through the channel"},
    )
    assert status == 200


async def test_the_three_second_deadline_reads_the_fakes_clock(bare: _NoGateway) -> None:
    user = bare.add_user("u")
    interaction = await bare.slash(user, "pull", {"pattern": "^a"})
    bare.advance(3.1)
    status, body = await call(bare, "POST", f"/interactions/{interaction.id}/{interaction.token}/callback", {"type": 5})
    assert (status, body["code"]) == (404, 10062)


async def test_a_spent_route_bucket_answers_429_with_retry_after_per_major_parameter(bare: _NoGateway) -> None:
    bare.limit_route("POST", r"/channels/(\d+)/messages", limit=2, window_s=5.0)
    path = f"/channels/{bare.channel_id}/messages"
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.post(bare.api_base + path, json={"content": "ok"}) as response:
                assert response.status == 200
                assert response.headers["X-RateLimit-Limit"] == "2"
        assert response.headers["X-RateLimit-Remaining"] == "0"
        async with session.post(bare.api_base + path, json={"content": "too many"}) as response:
            body = await response.json()
            assert response.status == 429 and response.headers["Via"]
            assert 0 < body["retry_after"] <= 5.0 and body["global"] is False
    assert len(bare.rate_limited) == 1 and len(bare.public_messages()) == 2
    # another channel (a DM) has its own bucket
    shy = bare.add_user("dm")
    status, channel = await call(bare, "POST", "/users/@me/channels", {"recipient_id": str(shy.id)})
    status, _ = await call(bare, "POST", f"/channels/{channel['id']}/messages", {"content": "hi"})
    assert status == 200
    bare.advance(5.0)
    status, _ = await call(bare, "POST", path, {"content": "after the window"})
    assert status == 200


async def test_discord_py_waits_out_a_429_and_retries(bare: _NoGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import discord

    monkeypatch.setattr(discord.http.Route, "BASE", bare.api_base)
    bare.limit_route("POST", r"/channels/(\d+)/messages", limit=1, window_s=0.3)
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    await http.static_login("fake-token")
    try:
        for text in ("one", "two", "three"):
            await http.send_message(bare.channel_id, params=discord.http.handle_message_parameters(content=text))
    finally:
        await http.close()
    assert [m["content"] for m in bare.public_messages()] == ["one", "two", "three"]


async def test_the_bots_channel_permissions_are_enforced(bare: _NoGateway) -> None:
    from tests.discord.fake_discord import ALL_PERMISSIONS, EMBED_LINKS, SEND_MESSAGES

    path = f"/channels/{bare.channel_id}/messages"
    bare.bot_permissions = ALL_PERMISSIONS & ~SEND_MESSAGES
    status, body = await call(bare, "POST", path, {"content": "hello"})
    assert (status, body["code"]) == (403, 50013)
    interaction = await bare.slash(bare.add_user("u"), "pull", {"pattern": "^a"})
    assert int(bare.dispatched[-1][1]["app_permissions"]) == ALL_PERMISSIONS & ~SEND_MESSAGES
    status, _ = await call(
        bare,
        "POST",
        f"/interactions/{interaction.id}/{interaction.token}/callback",
        {"type": 4, "data": {"content": "interaction answers need no channel permission"}},
    )
    assert status == 204

    bare.bot_permissions = ALL_PERMISSIONS & ~EMBED_LINKS
    status, message = await call(bare, "POST", path, {"content": "text", "embeds": [{"title": "hidden"}]})
    assert status == 200 and message["embeds"] == [], "Discord drops embeds without Embed Links"

    bare.bot_permissions = ALL_PERMISSIONS & ~(1 << 15)
    form = aiohttp.FormData()
    form.add_field("payload_json", '{"content": "card"}', content_type="application/json")
    form.add_field("files[0]", b"\x89PNG....", filename="card.png", content_type="image/png")
    async with aiohttp.ClientSession() as session:
        async with session.post(bare.api_base + path, data=form) as response:
            assert response.status == 403 and (await response.json())["code"] == 50013
    bare.bot_permissions = ALL_PERMISSIONS
    form = aiohttp.FormData()
    form.add_field("payload_json", '{"content": "card"}', content_type="application/json")
    form.add_field("files[0]", b"\x89PNG....", filename="card.png", content_type="image/png")
    async with aiohttp.ClientSession() as session:
        async with session.post(bare.api_base + path, data=form) as response:
            sent = await response.json()
    assert sent["attachments"][0]["filename"] == "card.png" and sent["attachments"][0]["size"] == 8


async def test_the_bot_deletes_its_own_channel_messages_only(bare: _NoGateway) -> None:
    status, mine = await call(bare, "POST", f"/channels/{bare.channel_id}/messages", {"content": "mine"})
    status, _ = await call(bare, "DELETE", f"/channels/{bare.channel_id}/messages/{mine['id']}")
    assert status == 204 and bare.messages[int(mine["id"])]["deleted"]
    status, body = await call(bare, "DELETE", f"/channels/{bare.channel_id}/messages/{mine['id']}")
    assert (status, body["code"]) == (404, 10008)
    theirs = bare._store(bare.channel_id, {"content": "a user's"}, ephemeral=False, loading=False, interaction=None)
    bare.messages[int(theirs["id"])]["author"] = bare.add_user("u").payload()
    status, body = await call(bare, "DELETE", f"/channels/{bare.channel_id}/messages/{theirs['id']}")
    assert (status, body["code"]) == (403, 50013)


async def test_user_and_channel_options_arrive_resolved_with_member_permissions(bare: _NoGateway) -> None:
    from tests.discord.fake_discord import CHANNEL, MANAGE_GUILD

    admin = bare.add_user("admin", permissions=MANAGE_GUILD)
    other = bare.add_user("other")
    await bare.slash(admin, "config", {"channel": CHANNEL, "user": other})
    payload = bare.dispatched[-1][1]
    options = {o["name"]: o for o in payload["data"]["options"]}
    assert options["channel"]["type"] == 7 and options["user"]["type"] == 6
    assert str(other.id) in payload["data"]["resolved"]["users"]
    assert str(bare.channel_id) in payload["data"]["resolved"]["channels"]
    assert int(payload["member"]["permissions"]) == MANAGE_GUILD
