"""Discord's OpenAPI 3.1 description of HTTP API v10 (tests/specs/discord/openapi.json), as a checker.

A request is matched to its path template and operation; its query parameters are checked against the
operation's parameters and its JSON body (or a multipart form's payload_json) against the request-body
schema. An answer is checked against the schema the operation gives for its status code (an error against
ErrorResponse, a 429 against the rate-limit answer, a 204 must be empty). Schemas are compiled once per
process and the validators cached per schema, so a check costs a validation, not a compile.

Deliberate exceptions, each justified, live in DEVIATIONS below and nowhere else.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).parent / "discord" / "openapi.json"

# Where the bot and Discord legitimately part from the letter of the spec. One entry per deviation:
# the name the checker applies it by, and why it is not a fault.
DEVIATIONS: dict[str, str] = {
    "integer snowflakes in requests": (
        "discord.py sends some ids as JSON integers (e.g. a DM's recipient_id, allowed_mentions ids); the spec "
        "types every snowflake as a decimal string, and Discord's API documentation says it accepts either "
        "for requests (its Snowflake type note). Answers are held to the string form."
    ),
}

_METHODS = ("get", "put", "post", "patch", "delete")

# The spec describes HTTP only; the gateway's events carry the same objects REST answers with, so each
# object inside an event the fakes dispatch is held to its REST schema. A path: keys joined by dots,
# "*" for every item of a list or value of a map.
GATEWAY_OBJECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "READY": (("user", "UserPIIResponse"),),
    "GUILD_CREATE": (("", "GuildResponse"), ("channels.*", "GuildChannelResponse"),
                     ("members.*", "GuildMemberResponse")),
    "INTERACTION_CREATE": (("user", "UserResponse"), ("member", "GuildMemberResponse"),
                           ("message", "MessageResponse"), ("data.resolved.users.*", "UserResponse")),
    "MESSAGE_CREATE": (("", "MessageResponse"),),
}


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    literal_segments: int          # more literal segments win: /messages/@original before /messages/{id}
    body: dict[str, Any] | None    # the request body's schema
    query: dict[str, dict[str, Any]]
    responses: dict[str, dict[str, Any] | None]   # status ("200", "4XX") -> body schema (None: no body)


class DiscordSpec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.version = document["info"]["version"]
        self._response_registry = _registry(document, "urn:discord:answer")
        request_document = copy.deepcopy(document)
        # DEVIATIONS["integer snowflakes in requests"]
        snowflake = request_document["components"]["schemas"]["SnowflakeType"]
        request_document["components"]["schemas"]["SnowflakeType"] = {
            "anyOf": [snowflake, {"type": "integer", "minimum": 0}]}
        self._request_registry = _registry(request_document, "urn:discord:request")
        self.operations: list[Operation] = []
        components = document["components"]
        for template, item in document["paths"].items():
            shared = item.get("parameters", [])
            for method in _METHODS:
                op = item.get(method)
                if op is None:
                    continue
                self.operations.append(_operation(method.upper(), template, op, shared, components))
        self.operations.sort(key=lambda o: -o.literal_segments)
        self._validators: dict[tuple[str, int], Draft202012Validator] = {}   # by id() of a schema kept here
        self._named: dict[str, dict[str, Any]] = {}

    def operation(self, method: str, path: str) -> Operation | None:
        for op in self.operations:
            if op.method == method and op.pattern.fullmatch(path):
                return op
        return None

    def check_request(self, method: str, path: str, query: dict[str, str], body: Any) -> list[str]:
        op = self.operation(method, path)
        if op is None:
            return [f"{method} {path}: no such operation in the spec"]
        where = f"{method} {op.template}"
        faults = []
        for name, raw in query.items():
            schema = op.query.get(name)
            if schema is None:
                faults.append(f"{where}: query parameter {name!r} is not in the spec")
                continue
            faults += self._validate(schema, _query_value(raw, schema), f"{where} ?{name}", request=True)
        if op.body is None:
            if body is not None:
                faults.append(f"{where}: the spec takes no body")
        elif body is not None:
            faults += self._validate(op.body, body, f"{where} request", request=True)
        return faults

    def check_response(self, method: str, path: str, status: int, body: bytes) -> list[str]:
        op = self.operation(method, path)
        if op is None:
            return [f"{method} {path}: no such operation in the spec"]
        where = f"{method} {op.template} → {status}"
        key = str(status) if str(status) in op.responses else f"{str(status)[0]}XX"
        if key not in op.responses:
            return [f"{where}: the spec lists only {sorted(op.responses)}"]
        schema = op.responses[key]
        if schema is None:
            return [] if not body else [f"{where}: the spec gives this answer no body"]
        try:
            data = json.loads(body)
        except ValueError:
            return [f"{where}: the answer is not JSON"]
        return self._validate(schema, data, where, request=False)

    def check_object(self, schema_name: str, value: Any, where: str) -> list[str]:
        """`value` against components/schemas/`schema_name` (for the gateway's objects, which are REST's)."""
        schema = self._named.setdefault(schema_name, {"$ref": f"#/components/schemas/{schema_name}"})
        return self._validate(schema, value, where, request=False)

    def check_event(self, event: str, data: dict[str, Any]) -> list[str]:
        """The objects inside a gateway event (GATEWAY_OBJECTS) against their REST schemas."""
        faults = []
        for path, schema_name in GATEWAY_OBJECTS.get(event, ()):
            for where, value in _at(data, path, event):
                faults += self.check_object(schema_name, value, where)
        return faults

    def _validate(self, schema: dict[str, Any], value: Any, where: str, *, request: bool) -> list[str]:
        key = ("request" if request else "answer", id(schema))
        validator = self._validators.get(key)
        if validator is None:
            base = "urn:discord:request" if request else "urn:discord:answer"
            registry = self._request_registry if request else self._response_registry
            validator = Draft202012Validator(_rebased(schema, base), registry=registry)
            self._validators[key] = validator
        return [f"{where}: {_describe(error)}" for error in validator.iter_errors(value)]


def _at(data: Any, path: str, where: str) -> list[tuple[str, Any]]:
    """The values at a GATEWAY_OBJECTS path, each with where it is."""
    if not path:
        return [(where, data)]
    key, _, rest = path.partition(".")
    if key == "*":
        items = data.items() if isinstance(data, dict) else enumerate(data if isinstance(data, list) else [])
        return [found for k, v in items for found in _at(v, rest, f"{where}.{k}")]
    if not isinstance(data, dict) or key not in data:
        return []
    return _at(data[key], rest, f"{where}.{key}")


def _operation(method: str, template: str, op: dict[str, Any], shared: list[dict[str, Any]],
               components: dict[str, Any]) -> Operation:
    literal = [segment for segment in template.strip("/").split("/") if not segment.startswith("{")]
    pattern = re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))
    body = None
    if "requestBody" in op:
        content = op["requestBody"]["content"]
        body = (content.get("application/json") or next(iter(content.values())))["schema"]
    query = {p["name"]: p.get("schema", {}) for p in [*shared, *op.get("parameters", [])] if p.get("in") == "query"}
    responses: dict[str, dict[str, Any] | None] = {}
    for status, answer in op.get("responses", {}).items():
        if "$ref" in answer:
            answer = components["responses"][answer["$ref"].rsplit("/", 1)[-1]]
        json_content = answer.get("content", {}).get("application/json")
        responses[status] = json_content["schema"] if json_content else None
    return Operation(method, template, pattern, len(literal), body, query, responses)


def _registry(document: dict[str, Any], uri: str) -> Registry:
    return Registry().with_resource(uri, Resource.from_contents(_rebased(document, uri),
                                                                default_specification=DRAFT202012))


def _rebased(node: Any, base: str) -> Any:
    """The schema with its "#/..." references pointing into the document at `base`."""
    if isinstance(node, dict):
        return {k: (base + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebased(v, base))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rebased(v, base) for v in node]
    return node


def _query_value(raw: str, schema: dict[str, Any]) -> Any:
    """A query string's value as Discord reads it: "True", "true" or "1" is a true boolean (Discord's
    reference, "Boolean Query Strings"), digits a number."""
    if schema.get("type") == "boolean" and raw in _QUERY_BOOLEANS:
        return _QUERY_BOOLEANS[raw]
    return int(raw) if re.fullmatch(r"-?\d+", raw) and schema.get("type") != "string" else raw


_QUERY_BOOLEANS = {"True": True, "true": True, "1": True, "False": False, "false": False, "0": False}


def _describe(error: ValidationError) -> str:
    """The reason of a jsonschema error, inside anyOf/oneOf the branch meant for the instance."""
    best = _reason(error)
    path = "/".join(str(p) for p in best.absolute_path) or "(top)"
    return f"at {path}: {best.message[:300]}"


def _reason(error: ValidationError) -> ValidationError:
    if not error.context:
        return error
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)

    def discriminator_mismatch(errors: list[ValidationError]) -> bool:
        # a branch for another kind of object (its `type` is another enum value) is not the one meant
        return any(e.validator in ("enum", "const") and list(e.relative_path)[-1:] == ["type"] for e in errors)

    candidates = [errors for errors in branches.values() if not discriminator_mismatch(errors)] \
        or list(branches.values())
    chosen = min(candidates, key=len)
    return _reason(best_match(chosen) or chosen[0])


@cache
def spec() -> DiscordSpec:
    """The OpenAPI document, read and compiled once per process."""
    return DiscordSpec(json.loads(SPEC_PATH.read_text(encoding="utf-8")))
