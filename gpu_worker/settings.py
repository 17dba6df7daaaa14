"""The GPU worker's settings (RunPod worker, self-hosted box): its own small model, as bot/ is not installed there.

The same fields as the bot's (gpu_worker/config_fields.py): one per environment
variable, a .env file honoured (where python-dotenv is installed), one-line
errors; on pydantic alone, as the Modal image installs no pydantic-settings.
README's table and .env.example list these too (scripts/gen_config_docs.py).
Besides this module, only bot/settings.py and the field machinery
(gpu_worker/config_fields.py, config_model.py) touch the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from gpu_worker.config_fields import ConfigError, PlainSettings, load_one, load_plain, secret, setting
from gpu_worker.i18n import N_
from gpu_worker.terminal_language import OVERRIDE, POSIX_VARIABLES

# The RunPod SDK logs every handler output at DEBUG, and an output holds private keys: its level stays here.
SAFE_LOG_LEVELS = ("NOTSET", "INFO", "WARN", "ERROR")
SDK_LOG_LEVELS = ("RUNPOD_LOG_LEVEL", "RUNPOD_DEBUG_LEVEL")

SECTIONS = (
    ("worker_backend", "The GPU worker (RunPod image, self-hosted box)"),
    ("modal_gpu", "Deploying the Modal app (read by `modal deploy deploy/modal_app.py`)"),
    ("language", "The command line's and the console's language (docs/i18n.md)"),
)
_LANGUAGE_ACCEPTS = N_("a language tag such as es, pt_BR, ru_RU.UTF-8 (any other language, C or POSIX: English)")


class WorkerSettings(PlainSettings):
    """The worker's settings (grinder choice, build cache, compiler, the self-hosted box); see README's table."""

    worker_backend: Literal["auto", "python", "native", "cuda"] = setting(
        "VANIKEYS_WORKER_BACKEND",
        "auto",
        "the worker's grinder: auto (cuda, else native, else python), python, "
        "native or cuda (the RunPod image sets cuda, so a broken GPU fails the worker's fitness check)",
    )
    cache: Path | None = setting(
        "VANIKEYS_CACHE", None, "where the native and CUDA builds are cached (default ~/.cache/vanikeys)"
    )
    cxx: str | None = setting(
        "CXX", None, "the C++ compiler for the native build (default: g++, clang++ or c++, whichever is found)"
    )
    cpu_cores: int | None = setting(
        "VANIKEYS_CPU_CORES",
        None,
        "how many CPU cores a python or native grind uses (default: every core; fewer leaves the rest to "
        "whatever shares the machine)",
        ge=1,
        unit="cores",
    )
    selfhosted_token: str | None = secret(
        "VANIKEYS_SELFHOSTED_TOKEN",
        "the bearer token the self-hosted box requires, at least 16 characters (the bot sets the same)",
    )
    selfhosted_port: int = setting(
        "VANIKEYS_SELFHOSTED_PORT",
        8000,
        "the port the box's health check asks (the --port the box was started with)",
        ge=1,
        le=65535,
        unit="port",
    )
    runpod_log_level: str | None = setting(
        "RUNPOD_LOG_LEVEL",
        None,
        "the RunPod SDK's log level: DEBUG and TRACE "
        "are raised to INFO, as the SDK logs every output (private keys) at "
        "DEBUG",
    )
    runpod_debug_level: str | None = setting(
        "RUNPOD_DEBUG_LEVEL", None, "the RunPod SDK's other log level variable, held at INFO or above the same way"
    )
    runpod_webhook_get_job: str | None = setting(
        "RUNPOD_WEBHOOK_GET_JOB",
        None,
        "set by RunPod in its workers: run as a serverless worker (with a fitness check)",
    )
    runpod_webhook_post_output: str | None = setting(
        "RUNPOD_WEBHOOK_POST_OUTPUT", None, "set by RunPod in its workers: progress updates go to the job server"
    )

    modal_gpu: str = setting("VANIKEYS_MODAL_GPU", "L4", "the GPU type Modal runs the worker on")
    modal_max_containers: int = setting(
        "VANIKEYS_MODAL_MAX_CONTAINERS",
        10,
        "the most Modal containers at once (it takes every job the self-hosted box does not)",
        ge=1,
        unit="containers",
    )

    # Read once at start by gpu_worker/terminal_language.py (without pydantic, so `vanikeys --help` stays fast).
    language: str | None = setting(
        OVERRIDE,
        None,
        "the language of `vanikeys` and the console (en, es, pt_BR, ru); wins over the POSIX variables below",
        accepts=_LANGUAGE_ACCEPTS,
    )
    posix_language: str | None = setting(
        POSIX_VARIABLES[0],
        None,
        "the system's own: a list of languages, first choice first (es:en)",
        accepts=_LANGUAGE_ACCEPTS,
    )
    lc_all: str | None = setting(
        POSIX_VARIABLES[1], None, "the system's own: when LANGUAGE is unset, the language", accepts=_LANGUAGE_ACCEPTS
    )
    lc_messages: str | None = setting(
        POSIX_VARIABLES[2], None, "the system's own: when neither of the above is set", accepts=_LANGUAGE_ACCEPTS
    )
    lang: str | None = setting(
        POSIX_VARIABLES[3], None, "the system's own: the last the language is read from", accepts=_LANGUAGE_ACCEPTS
    )


def load_worker_settings(
    environ: Mapping[str, str] | None = None, *, dotenv_path: str | Path | None = ".env"
) -> WorkerSettings:
    """The worker's settings from `environ` (default: the process environment) over .env; ConfigError names
    a bad value.
    """
    return load_plain(WorkerSettings, environ, dotenv_path)


def worker_setting(name: str) -> object:
    """One field from the process environment alone, cheaply (the native build's cache and compiler)."""
    return load_one(WorkerSettings, name)


def keep_sdk_logs_at_info() -> None:
    """Before the RunPod SDK is imported (its logger reads the level once, at import): never DEBUG or TRACE."""
    for name in SDK_LOG_LEVELS:
        if os.environ.get(name, "INFO").upper() not in SAFE_LOG_LEVELS:
            os.environ[name] = "INFO"
    os.environ.setdefault("RUNPOD_LOG_LEVEL", "INFO")


__all__ = ["ConfigError", "WorkerSettings", "keep_sdk_logs_at_info", "load_worker_settings", "worker_setting"]
