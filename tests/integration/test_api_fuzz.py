"""Fuzz the public API with schemathesis against our own OpenAPI document: every operation, valid and invalid
inputs, over real HTTP to the real app (uvicorn, SQLite); the agent API as a manager and as an L1 agent, the web
chat anonymously and as its user. A server error (5xx) or a response that contradicts the documented schema is a
bug. Bounded and repeatable: 3 derandomized examples per operation, generation mode and caller (~650 requests),
plus a hostile pass: schema-valid requests whose strings are swapped for what careless and hostile clients send (a lone
surrogate, a NUL, the first and last representable dates, invisible characters, script URLs)."""

from __future__ import annotations

import json
import random
import zlib
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.support.live import make_agent, running_app

EXAMPLES = 3  # per operation × generation mode × role
# Endlessly streaming (SSE): fuzzed without credentials only, so every request ends (401/422).
STREAMS = {"/api/v1/chat/stream", "/api/v1/console/events"}


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    # The fuzzer sends made-up tokens by design: the bad-token throttle (tested in test_security) is lifted here.
    with running_app(
        f"sqlite:///{data / 'firstline.db'}",
        data,
        sms_webhook_secret="fuzz-sms-secret",
        load_sample_kb=False,
        signin_max_failures=100_000,
        signin_max_failures_per_address=100_000,
        new_chat_users_per_minute=100_000,
    ) as (base, rt):
        manager = make_agent(rt, "fuzz-manager", "manager")
        l1 = make_agent(rt, "fuzz-l1", "l1")
        # Operations on one agent (disable, rotate-token, ...) act on this one: a fuzzer that rotated its own
        # caller's token would fuzz everything after it unauthenticated.
        make_agent(rt, "fuzz-target", "l2")
        with httpx.Client(base_url=base, timeout=30) as http:
            # Something real behind small ids and names: a published article, a ticket (#1) with a transcript
            # (the bot offered the article first), a skill group.
            http.post(
                "/api/v1/kb/articles",
                headers=manager,
                json={
                    "id": "vpn",
                    "title": "VPN keeps disconnecting",
                    "status": "published",
                    "tags": ["network"],
                    "body": "Reinstall the VPN client 5.2 and restart the laptop.",
                },
            ).raise_for_status()
            r = http.post("/api/v1/chat", json={"user": "fuzz-user", "text": "my vpn keeps disconnecting"})
            r.raise_for_status()
            chat_token = r.json()["user_token"]
            http.post(
                "/api/v1/chat",
                json={"user": "fuzz-user", "text": "I need a person", "action": "human"},
                headers={"X-Chat-Token": chat_token},
            ).raise_for_status()
            http.post(
                "/api/v1/admin/groups", json={"slug": "network", "name": "Network"}, headers=manager
            ).raise_for_status()
            spec = http.get("/openapi.json").json()
        # role → fixed headers, fixed query (the web-chat user asks about their own chat)
        # Lower-case names, as the OpenAPI document spells these header parameters (so they are not generated).
        manager, l1 = ({"authorization": h["Authorization"]} for h in (manager, l1))
        with rt.sessions() as s:
            from tickets.agents import by_name

            target = by_name(s, "fuzz-target").id
        yield (
            base,
            spec | {"x-fuzz-target": target},
            {
                "anonymous": ({}, None),
                "manager": (manager, None),
                "l1": (l1, None),
                "web-chat user": ({"x-chat-token": chat_token}, {"user": "fuzz-user"}),
            },
        )


# Body strings may be anything JSON can spell; URLs (path, query) carry only what can be percent-encoded as UTF-8.
HOSTILE_BODY = [
    "\ud800",
    "a\udfffb",
    "nul\x00inside",
    "9999-12-31",
    "0001-01-01",
    "alice\u200b ",
    "javascript:alert(1)",
    "\u202e\u0000",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢" * 50,
]
HOSTILE_URL = ["\x00", "9999-12-31", "0001-01-01", "alice\u200b", "..%2F..%2Fetc", "\u202e"]


def _hostile(value, choices: list[str], rnd: random.Random):
    """`value` with every string replaced by a hostile one (keys kept: the request stays well-formed)."""
    if isinstance(value, str):
        return rnd.choice(choices)
    if isinstance(value, dict):
        return {k: _hostile(v, choices, rnd) for k, v in value.items()}
    if isinstance(value, list):
        return [_hostile(v, choices, rnd) for v in value]
    return value


def _call_hostile(case, base: str, rnd: random.Random) -> None:
    """Send a schema-valid case with its strings swapped for hostile ones, then check the response. Sent by hand:
    schemathesis would re-validate and UTF-8-encode the mutated case and fail before sending. The JSON body is
    spelled in ASCII escapes (a lone surrogate as \\ud800, the way JavaScript's JSON.stringify writes it)."""
    kwargs = case.as_transport_kwargs(base_url=base)
    if case.path_parameters:
        hostile_path = {k: quote(str(_hostile(v, HOSTILE_URL, rnd)), safe="") for k, v in case.path_parameters.items()}
        kwargs["url"] = base.rstrip("/") + case.operation.path.format(**hostile_path)
    if kwargs.get("params"):
        kwargs["params"] = {
            k: (v if k == "user" else _hostile(v, HOSTILE_URL, rnd))  # the chat caller stays itself
            for k, v in kwargs["params"].items()
        }
    if "json" in kwargs:
        kwargs["data"] = json.dumps(_hostile(kwargs.pop("json"), HOSTILE_BODY, rnd)).encode()
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Content-Type": "application/json"}
    response = requests.request(**kwargs, timeout=30)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


def _fuzz_operation(
    op,
    base: str,
    mode: GenerationMode,
    headers: dict,
    query: dict | None,
    failures: list[str],
    counter: list[int],
    hostile: bool = False,
    path: dict | None = None,
):
    takes_user = any(
        p.name == "user" and getattr(p.location, "value", p.location) == "query" for p in op.iter_parameters()
    )

    @settings(
        max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(
        case=op.as_strategy(
            generation_mode=mode,
            headers=headers or None,
            path_parameters=path,
            query=query if query and takes_user else None,
        )
    )
    def run(case):
        counter[0] += 1
        try:
            if hostile:
                _call_hostile(case, base, random.Random(zlib.crc32(f"{op.label}:{counter[0]}".encode())))
            else:
                case.call_and_validate(
                    base_url=base, checks=[not_a_server_error, response_schema_conformance], timeout=30
                )
        except (Exception, FailureGroup) as exc:  # collect every operation's failures, report them all at once
            failures.append(f"{op.label} [{'hostile' if hostile else mode.value}]: {str(exc)[:1500]}")

    try:
        run()
    except Unsatisfiable:  # negative mode on an operation with nothing to make invalid (no parameters, no body)
        if mode is GenerationMode.POSITIVE:
            raise


def test_no_server_errors_and_documented_responses(fuzz_app):
    base, spec, roles = fuzz_app
    schema = schemathesis.openapi.from_dict(spec)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 60, "the OpenAPI document lost operations"
    failures: list[str] = []
    counter = [0]
    for op in operations:
        # The callers each operation is for (the authz matrix covers everyone else's 401/403).
        if op.path in STREAMS:
            credentials = [roles["anonymous"]]
        elif op.path.startswith("/api/v1/chat"):
            credentials = [roles["anonymous"], roles["web-chat user"]]
        else:
            credentials = [roles["manager"], roles["l1"]]
        path = {"agent_id": spec["x-fuzz-target"]} if "{agent_id}" in op.path else None
        for headers, query in credentials:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz_operation(op, base, mode, headers, query, failures, counter, path=path)
            _fuzz_operation(
                op, base, GenerationMode.POSITIVE, headers, query, failures, counter, hostile=True, path=path
            )
    print(f"fuzzed {len(operations)} operations with {counter[0]} requests: {len(failures)} failures")
    assert not failures, "\n\n".join(failures[:20])


def test_numbers_beyond_the_database_range_are_a_clear_422(fuzz_app):
    """Found by the fuzzer: an id of 2**63 or more reached SQLite and answered 500."""
    base, _, roles = fuzz_app
    manager = roles["manager"][0]
    with httpx.Client(base_url=base, timeout=30) as http:
        for method, url, body in (
            ("GET", f"/api/v1/tickets/{2**70}", None),
            ("DELETE", f"/api/v1/tickets/{2**63}/participants/1", None),
            ("POST", "/api/v1/admin/groups/network/members", {"agent_id": 2**64}),
        ):
            r = http.request(method, url, headers=manager, json=body)
            assert r.status_code == 422, (url, r.status_code, r.text)
            assert r.json() == {"error": "invalid_input", "message": "a number in the request is out of range"}
        assert http.get("/api/v1/tickets/1", headers=manager).status_code == 200  # small ids work as before
