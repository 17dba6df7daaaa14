"""Every answer type has a renderer on every front end, found by enumerating bot/answers.py.

A new answer dataclass (a class named ...Answer, or one of the views a front end is handed: OrderView,
KeyDelivery) fails here until the console, Discord and Telegram each register a renderer for it, and each
registered renderer is run on an instance built from the type's own fields, so an entry that cannot draw its
type fails too (not at run time in front of someone).
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from datetime import UTC, datetime
from typing import Any

import pytest

import bot.answers as answers
from bot.frontends import console
from bot.frontends.discord import rendering as discord_rendering
from bot.frontends.telegram import rendering as telegram_rendering

FRONT_ENDS = {
    "console": console.RENDERERS,
    "discord": discord_rendering.RENDERERS,
    "telegram": telegram_rendering.RENDERERS,
}
HANDED_TO_FRONT_ENDS = ("OrderView", "KeyDelivery")  # what the FrontEnd protocol receives besides command answers


def answer_types() -> list[type]:
    found = [
        cls
        for name, cls in vars(answers).items()
        if inspect.isclass(cls)
        and dataclasses.is_dataclass(cls)
        and cls.__module__ == answers.__name__
        and (name.endswith("Answer") or name in HANDED_TO_FRONT_ENDS)
    ]
    return sorted(found, key=lambda cls: cls.__name__)


def sample(hint: Any, name: str = "") -> Any:
    """A plausible value of a type hint: enough for a renderer to draw (not a realistic answer)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        present = [arg for arg in args if arg is not type(None)]
        return sample(present[0], name)
    if origin is typing.Literal:
        return args[0]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return (sample(args[0], name),)
        return tuple(sample(arg, name) for arg in args)
    if dataclasses.is_dataclass(hint):
        return build(hint)
    if hint is str:
        return {
            "format_id": "btc",
            "identifier": "1AbcdefghijkmnopqrstuvwxyzABCDEFG",
            "tier": "Rare",
            "platform": "discord",
            "user_id": "42",
            "community_id": "7",
            "chat_id": "7",
            "time_zone": "UTC",
            "season": "2026-W49",
            "pattern": "^Abc",
            "status": "running",
        }.get(name, name or "x")
    if hint is bool:
        return True
    if hint is int:
        return 3
    if hint is float:
        return 12.5
    if hint is bytes:
        return b"\x89PNG"
    if hint is datetime:
        return datetime(2026, 12, 6, tzinfo=UTC)
    raise TypeError(f"no sample for {hint!r} ({name})")


def build(cls: type) -> Any:
    hints = typing.get_type_hints(cls, vars(answers))
    values = {f.name: sample(hints[f.name], f.name) for f in dataclasses.fields(cls)}
    if cls is answers.ShownKey:
        values["spans"] = ((1, 4),)
        values["score"], values["max_score"] = 3, 3
    if cls is answers.PullAnswer:
        values.update(count=1, best_index=0)
    if cls is answers.OrderView:
        values.update(status="running", percent=40.0)
    return cls(**values)


def test_the_answer_types_are_found() -> None:
    names = {cls.__name__ for cls in answer_types()}
    assert {"PullAnswer", "OrderView", "KeyDelivery", "GiftAnswer", "CardAnswer"} <= names
    assert "ShownKey" not in names and "UserRef" not in names


@pytest.mark.parametrize("front_end", sorted(FRONT_ENDS))
def test_every_answer_type_has_a_renderer(front_end: str) -> None:
    missing = [cls.__name__ for cls in answer_types() if cls not in FRONT_ENDS[front_end]]
    assert not missing, f"{front_end} has no renderer for {', '.join(missing)}"


@pytest.mark.parametrize("cls", answer_types(), ids=lambda cls: cls.__name__)
def test_each_renderer_draws_its_type(cls: type) -> None:
    answer = build(cls)
    for front_end, renderers in FRONT_ENDS.items():
        drawn = renderers[cls](answer)
        assert drawn, f"{front_end} drew nothing for {cls.__name__}"
        assert "Answer(" not in str(drawn) and "View(" not in str(drawn), f"{front_end} printed a repr"


def test_the_console_refuses_a_type_it_cannot_draw() -> None:
    @dataclasses.dataclass(frozen=True)
    class NewAnswer:
        message: str

    with pytest.raises(TypeError, match="no console renderer for NewAnswer"):
        console.render(NewAnswer("hello"))
