"""The Discord checker finds what the OpenAPI description forbids, and lets through what it allows."""

from __future__ import annotations

import json

from tests.specs.discord_spec import DEVIATIONS, spec

USER = {
    "id": "80351110224678912",
    "username": "nelly",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "public_flags": 0,
    "flags": 0,
    "primary_guild": None,
}


def answer(data: object) -> bytes:
    return json.dumps(data).encode()


def test_paths_match_their_templates_literal_segments_first() -> None:
    assert (
        spec().operation("PATCH", "/webhooks/1/tok/messages/@original").template
        == "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
    )
    assert (
        spec().operation("PATCH", "/webhooks/1/tok/messages/22").template
        == "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
    )
    assert spec().check_request("POST", "/no/such/route", {}, None) == [
        "POST /no/such/route: no such operation in the spec"
    ]


def test_an_answer_lacking_a_required_field_is_a_fault() -> None:
    assert (
        spec().check_response(
            "POST", "/users/@me/channels", 200, answer({"id": "1", "type": 1, "flags": 0, "recipients": [USER]})
        )
        == []
    )
    without_flags = {k: v for k, v in USER.items() if k != "flags"}
    faults = spec().check_response(
        "POST", "/users/@me/channels", 200, answer({"id": "1", "type": 1, "flags": 0, "recipients": [without_flags]})
    )
    assert faults == ["POST /users/@me/channels → 200: at recipients/0: 'flags' is a required property"]


def test_integer_snowflakes_pass_in_requests_only() -> None:
    assert set(DEVIATIONS) == {"integer snowflakes in requests"}
    assert spec().check_request("POST", "/users/@me/channels", {}, {"recipient_id": 80351110224678912}) == []
    upload = {
        "content": "card",
        "attachments": [{"id": 0, "filename": "card.png"}],
        "message_reference": {"message_id": 80351110224678912},
    }
    assert spec().check_request("POST", "/channels/1/messages", {}, upload) == []
    for not_an_id in ("x1", -1, 1.5):
        assert spec().check_request("POST", "/users/@me/channels", {}, {"recipient_id": not_an_id}) != [], not_an_id
    faults = spec().check_response(
        "POST", "/users/@me/channels", 200, answer({"id": 1, "type": 1, "flags": 0, "recipients": [USER]})
    )
    assert faults and "1 is not" in faults[0]


def test_status_codes_and_bodies_are_the_ones_listed() -> None:
    path = "/webhooks/1/tok/messages/@original"
    assert spec().check_response("DELETE", path, 204, b"") == []
    assert spec().check_response("DELETE", path, 204, b"{}") == [
        "DELETE /webhooks/{webhook_id}/{webhook_token}/messages/@original → 204: the spec gives this answer no body"
    ]
    assert spec().check_response("DELETE", path, 200, b"") != []
    assert spec().check_response("DELETE", path, 404, answer({"code": 10008, "message": "Unknown Message"})) == []
    assert spec().check_response("DELETE", path, 404, answer({"message": "Unknown Message"})) != []
    limited = {"code": 0, "message": "You are being rate limited.", "retry_after": 1.5, "global": False}
    assert spec().check_response("DELETE", path, 429, answer(limited)) == []
    assert spec().check_response("DELETE", path, 429, answer({**limited, "retry_after": "soon"})) != []


def test_query_parameters_are_read_as_discord_reads_them() -> None:
    path = "/webhooks/1/tok"
    body = {"content": "hi"}
    for truthy in ("1", "true", "True", "0", "false"):
        assert spec().check_request("POST", path, {"wait": truthy}, body) == [], truthy
    assert spec().check_request("POST", path, {"wait": "maybe"}, body) != []
    assert spec().check_request("POST", path, {"shout": "1"}, body) == [
        "POST /webhooks/{webhook_id}/{webhook_token}: query parameter 'shout' is not in the spec"
    ]


def test_a_request_body_over_a_limit_names_the_field() -> None:
    faults = spec().check_request(
        "POST",
        "/channels/1/messages",
        {},
        {
            "content": "ok",
            "components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": "c" * 101}]}],
        },
    )
    assert len(faults) == 1 and "at components/0/components/0/custom_id" in faults[0] and "too long" in faults[0]


def test_gateway_events_hold_their_objects_to_the_rest_schemas() -> None:
    assert spec().check_event("INTERACTION_CREATE", {"user": USER, "data": {"resolved": {"users": {"1": USER}}}}) == []
    faults = spec().check_event(
        "INTERACTION_CREATE", {"user": USER, "data": {"resolved": {"users": {"1": {"id": "1"}}}}}
    )
    assert faults and all(f.startswith("INTERACTION_CREATE.data.resolved.users.1:") for f in faults)
    assert spec().check_event("READY", {"user": USER}) == [
        "READY.user: at (top): 'mfa_enabled' is a required property",
        "READY.user: at (top): 'locale' is a required property",
    ]
