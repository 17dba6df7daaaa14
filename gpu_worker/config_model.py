"""The settings model: pydantic-settings reading the environment (or a given mapping) over a .env file.

Real variables win over .env; a blank value is the default; a bad value is one
line naming the variable, the value (hidden for secrets) and what it accepts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from gpu_worker.config_fields import ConfigError, blank_is_unset, explain, field_for_env

_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("vanikeys_environ", default=None)


class _Environment(EnvSettingsSource):
    """The process environment, or the mapping `load()` was given (tests, callers with their own values)."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        return parse_env_vars(os.environ if environ is None else environ, True, True, None)


class EnvironmentSettings(BaseSettings):
    """Base of the typed settings: frozen, case-sensitive names, blank values count as unset.

    Values come from the mapping `load()` was given (default: the process environment), then the .env file.
    """

    model_config = SettingsConfigDict(
        case_sensitive=True,
        extra="ignore",
        frozen=True,
        allow_inf_nan=False,
        env_ignore_empty=True,
        populate_by_name=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The sources in priority order: explicit init values, the environment, then .env (no secrets directory)."""
        # Real variables win over .env; no secrets directory.
        return init_settings, _Environment(settings_cls), dotenv_settings

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        return blank_is_unset(data)

    @classmethod
    def field_for_env(cls, env: str) -> tuple[str, FieldInfo] | None:
        """The (field name, FieldInfo) of this class that reads `env`, or None."""
        return field_for_env(cls, env)


_Settings = TypeVar("_Settings", bound=EnvironmentSettings)


def load(cls: type[_Settings], environ: Mapping[str, str] | None, dotenv_path: str | Path | None) -> _Settings:
    """`cls` from `environ` (default: os.environ) over the .env file at `dotenv_path` (None: none)."""
    dotenv = Path(dotenv_path) if dotenv_path is not None else None
    token = _ENVIRON.set(environ)
    try:
        return cls(_env_file=dotenv if dotenv is not None and dotenv.is_file() else None)  # type: ignore[call-arg]
    except ValidationError as err:
        raise ConfigError(explain(cls, err)) from None
    finally:
        _ENVIRON.reset(token)
