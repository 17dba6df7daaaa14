"""The grind job and its result: the JSON that travels to a RunPod worker or a local backend.

docs/design.md, "Wire format: a grind job". Workers re-validate everything they are
given, so every field is checked here, once, for everyone.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, Literal

import coincurve
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from .errors import VanikeysError
from .formats import FORMATS, AddressFormat, get_format, parse_pubkey

if TYPE_CHECKING:
    from .patterns import Pattern

MAX_BUDGET = 1 << 50  # about 1.1e15 keys: days on a GPU; chunked orders stay far below
MAX_TOP = 100
MAX_TIME_LIMIT_S = 24 * 3600
MAX_PATTERN_CHARS = 200
MAX_PULLS = 10  # a 10-pull travels as one job: ten budgets, one best hit each
SEALED_PREFIX = "sealed:"  # a GrindHit secret sealed to the bot (gpu_worker/sealing.py)


class GrindJob(BaseModel):
    """The job a grinder takes (wire format v1): format, pattern, budget in keys, how to stop, and optional split-key
    and sealing.

    Strict and frozen; a model that validates is a job every backend can run (the pattern is parsed once on validation).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    v: Literal[1]
    format: str
    pattern: str = Field(max_length=MAX_PATTERN_CHARS)  # emptiness: parse_pattern's words, not pydantic's
    case: Literal["insensitive", "exact"] = "insensitive"
    fuzzy: bool = False
    budget: int = Field(gt=0, le=MAX_BUDGET)
    stop: Literal["budget", "full"] = "budget"
    top: int = Field(default=1, ge=1, le=MAX_TOP)
    split_pubkey: str | None = None
    time_limit_s: float = Field(default=60, gt=0, le=MAX_TIME_LIMIT_S)
    # The X25519 public key (64 hex digits) to seal every secret to (gpu_worker/sealing.py); None: in the clear.
    seal_to: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # Independent pulls of `budget` keys each in one job; results[i] is pull i's best hit (top must be 1).
    pulls: int = Field(default=1, ge=1, le=MAX_PULLS)
    # The bot's name for this submission: a provider that can look jobs up by it (self-hosted) answers a
    # resubmission with the job it already has; the worker ignores it.
    tag: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{8,64}$")

    @model_serializer(mode="wrap")
    def _design_shape(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Without the extensions, the JSON is exactly docs/design.md's job: each appears only when set.
        data: dict[str, Any] = handler(self)
        for name, unset in (("seal_to", None), ("tag", None), ("pulls", 1)):
            if data.get(name) == unset:
                data.pop(name, None)
        return data

    @model_validator(mode="after")
    def _pulls_shape(self) -> GrindJob:
        if self.pulls > 1 and (self.top != 1 or self.stop != "budget"):
            raise ValueError("a job of several pulls takes top 1 and stop 'budget'")
        return self

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        return get_format(value).id

    @field_validator("split_pubkey")
    @classmethod
    def _valid_pubkey(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return parse_pubkey(value).format(compressed=True).hex()

    @classmethod
    def parse(cls, data: Any) -> GrindJob:
        """Validate a job from JSON text or a decoded object; every failure is a VanikeysError.

        The pattern is compiled here too, so a job that parses can be ground.
        """
        try:
            job = cls.model_validate_json(data) if isinstance(data, (str, bytes)) else cls.model_validate(data)
        except ValidationError as exc:
            raise _job_error(exc) from None
        job.compiled()
        return job

    @property
    def address_format(self) -> AddressFormat:
        """The job's AddressFormat (the format id was validated)."""
        return FORMATS[self.format]

    @property
    def split_point(self) -> coincurve.PublicKey | None:
        """The customer's public key Q in split-key mode (results are offsets k with Q + k·G), else None."""
        return None if self.split_pubkey is None else coincurve.PublicKey(bytes.fromhex(self.split_pubkey))

    def compiled(self) -> Pattern:
        """The parsed pattern, compiled once when the job validated."""
        return self._compiled

    @cached_property
    def _compiled(self) -> Pattern:
        from .patterns import parse_pattern

        return parse_pattern(self.format, self.pattern, case=self.case, fuzzy=self.fuzzy)


def _job_error(exc: ValidationError) -> VanikeysError:
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, VanikeysError):
            return cause
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return VanikeysError("bad_job", "the job is not valid JSON: send one JSON object")
    where = ".".join(str(part) for part in first["loc"]) or "job"
    return VanikeysError("bad_job", f"invalid job field {where!r}: {_in_our_words(first)}")


def _in_our_words(error: Any) -> str:
    """What is wrong with a field, in the project's words (pydantic's own, "String should have at least 1
    character", are not shown to anyone)."""
    ctx = error.get("ctx", {})
    kind = error["type"]
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "send one JSON object, a dictionary of the job's fields"
    if kind == "missing":
        return "it is missing: include it"
    if kind == "extra_forbidden":
        return "not a field of a grind job: leave it out"
    if kind == "string_too_short":
        return "it is empty" if ctx.get("min_length") == 1 else f"it needs at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"it is longer than {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return "it has characters or a shape this field does not take"
    bounds = {
        "greater_than": "more than",
        "greater_than_equal": "at least",
        "less_than": "less than",
        "less_than_equal": "at most",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        return f"it must be {bounds[kind]} {limit}"
    if kind.startswith(("int_", "float_")):
        return "it must be a number" + (" (a whole one)" if kind.startswith("int_") else "")
    if kind.startswith("bool_"):
        return "it must be true or false"
    if kind.startswith("string_"):
        return "it must be text"
    if kind == "literal_error":
        return f"it must be one of {ctx.get('expected', 'the documented values')}"
    return "it is not a value this field takes (docs/design.md, the grind job)"


# A worker's output is parsed from JSON by the bot many times a second: pydantic-core's string cache would keep
# every identifier it sees (about 1.3 MB, filling over ~16,000 of them), so only field names are cached.
_NO_VALUE_CACHE: Final = "keys"


class GrindHit(BaseModel):
    """One result key: its secret (hex, or sealed to the bot), identifier, score and whether it matches fully.

    repr() and str() never show the secret.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, cache_strings=_NO_VALUE_CACHE)

    secret: str = Field(pattern=r"^(?:[0-9a-f]{64}|sealed:[A-Za-z0-9_-]{40,200}={0,2})$")  # hex, or sealing.py's box
    secret_kind: Literal["private_key", "offset"]
    identifier: str
    score: int = Field(ge=0)
    full: bool

    @property
    def sealed(self) -> bool:
        """Whether the secret is sealed to the bot's key (only the bot can open it) rather than plain hex."""
        return self.secret.startswith(SEALED_PREFIX)

    def __repr__(self) -> str:  # never let a secret reach a log through repr()
        return f"GrindHit(identifier={self.identifier!r}, score={self.score}, full={self.full}, secret=<redacted>)"

    __str__ = __repr__


class GrindResult(BaseModel):
    """A finished job: keys checked, time taken, which backend and device, and its hits, best first."""

    model_config = ConfigDict(extra="forbid", cache_strings=_NO_VALUE_CACHE)

    v: Literal[1] = 1
    checked: int = Field(ge=0)
    elapsed_s: float = Field(ge=0)
    backend: str
    device: str
    results: list[GrindHit]

    @property
    def best(self) -> GrindHit | None:
        """The best hit, or None when the job found nothing worth keeping."""
        return self.results[0] if self.results else None

    @property
    def found_full(self) -> bool:
        """Whether any hit matches the pattern fully."""
        return any(hit.full for hit in self.results)


def error_payload(err: VanikeysError) -> dict[str, str]:
    """A refused or failed job as the worker answers it: `{"error": "code: message"}`.

    A string (docs/design.md, "Wire format: errors"), not a {"code", "message"} object: RunPod marks a job
    FAILED and reports its `error` as text, and the client reads the code back
    from before the first colon.
    """
    return {"error": f"{err.code}: {err.message}"}
