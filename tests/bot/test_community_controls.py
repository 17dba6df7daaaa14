"""Per-community settings through the real service: admins only, pull channel, pulls off, free-pull override."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answers import CommunityRef, ServiceError, WrongChannel
from bot.app import App, create_app

from .conftest import ALICE, BOB, GUILD, RecordingFrontEnd, small_settings

ADMIN = ALICE


async def test_a_non_admin_is_refused_and_nothing_changes(app: App) -> None:
    for call in (
        lambda: app.service.config(BOB, GUILD, is_admin=False),
        lambda: app.service.configure(BOB, GUILD, "pulls", "off", is_admin=False),
        lambda: app.service.configure(BOB, GUILD, "pulls", "off", is_admin="yes"),
    ):  # type: ignore[arg-type]
        with pytest.raises(ServiceError) as err:
            await call()
        assert err.value.code == "not_admin" and "admins" in err.value.message
    with pytest.raises(ServiceError) as err:
        await app.service.config(ADMIN, None, is_admin=True)
    assert err.value.code == "not_admin" and "private chat" in err.value.message
    assert (await app.db.fetchone("SELECT COUNT(*) AS n FROM community_settings"))["n"] == 0  # type: ignore[index]
    shown = await app.service.config(ADMIN, GUILD, is_admin=True)
    assert shown.changed is None and shown.config.pulls_allowed and shown.config.pull_channel is None
    assert "pull_channel: any channel" in shown.lines and "pulls: on" in shown.lines


async def test_settings_are_stored_shown_and_cleared(app: App) -> None:
    answer = await app.service.configure(ADMIN, GUILD, "pull-channel", "123", is_admin=True, label="#pulls")
    assert answer.changed == "pull_channel" and answer.config.pull_channel == "123" and "#pulls" in answer.message
    await app.service.configure(ADMIN, GUILD, "announce_channel", "456", is_admin=True, label="#rare")
    shown = await app.service.config(ADMIN, GUILD, is_admin=True)
    assert shown.config.pull_channel_label == "#pulls" and shown.config.announce_channel == "456"
    assert "pull_channel: #pulls" in shown.lines and "announce_channel: #rare" in shown.lines
    other = await app.service.config(ADMIN, CommunityRef("test", "elsewhere"), is_admin=True)
    assert other.config.pull_channel is None  # one community's settings are its own
    cleared = await app.service.configure(ADMIN, GUILD, "pull_channel", "none", is_admin=True)
    assert cleared.config.pull_channel is None and cleared.config.announce_channel == "456"
    mentioned = await app.service.configure(ADMIN, GUILD, "announce_channel", "<#789>", is_admin=True)
    assert mentioned.config.announce_channel == "789"  # a channel mention is stored as the channel's id


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("colour", "red", "not a setting"),
        ("pulls", "maybe", "on or off"),
        ("free_pulls", "²", "not a number"),
        ("free_pulls", "99", "from 0 to 3"),
        ("free_pulls", "-1", "is negative"),
        ("pull_channel", "x" * 500, "channel"),
        ("announce_channel", "@everyone", "takes a channel"),
        ("announce_channel", "on", "takes a channel"),
        ("announce_channel", "<b>x</b>", "takes a channel"),
        ("pull_channel", "#pulls", "takes a channel"),
    ],
)
async def test_bad_settings_get_one_clear_line(tmp_path: Path, setting: str, value: str, words: str) -> None:
    async with create_app(small_settings(tmp_path, free_pulls_per_day=3)) as app:
        with pytest.raises(ServiceError) as err:
            await app.service.configure(ADMIN, GUILD, setting, value, is_admin=True)
        assert err.value.code == "bad_setting" and words in err.value.message and "\n" not in err.value.message


async def test_pulls_elsewhere_get_a_pointer_and_are_not_charged(app: App, frontend: RecordingFrontEnd) -> None:
    await app.service.grant(BOB, 5)
    await app.service.configure(ADMIN, GUILD, "pull_channel", "123", is_admin=True, label="#pulls")
    with pytest.raises(WrongChannel) as err:
        await app.service.pull(BOB, GUILD, "^ab", channel="999")
    assert err.value.code == "wrong_channel" and err.value.channel_id == "123" and "#pulls" in err.value.message
    assert (await app.service.balance(BOB)).tokens == 5
    answer = await app.service.pull(BOB, GUILD, "^ab", channel="123")
    assert answer.balance_after == 4
    # the same channel id in another community is not this one's business
    await app.service.pull(BOB, CommunityRef("test", "other"), "^ab", channel="999")


async def test_pulls_turned_off_are_refused_until_turned_on(app: App, frontend: RecordingFrontEnd) -> None:
    await app.service.grant(BOB, 5)
    await app.service.configure(ADMIN, GUILD, "pulls", "off", is_admin=True)
    with pytest.raises(ServiceError) as err:
        await app.service.pull(BOB, GUILD, "^ab")
    assert err.value.code == "pulls_disabled"
    await app.service.pull(BOB, None, "^ab")  # a private chat is not the community
    await app.service.configure(ADMIN, GUILD, "pulls", "on", is_admin=True)
    await app.service.pull(BOB, GUILD, "^ab")
    assert (await app.service.balance(BOB)).tokens == 3


async def test_a_lower_free_pull_override_charges_the_rest(tmp_path: Path) -> None:
    async with create_app(small_settings(tmp_path, free_pulls_per_day=3, pull_price=2)) as app:
        app.service.register_frontend(RecordingFrontEnd())
        await app.service.grant(BOB, 10)
        answer = await app.service.configure(ADMIN, GUILD, "free_pulls", "1", is_admin=True)
        assert answer.config.effective_free_pulls == 1 and answer.config.operator_free_pulls == 3
        first = await app.service.pull(BOB, GUILD, "^ab")
        second = await app.service.pull(BOB, GUILD, "^ab")
        assert (first.free_pulls_used, first.tokens_spent) == (1, 0)
        assert (second.free_pulls_used, second.tokens_spent) == (0, 2)
        # elsewhere the operator's allowance still holds: two free pulls are left of three
        private = await app.service.pull(BOB, None, "^ab")
        assert (private.free_pulls_used, private.tokens_spent) == (1, 0)
        await app.service.configure(ADMIN, GUILD, "free_pulls", "default", is_admin=True)
        third = await app.service.pull(BOB, GUILD, "^ab")
        assert (third.free_pulls_used, third.tokens_spent) == (1, 0)
        assert await app.ledger.audit() == []


async def test_a_community_language_is_stored_cached_and_seen_by_other_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/config language: one of the shipped languages (any platform spelling), remembered per process, and a change
    made through another bot process on the same database is seen within the cache's lifetime."""
    import bot.service as service_module

    settings = small_settings(tmp_path)
    async with create_app(settings) as app, create_app(settings) as other:
        changed = await app.service.configure(ALICE, GUILD, "language", "pt-BR", is_admin=True)
        assert changed.config.language == "pt_BR" and "language: Português (Brasil) (pt_BR)" in changed.lines
        assert await app.service.community_language(GUILD) == "pt_BR"
        assert await other.service.community_language(GUILD) == "pt_BR"
        with pytest.raises(ServiceError) as err:
            await app.service.configure(ALICE, GUILD, "language", "klingon", is_admin=True)
        assert err.value.code == "bad_setting" and "en, es, pt_BR, ru" in err.value.message
        await app.service.configure(ALICE, GUILD, "language", "ru", is_admin=True)
        assert await app.service.community_language(GUILD) == "ru"
        assert await other.service.community_language(GUILD) == "pt_BR", "cached in the other process"
        monkeypatch.setattr(service_module, "LANGUAGE_TTL_S", 0.0)
        assert await other.service.community_language(GUILD) == "ru", "read again once the cache expires"
        await app.service.configure(ALICE, GUILD, "language", "default", is_admin=True)
        assert await app.service.community_language(GUILD) is None
