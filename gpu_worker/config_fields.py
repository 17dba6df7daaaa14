"""The fields of the typed settings: one per environment variable, what each accepts, one-line errors.

bot/settings.py (the bot's VanikeysSettings) and gpu_worker/settings.py (the
worker's, installed alone without bot/) declare their fields with `setting()`
and `secret()` and load with gpu_worker/config_model.py's `load()`. This
module imports pydantic alone, so ConfigError and `load_one` cost nothing
more at start-up. A value that does not fit is one line:
the variable, the value (hidden for secrets) and what it accepts, e.g.
    VANIKEYS_PULL_PRICE='abc': a whole number of tokens, 0 or more
"""

from __future__ import annotations

import functools
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.fields import FieldInfo

from gpu_worker.i18n import DEFAULT, NC_, _, gettext_now, number, pgettext, use_locale
from gpu_worker.localized import Localized


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the variable and what to set.

    `str()` is English (logs, scripts); given a `Localized` message, `in_current_locale(exc)`
    (gpu_worker/localized.py) writes the explanation in the reader's language, the variable and value as typed."""

    def __init__(self, message: str | Localized) -> None:
        super().__init__(str(message))
        self.localized = message if isinstance(message, Localized) else None


# The units the settings declare (`unit=`), as "a whole number of {unit}" names them.
UNITS = (
    NC_("setting unit", "MB"),
    NC_("setting unit", "arenas"),
    NC_("setting unit", "containers"),
    NC_("setting unit", "days"),
    NC_("setting unit", "dollars"),
    NC_("setting unit", "dollars per GPU-second"),
    NC_("setting unit", "jobs"),
    NC_("setting unit", "keys"),
    NC_("setting unit", "keys per second"),
    NC_("setting unit", "messages"),
    NC_("setting unit", "processes"),
    NC_("setting unit", "pulls"),
    NC_("setting unit", "requests"),
    NC_("setting unit", "seconds"),
    NC_("setting unit", "tokens"),
)


def setting(
    env: str,
    default: Any,
    description: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    unit: str = "",
    accepts: str = "",
    is_secret: bool = False,
) -> Any:
    """One setting: its environment variable, default, bounds and a one-line description (for the docs)."""
    return Field(
        default,
        validation_alias=env,
        description=description,
        ge=ge,
        gt=gt,
        le=le,
        repr=not is_secret,
        json_schema_extra={"env": env, "unit": unit, "accepts": accepts, "secret": is_secret},
    )


def secret(env: str, description: str, **kwargs: Any) -> Any:
    """A token or key: never shown in errors, reprs or the generated .env.example."""
    return setting(env, None, description, is_secret=True, **kwargs)


# --- what a field says about itself (errors and generated docs) ---------------------------------------------


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def env_name(info: FieldInfo) -> str:
    """The environment variable a settings field reads (its `env` extra, else its alias); "" for none."""
    return str(_extra(info).get("env") or info.validation_alias or "")


def is_secret(info: FieldInfo) -> bool:
    """Whether the field holds a secret: its value is never shown, in errors or the generated docs."""
    return bool(_extra(info).get("secret"))


def _base_type(annotation: Any) -> Any:
    """int for `int | None`, the Literal for `Literal[...] | None`, tuple for `Annotated[tuple[...], ...]`."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = options[0] if len(options) == 1 else annotation
    return annotation


def _bounds(info: FieldInfo) -> dict[str, float]:
    found: dict[str, float] = {}
    for item in info.metadata:
        for kind in ("ge", "gt", "le", "lt"):
            value = getattr(item, kind, None)
            if (
                isinstance(
                    item,
                    (
                        annotated_types.Ge,
                        annotated_types.Gt,
                        annotated_types.Le,
                        annotated_types.Lt,
                        annotated_types.Interval,
                    ),
                )
                and value is not None
            ):
                found[kind] = value
    return found


def _number(value: float) -> str:
    return number(value) if isinstance(value, int) else f"{value:,g}"


def accepts(info: FieldInfo) -> str:
    """What a value of this field may be, in words: "a whole number of tokens, 0 or more" (English: the docs')."""
    with use_locale(DEFAULT):
        return accepts_now(info)


def accepts_now(info: FieldInfo) -> str:
    """What a value of this field may be, in the current locale's words (a declared `accepts=` is marked N_)."""
    extra = _extra(info)
    if extra.get("accepts"):
        return gettext_now(str(extra["accepts"]))
    kind = _base_type(info.annotation)
    if typing.get_origin(kind) is Literal:
        return _("one of {choices}", choices=", ".join(str(choice) for choice in typing.get_args(kind)))
    if kind is bool:
        return _("on or off")
    if kind is Path:
        return _("a file path")
    if kind not in (int, float):
        return _("text matching {rule}", rule=info.metadata) if info.metadata else _("text")
    unit = str(extra.get("unit") or "")
    if unit == "port":
        text = _("a port number")
    elif unit:
        named = pgettext("setting unit", unit)
        text = _("a whole number of {unit}", unit=named) if kind is int else _("a number of {unit}", unit=named)
    else:
        text = _("a whole number") if kind is int else _("a number")
    bounds = _bounds(info)
    if "ge" in bounds and "le" in bounds:
        return _("{what}, from {low} to {high}", what=text, low=_number(bounds["ge"]), high=_number(bounds["le"]))
    if "ge" in bounds:
        return _("{what}, {low} or more", what=text, low=_number(bounds["ge"]))
    if "gt" in bounds:
        return _("{what}, more than {low}", what=text, low=_number(bounds["gt"]))
    return text


def bad_value(env: str, shown: str, info: FieldInfo) -> Localized:
    """VAR=value: what it accepts; the variable and the value as typed, the explanation in the reader's locale."""
    return Localized(lambda: f"{env}={shown}: {accepts_now(info)}")


def shown_default(info: FieldInfo) -> str:
    """The default as it would be written in the environment ("" for none)."""
    value = info.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}" if value < 1e6 or value != int(value) else str(int(value))
    return str(value)


def load_one(cls: type[BaseModel], name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One plain field from the process environment (or `environ`), without the .env file or the whole model.

    For hot paths only (a test hook read at every job step): loading every field costs milliseconds.
    Field validators of the class do not run here, so use it for fields that have none.
    """
    info = cls.model_fields[name]
    env = env_name(info)
    text = (os.environ if environ is None else environ).get(env, "").strip()
    if not text:
        return info.default
    try:
        return _adapter(cls, name).validate_python(text)
    except ValidationError:
        raise ConfigError(bad_value(env, "(hidden)" if is_secret(info) else repr(text), info)) from None


@functools.cache
def _adapter(cls: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = cls.model_fields[name]
    form: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation  # a type form
    return TypeAdapter(form)


# --- loading -----------------------------------------------------------------------------------------------


def field_for_env(cls: type[BaseModel], env: str) -> tuple[str, FieldInfo] | None:
    """The (field name, FieldInfo) of `cls` that reads environment variable `env`, or None."""
    for name, info in cls.model_fields.items():
        if env_name(info) == env:
            return name, info
    return None


def blank_is_unset(data: Any) -> Any:
    """Surrounding spaces never count, and a blank value means the default, as an unset one does."""
    if not isinstance(data, dict):
        return data
    return {
        key: value.strip() if isinstance(value, str) else value
        for key, value in data.items()
        if not (isinstance(value, str) and not value.strip())
    }


def explain(cls: type[BaseModel], err: ValidationError) -> Localized:
    """One line per bad value, joined: VAR='value': what it accepts (in the reader's locale, see bad_value)."""
    parts: list[Localized | str] = []
    for error in err.errors():
        env = str(error["loc"][0]) if error["loc"] else ""
        found = field_for_env(cls, env)
        if found is None:
            parts.append(f"{env or cls.__name__}: {error['msg']}")  # pydantic's own words: not ours to translate
            continue
        info = found[1]
        parts.append(bad_value(env, "(hidden)" if is_secret(info) else repr(error.get("input")), info))
    return Localized(
        lambda: "; ".join(dict.fromkeys(part.now() if isinstance(part, Localized) else part for part in parts))
    )


class PlainSettings(BaseModel):
    """Settings on pydantic alone, for the GPU worker: its images (RunPod, Modal) need no pydantic-settings."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        return blank_is_unset(data)

    @classmethod
    def field_for_env(cls, env: str) -> tuple[str, FieldInfo] | None:
        """The (field name, FieldInfo) of this class that reads `env`, or None."""
        return field_for_env(cls, env)


_Plain = TypeVar("_Plain", bound=PlainSettings)


def load_plain(cls: type[_Plain], environ: Mapping[str, str] | None, dotenv_path: str | Path | None) -> _Plain:
    """`cls` from `environ` (default: os.environ) over the .env file at `dotenv_path`, when python-dotenv is here."""
    values: dict[str, Any] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        try:
            from dotenv import dotenv_values
        except ImportError:  # a worker image without python-dotenv: the environment alone
            pass
        else:
            values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    wanted = {env_name(info) for info in cls.model_fields.values()}
    try:
        return cls.model_validate({k: v for k, v in values.items() if k in wanted})
    except ValidationError as err:
        raise ConfigError(explain(cls, err)) from None
