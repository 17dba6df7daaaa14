"""Discord's OpenAPI 3.1 description of HTTP API v10 (tests/specs/discord/openapi.json), as a checker.

A request is matched to its path template and operation; its query parameters are checked against the
operation's parameters and its JSON body (or a multipart form's payload_json) against the request-body
schema. An answer is checked against the schema the operation gives for its status code (an error against
ErrorResponse, a 429 against the rate-limit answer, a 204 must be empty). Schemas are compiled once per
process and the validators cached per schema, so a check costs a validation, not a compile.

Deliberate exceptions, each justified, live in DEVIATIONS below and nowhere else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

SPEC_PATH = Path(__file__).parent / "discord" / "openapi.json"

# Where the bot and Discord legitimately part from the letter of the spec: here and nowhere else.
# The name the checker applies each by -> why it is not a fault.
DEVIATIONS: dict[str, str] = {
    "integer snowflakes in requests": (
        "The spec types every id as a decimal string (SnowflakeType). discord.py's to_dict() methods send ids "
        "as JSON numbers: a DM's recipient_id, message_reference's message_id/channel_id/guild_id, an uploaded "
        "file's attachments[].id (its index in the form), allowed_mentions' users and roles. Discord reads a "
        "number there as the same id; it sends ids as strings only so that clients without 64-bit integers "
        "can read them (its Snowflakes reference). So a request may carry an id as a non-negative integer; "
        "every answer, update and event a fake sends is held to the string form."
    ),
}

_METHODS = ("get", "put", "post", "patch", "delete")

# The spec describes HTTP only; the gateway's events carry the same objects REST answers with, so each
# object inside an event the fakes dispatch is held to its REST schema. A path: keys joined by dots,
# "*" for every item of a list or value of a map.
GATEWAY_OBJECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "READY": (("user", "UserPIIResponse"),),
    "GUILD_CREATE": (
        ("", "GuildResponse"),
        ("channels.*", "GuildChannelResponse"),
        ("members.*", "GuildMemberResponse"),
    ),
    "INTERACTION_CREATE": (
        ("user", "UserResponse"),
        ("member", "GuildMemberResponse"),
        ("message", "MessageResponse"),
        ("data.resolved.users.*", "UserResponse"),
    ),
    "MESSAGE_CREATE": (("", "MessageResponse"),),
}


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    literal_segments: int  # more literal segments win: /messages/@original before /messages/{id}
    body: dict[str, Any] | None  # the request body's schema
    query: dict[str, dict[str, Any]]
    responses: dict[str, dict[str, Any] | None]  # status ("200", "4XX") -> body schema (None: no body)


class DiscordSpec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.version = document["info"]["version"]
        # Two copies, references resolved in place: answers to the letter, requests with the DEVIATIONS.
        self._answers = _inlined(json.loads(json.dumps(document)))  # a deep copy, faster than copy's
        requests = json.loads(json.dumps(document))
        schemas = requests["components"]["schemas"]  # DEVIATIONS["integer snowflakes in requests"]
        schemas["SnowflakeType"] = {"anyOf": [schemas["SnowflakeType"], {"type": "integer", "minimum": 0}]}
        self._requests = _inlined(requests)
        self.operations: list[Operation] = []
        for template, item in self._answers["paths"].items():
            for method in _METHODS:
                if method in item:
                    asked = self._requests["paths"][template]
                    self.operations.append(
                        _operation(method.upper(), template, asked[method], asked.get("parameters", []), item[method])
                    )
        self.operations.sort(key=lambda o: -o.literal_segments)
        self._validators: dict[int, Draft202012Validator] = {}  # by id() of a schema in the copies kept here

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
            faults += self._validate(schema, _query_value(raw, schema), f"{where} ?{name}")
        if op.body is None:
            if body is not None:
                faults.append(f"{where}: the spec takes no body")
        elif body is not None:
            faults += self._validate(op.body, body, f"{where} request")
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
        return self._validate(schema, data, where)

    def check_object(self, schema_name: str, value: Any, where: str) -> list[str]:
        """`value` against components/schemas/`schema_name` (for the gateway's objects, which are REST's)."""
        return self._validate(self._answers["components"]["schemas"][schema_name], value, where)

    def check_event(self, event: str, data: dict[str, Any]) -> list[str]:
        """The objects inside a gateway event (GATEWAY_OBJECTS) against their REST schemas."""
        faults = []
        for path, schema_name in GATEWAY_OBJECTS.get(event, ()):
            for where, value in _at(data, path, event):
                faults += self.check_object(schema_name, value, where)
        return faults

    def _validate(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        validator = self._validators.get(id(schema))
        if validator is None:
            validator = self._validators[id(schema)] = _Validator(schema)
        return [f"{where}: {_describe(error)}" for error in validator.iter_errors(value)]


def _union(keyword: str) -> Any:
    """oneOf/anyOf that, when every branch fixes the object's `type` to its own values (Discord's
    components, channels, callback payloads), validates only the branch the instance's `type` names: the
    same verdict for a discriminated union, without evaluating every other branch, and with the reason
    from the branch that was meant."""
    general = Draft202012Validator.VALIDATORS[keyword]
    kinds: dict[int, list[list[Any]] | None] = {}

    def validate(validator: Any, branches: list[Any], instance: Any, schema: dict[str, Any]) -> Any:
        if isinstance(instance, dict) and "type" in instance:
            if id(branches) not in kinds:
                found = [
                    ((b.get("properties") or {}).get("type") or {}).get("enum") if isinstance(b, dict) else None
                    for b in branches
                ]
                kinds[id(branches)] = found if all(found) else None  # type: ignore[assignment]
            values = kinds[id(branches)]
            if values is not None:
                meant = [i for i, allowed in enumerate(values) if instance["type"] in allowed]
                if len(meant) == 1:
                    yield from validator.descend(instance, branches[meant[0]], schema_path=meant[0])
                    return
        yield from general(validator, branches, instance, schema)

    return validate


_Validator = validators.extend(Draft202012Validator, {"oneOf": _union("oneOf"), "anyOf": _union("anyOf")})


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


def _operation(
    method: str, template: str, op: dict[str, Any], shared: list[dict[str, Any]], answered: dict[str, Any]
) -> Operation:
    """An operation: its request side from the requests' copy, its answers from the answers' copy."""
    literal = [segment for segment in template.strip("/").split("/") if not segment.startswith("{")]
    pattern = re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))
    body = None
    if "requestBody" in op:
        content = op["requestBody"]["content"]
        body = (content.get("application/json") or next(iter(content.values())))["schema"]
    query = {p["name"]: p.get("schema", {}) for p in [*shared, *op.get("parameters", [])] if p.get("in") == "query"}
    responses: dict[str, dict[str, Any] | None] = {}
    for status, answer in answered.get("responses", {}).items():
        json_content = answer.get("content", {}).get("application/json")
        responses[status] = json_content["schema"] if json_content else None
    return Operation(method, template, pattern, len(literal), body, query, responses)


def _inlined(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every {"$ref": "#/..."} replaced by the object it points to, in place.

    Recursive schemas become cyclic objects, which a validator walks only as deep as the instance goes;
    without references to look up, a validation costs about a third of what it does through a registry.
    """
    done: dict[int, Any] = {}  # a reference object -> what it became (each is resolved once)
    seen: set[int] = set()  # containers already walked (the result has cycles)

    def target(ref: str) -> Any:
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return resolved(node)

    def resolved(node: Any) -> Any:
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        if id(node) not in done:
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            visit(siblings)
            found = target(node["$ref"])
            done[id(node)] = found if not siblings else {**siblings, "allOf": [*siblings.get("allOf", []), found]}
        return done[id(node)]

    def visit(node: Any) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if (
            isinstance(node, dict)
            and isinstance(node.get("oneOf"), list)
            and node["oneOf"]
            and all(isinstance(b, dict) and "const" in b for b in node["oneOf"])
        ):
            node["enum"] = [b["const"] for b in node.pop("oneOf")]  # Discord's enums: the same, checked at once
        children = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in list(children):
            if isinstance(child, dict) and "$ref" in child:
                node[key] = resolved(child)  # its target is walked where it lives in the document
            elif isinstance(child, (dict, list)):
                visit(child)

    visit(document)
    return document


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

    def wrong_kind(errors: list[ValidationError]) -> bool:
        # a branch for another JSON type (the null of a nullable object) is not the one meant either
        return any(e.validator == "type" and not e.relative_path for e in errors)

    candidates = [
        errors for errors in branches.values() if not discriminator_mismatch(errors) and not wrong_kind(errors)
    ] or list(branches.values())
    chosen = min(candidates, key=len)
    return _reason(best_match(chosen) or chosen[0])


@cache
def spec() -> DiscordSpec:
    """The OpenAPI document, read and compiled once per process."""
    return DiscordSpec(json.loads(SPEC_PATH.read_text(encoding="utf-8")))
