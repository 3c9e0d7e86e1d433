"""Who may call what: every route of the app × every kind of caller, against the real app over HTTP.

The matrix below names a policy for each (method, path) of `app.routes`; a route added without an entry fails
`test_every_route_has_a_policy`. "allowed" means the request got past authentication and authorization (any
status but 401/403: made-up ids give 404, empty bodies 422). Webhooks (Telegram, Slack, SMS) authenticate by
their platform's signature: unsigned requests are refused whoever sends them."""

from __future__ import annotations

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from api.app import create_app
from api.console import auth as console_auth
from people.directory import organisation_named
from tests.support.fakes.telegram_api import FakeTelegram
from tests.support.live import free_port, make_agent, running_app
from tickets import agents as agent_accounts
from tickets.models import Agent

TG_TOKEN = "123456:authz-matrix-token"
# The matrix sends every route a revoked token, from one address: the bad-token throttle (tested in
# tests/integration/test_security.py) would answer 429 after a while, which is not what this test is about.
SETTINGS = dict(
    signin_max_failures_per_address=100_000,
    telegram_bot_token=TG_TOKEN,
    telegram_webhook_url="https://desk.example.test/api/v1/telegram/webhook",
    telegram_webhook_secret="tg-hook-secret",
    slack_bot_token="xoxb-authz",
    slack_signing_secret="sl-sign",
    sms_webhook_secret="sms-secret",
)

# Policies: public (anyone), page (console HTML shell: anyone; signed-in data comes from the API), viewer (staff or a
# client manager, who sees their organisation only), reports (managers and client managers),
# manager_page (console page a signed-in non-manager gets 403 for), agent (any active agent), manager,
# kb_editor (publishing: managers and agents with the KB-editor permission; here no L1-L3 agent has it),
# console_stream (the console's SSE: its session cookie only), chat (the web-chat user who owns the chat),
# webhook (platform signature), login_form (the login form's own CSRF cookie).
MATRIX: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/static"): "public",
    ("GET", "/healthz"): "public",
    ("GET", "/"): "public",
    ("GET", "/kb/{article_id}"): "public",
    # web chat
    ("POST", "/api/v1/chat"): "chat",
    ("GET", "/api/v1/chat/messages"): "chat",
    ("GET", "/api/v1/chat/stream"): "chat",
    ("GET", "/api/v1/chat/tickets"): "chat",
    ("GET", "/api/v1/chat/config"): "public",
    ("GET", "/api/v1/chat/logo"): "public",
    ("GET", "/api/v1/chat/state"): "chat",
    ("GET", "/api/v1/chat/tickets/{number}"): "chat",
    ("POST", "/api/v1/chat/files"): "chat",
    ("POST", "/api/v1/chat/session"): "public",  # a signed embed: its HMAC is the credential (404 when off)
    # company sign-in (OpenID Connect; 404 when not configured)
    ("GET", "/auth/oidc/login"): "public",
    ("GET", "/auth/oidc/callback"): "public",
    # agents; "viewer": staff, and a client manager scoped to their organisation
    ("GET", "/api/v1/tickets"): "viewer",
    ("GET", "/api/v1/tickets/{number}"): "viewer",
    ("GET", "/api/v1/people"): "viewer",
    ("GET", "/api/v1/people/{person_id}"): "viewer",
    ("PATCH", "/api/v1/people/{person_id}"): "agent",
    ("POST", "/api/v1/people/{person_id}/identities"): "agent",
    ("POST", "/api/v1/people/{person_id}/merge"): "agent",
    ("GET", "/api/v1/organisations"): "viewer",
    ("POST", "/api/v1/organisations"): "manager",
    ("PATCH", "/api/v1/organisations/{organisation_id}"): "manager",
    ("PATCH", "/api/v1/tickets/{number}"): "agent",
    ("POST", "/api/v1/tickets/{number}/claim"): "agent",
    ("POST", "/api/v1/tickets/{number}/reply"): "agent",
    ("POST", "/api/v1/tickets/{number}/handback"): "agent",
    ("POST", "/api/v1/tickets/{number}/resolve"): "agent",
    ("GET", "/api/v1/agents/me"): "agent",
    ("PUT", "/api/v1/agents/me/password"): "viewer",
    ("GET", "/api/v1/agents"): "manager",
    ("POST", "/api/v1/agents"): "manager",
    ("PATCH", "/api/v1/agents/{agent_id}"): "manager",
    ("POST", "/api/v1/agents/{agent_id}/disable"): "manager",
    ("POST", "/api/v1/agents/{agent_id}/enable"): "manager",
    ("POST", "/api/v1/agents/{agent_id}/rotate-token"): "manager",
    ("GET", "/api/v1/kb/search"): "agent",
    ("GET", "/api/v1/dashboard"): "manager",
    ("GET", "/api/v1/console/events"): "console_stream",
    ("GET", "/api/v1/kb/articles"): "agent",
    ("POST", "/api/v1/kb/articles"): "agent",
    ("GET", "/api/v1/kb/drafts"): "agent",
    ("GET", "/api/v1/kb/articles/{article_id}"): "agent",
    ("PUT", "/api/v1/kb/articles/{article_id}"): "agent",
    ("POST", "/api/v1/kb/articles/{article_id}/publish"): "kb_editor",
    ("POST", "/api/v1/kb/articles/{article_id}/archive"): "kb_editor",
    ("POST", "/api/v1/kb/drafts/{article_id}/approve"): "kb_editor",
    ("POST", "/api/v1/kb/drafts/{article_id}/reject"): "kb_editor",
    ("GET", "/api/v1/kb/articles/{article_id}/revisions"): "agent",
    ("GET", "/api/v1/kb/articles/{article_id}/diff"): "agent",
    ("GET", "/api/v1/kb/articles/{article_id}/phrasings"): "agent",
    ("DELETE", "/api/v1/kb/articles/{article_id}/phrasings/{unit_id}"): "agent",
    ("GET", "/api/v1/kb/reports/unanswered"): "agent",
    ("GET", "/api/v1/kb/reports/not-helped"): "agent",
    ("GET", "/api/v1/kb/reports/stale"): "agent",
    ("GET", "/api/v1/kb/reports"): "agent",
    ("POST", "/api/v1/tickets/{number}/escalate"): "agent",
    ("POST", "/api/v1/tickets/{number}/return"): "agent",
    ("GET", "/api/v1/tickets/{number}/escalations"): "agent",
    ("GET", "/api/v1/tickets/{number}/suggested-category"): "agent",
    ("GET", "/api/v1/tickets/{number}/participants"): "agent",
    ("POST", "/api/v1/tickets/{number}/participants"): "agent",
    ("DELETE", "/api/v1/tickets/{number}/participants/{agent_id}"): "agent",
    ("POST", "/api/v1/tickets/{number}/external-refs"): "agent",
    ("GET", "/api/v1/tickets/{number}/external-refs"): "agent",
    ("POST", "/api/v1/tickets/{number}/time"): "agent",
    ("GET", "/api/v1/tickets/{number}/time"): "agent",
    ("POST", "/api/v1/tickets/{number}/timer/start"): "agent",
    ("POST", "/api/v1/tickets/{number}/timer/stop"): "agent",
    ("GET", "/api/v1/time"): "agent",
    ("POST", "/api/v1/calls"): "agent",
    ("GET", "/api/v1/me/notifications"): "agent",
    ("PUT", "/api/v1/me/notifications"): "agent",
    # administration: any agent reads groups/categories (pickers), managers change them
    ("GET", "/api/v1/admin/groups"): "viewer",
    ("POST", "/api/v1/admin/groups"): "manager",
    ("POST", "/api/v1/admin/groups/{slug}/members"): "manager",
    ("DELETE", "/api/v1/admin/groups/{slug}/members/{agent_id}"): "manager",
    ("GET", "/api/v1/admin/categories"): "viewer",
    ("POST", "/api/v1/admin/categories"): "manager",
    ("PUT", "/api/v1/admin/categories/{slug}"): "manager",
    ("GET", "/api/v1/admin/sla-policies"): "manager",
    ("POST", "/api/v1/admin/sla-policies"): "manager",
    ("PUT", "/api/v1/admin/sla-policies/{policy_id}"): "manager",
    ("GET", "/api/v1/admin/holidays"): "manager",
    ("POST", "/api/v1/admin/holidays"): "manager",
    ("DELETE", "/api/v1/admin/holidays/{day}"): "manager",
    ("GET", "/api/v1/reports/summary"): "reports",
    ("GET", "/api/v1/admin/deliveries"): "manager",
    ("POST", "/api/v1/admin/deliveries/{item_id}/retry"): "manager",
    ("POST", "/api/v1/admin/chat-users/revoke"): "manager",
    # console pages
    ("GET", "/console"): "page",
    ("GET", "/console/tickets/{number}"): "page",
    ("GET", "/console/dashboard"): "manager_page",
    ("GET", "/console/reports"): "reports_page",
    ("GET", "/console/kb"): "page",
    ("GET", "/console/people"): "page",
    ("GET", "/console/people/{person_id}"): "page",
    ("GET", "/console/kb/review"): "page",
    ("GET", "/console/kb/new"): "page",
    ("GET", "/console/kb/articles/{article_id}"): "page",
    ("GET", "/console/lang/{code}"): "page",
    ("POST", "/console/login"): "login_form",
    ("POST", "/console/logout"): "page",
    # webhooks
    ("POST", "/api/v1/telegram/webhook"): "webhook",
    ("POST", "/slack/events"): "webhook",
    ("POST", "/slack/actions"): "webhook",
    ("POST", "/slack/commands"): "webhook",
    ("POST", "/api/v1/sms/inbound"): "webhook",
}
ROLES = (
    "anonymous",
    "chat",
    "l1",
    "l2",
    "l3",
    "manager",
    "deactivated",
    "manager_cookie",
    "manager_cookie_no_csrf",
    "l1_cookie",
    "client_manager",
)
PATH_VALUES = {
    "number": "999999",
    "article_id": "no-such-article",
    "unit_id": "999999",
    "agent_id": "999999",
    "item_id": "999999",
    "slug": "no-such-group",
    "policy_id": "999999",
    "person_id": "999999",
    "organisation_id": "999999",
    "day": "2031-01-01",
    "code": "en",
}
SAFE = ("GET", "HEAD", "OPTIONS")


def expected(policy: str, role: str, method: str) -> int | str:
    cookie = role.endswith("cookie") or role == "manager_cookie_no_csrf"
    if policy in ("public", "page"):
        return "allowed"
    if policy == "manager_page":
        return 403 if role == "l1_cookie" else "allowed"
    if policy == "reports_page":
        return 403 if role == "l1_cookie" else "allowed"
    if policy == "webhook":
        return 401
    if policy == "login_form":
        return 403  # no fl_login_csrf cookie: the form is refused before any name or token is looked at
    if policy == "chat":
        return "allowed" if role == "chat" else 401
    if policy == "console_stream":
        return "allowed" if cookie else 401
    # agent / manager API: a Bearer token or the console cookie (+ CSRF header for changes)
    if role in ("anonymous", "chat", "deactivated"):
        return 401
    if role == "manager_cookie_no_csrf" and method not in SAFE:
        return 403
    if role == "client_manager":  # reads their organisation's tickets, people and reports; changes nothing
        return "allowed" if policy in ("viewer", "reports") else 403
    if policy == "reports" and role in ("l1", "l2", "l3", "l1_cookie"):
        return 403
    if policy in ("manager", "kb_editor") and role in ("l1", "l2", "l3", "l1_cookie"):
        return 403
    return "allowed"


def route_keys(app) -> set[tuple[str, str]]:
    keys = set()
    for rc in iter_route_contexts(app.routes):
        for method in sorted(getattr(rc, "methods", None) or {"GET"}):
            if method != "HEAD":
                keys.add((method, rc.path))
    return keys


def test_every_route_has_a_policy(tmp_path):
    from core.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, secret_key="x", **SETTINGS))
    keys = route_keys(app)
    assert keys - MATRIX.keys() == set(), "routes without an authz policy: add them to MATRIX"
    assert MATRIX.keys() - keys == set(), "MATRIX names routes the app no longer has"


@pytest.fixture(scope="module")
def matrix_app(tmp_path_factory):
    fake = FakeTelegram(TG_TOKEN)
    data = tmp_path_factory.mktemp("authz")
    with (
        fake.running(),
        running_app(
            f"sqlite:///{data / 'firstline.db'}",
            data,
            telegram_api_base=fake.base_url,
            slack_api_base=f"http://127.0.0.1:{free_port()}/api/",
            load_sample_kb=False,
            **SETTINGS,
        ) as (base, rt),
    ):
        creds: dict[str, dict] = {"anonymous": {}}
        for role in ("l1", "l2", "l3", "manager"):
            creds[role] = make_agent(rt, f"authz-{role}", role)
        creds["deactivated"] = make_agent(rt, "authz-gone", "manager")
        with rt.sessions.begin() as s:
            org = organisation_named(s, "Authz Client")
            creds["client_manager"] = {
                "Authorization": "Bearer "
                + agent_accounts.create_agent(s, "authz-cm", "client_manager", organisation_id=org.id)
            }
        with rt.sessions.begin() as s:
            agents = {a.name: a for a in s.query(Agent)}
            agents["authz-gone"].active = False
            manager_cookie = agent_accounts.start_session(s, agents["authz-manager"])
            l1_cookie = agent_accounts.start_session(s, agents["authz-l1"])
        csrf = {console_auth.CSRF_HEADER: console_auth.csrf_token("test-secret", manager_cookie)}
        creds["manager_cookie"] = {"Cookie": f"{console_auth.COOKIE}={manager_cookie}", **csrf}
        creds["manager_cookie_no_csrf"] = {"Cookie": f"{console_auth.COOKIE}={manager_cookie}"}
        creds["l1_cookie"] = {
            "Cookie": f"{console_auth.COOKIE}={l1_cookie}",
            console_auth.CSRF_HEADER: console_auth.csrf_token("test-secret", l1_cookie),
        }
        with httpx.Client(base_url=base, timeout=30) as http:
            alice = http.post("/api/v1/chat", json={"user": "alice", "text": "talk to a human", "action": "human"})
            alice.raise_for_status()
            bob = http.post("/api/v1/chat", json={"user": "bob", "text": "how do I reset my password?"})
            bob.raise_for_status()
            creds["chat"] = {"X-Chat-Token": alice.json()["user_token"]}
            http.cookies.clear()
            yield http, creds, alice.json(), bob.json()


def _url(path: str) -> str:
    if path == "/static":
        return "/static/style.css"
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    return path + ("?user=alice" if path.startswith("/api/v1/chat/") else "")


def _status(http: httpx.Client, method: str, url: str, headers: dict) -> int:
    body = {"user": "alice", "text": "still broken"} if url == "/api/v1/chat" else {}
    http.cookies.clear()  # each caller brings only its own credentials (POST /chat sets a cookie)
    # Streamed: the SSE routes never end by themselves; the status line is all this needs.
    with http.stream(method, url, headers=headers, json=body if method not in SAFE else None) as r:
        return r.status_code


@pytest.mark.parametrize("role", ROLES)
def test_matrix(matrix_app, role):
    http, creds, _, _ = matrix_app
    wrong = []
    for (method, path), policy in sorted(MATRIX.items()):
        want = expected(policy, role, method)
        got = _status(http, method, _url(path), creds[role])
        if got >= 500 or (want == "allowed" and got in (401, 403)) or (want != "allowed" and got != want):
            wrong.append(f"{method} {path} ({policy}) as {role}: expected {want}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_a_chat_user_sees_only_their_own_chat(matrix_app):
    http, creds, alice, bob = matrix_app
    bob_token = {"X-Chat-Token": bob["user_token"]}
    for path in ("/api/v1/chat/messages", "/api/v1/chat/tickets", "/api/v1/chat/stream"):
        assert _status(http, "GET", f"{path}?user=alice", bob_token) == 401, path
    # Bob cannot write into Alice's chat with his token either.
    http.cookies.clear()
    r = http.post("/api/v1/chat", json={"user": "alice", "text": "it's bob"}, headers=bob_token)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    own = http.get("/api/v1/chat/messages", params={"user": "bob"}, headers=bob_token).json()
    assert own and {m["conversation_id"] for m in own} == {bob["conversation_id"]}
    assert bob["conversation_id"] != alice["conversation_id"]
    bobs = [t["number"] for t in http.get("/api/v1/chat/tickets", params={"user": "bob"}, headers=bob_token).json()]
    assert bobs == ([bob["ticket"]] if bob["ticket"] else []) and alice["ticket"] not in bobs
    mine = http.get("/api/v1/chat/tickets", params={"user": "alice"}, headers=creds["chat"]).json()
    assert [t["number"] for t in mine] == [alice["ticket"]]
