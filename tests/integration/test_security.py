"""What an attacker or a careless user tries against the running app, on SQLite and PostgreSQL: another user's
data, unsafe links, text and dates the service cannot store, old cookies and tokens, guessing, look-alike
identities, publishing without permission."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import func, select

from api import chat_auth
from tests.support.live import ChatUser, make_agent, running_app
from tickets.models import Conversation, Message

LIMITS = dict(signin_max_failures=3, signin_max_failures_per_address=60, new_chat_users_per_minute=60)


@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory, embedder):
    with running_app(module_db_url, tmp_path_factory.mktemp("data"), **LIMITS) as (base, runtime):
        yield base, runtime


@pytest.fixture
def http(app):
    with httpx.Client(base_url=app[0], timeout=30) as client:
        yield client


def raw_json(client: httpx.Client, path: str, body: str, **headers) -> httpx.Response:
    """POST a JSON text as written (json.dumps escapes a lone surrogate as \\ud800, as a hostile client would)."""
    return client.post(path, content=body.encode(), headers={"Content-Type": "application/json", **headers})


# -- 3. links and headers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/console",
        "/docs",
        "/static/chat.js",
        "/healthz",
        "/openapi.json",
        "/api/v1/tickets",
        "/no/such/page",
        "/kb/nothing-here",
    ],
)
def test_every_response_carries_strict_security_headers(app, http, path):
    r = http.get(path)
    csp = r.headers.get("content-security-policy", "")
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
    assert directives.get("script-src") == "'self'", csp  # no inline script, no other origin
    assert directives.get("frame-ancestors") == "'none'" and directives.get("object-src") == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers.get("x-content-type-options") == "nosniff"
    assert r.headers.get("x-frame-options") == "DENY"
    assert r.headers.get("referrer-policy") == "same-origin"


def test_api_docs_are_served_from_our_own_files(app, http):
    page = http.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    assert "<script>" not in page.text  # no inline script (CSP would block it)
    for s in sources:
        assert http.get(s).status_code == 200, s


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "//evil.example/x",
        "https://",
        "https://jira.example.com/\u0000x",
    ],
)
def test_only_http_links_are_stored_as_references(app, http, url):
    _, runtime = app
    l1 = make_agent(runtime, f"linker-{abs(hash(url)) % 10**8}")
    number = ChatUser(http, f"link-user-{abs(hash(url)) % 10**8}").send("talk to a human").json()["ticket"]
    http.post(f"/api/v1/tickets/{number}/claim", headers=l1).raise_for_status()
    r = raw_json(
        http,
        f"/api/v1/tickets/{number}/external-refs",
        json.dumps({"system": "jira", "ref": "OPS-1", "url": url}),
        **l1,
    )
    assert r.status_code == 422 and re.search(r"url|nul", r.text, re.I), r.text
    r = http.post(
        f"/api/v1/tickets/{number}/external-refs",
        json={"system": "jira", "ref": "OPS-1", "url": "https://jira.example.com/browse/OPS-1"},
        headers=l1,
    )
    assert r.status_code == 201
    urls = [x["url"] for x in http.get(f"/api/v1/tickets/{number}/external-refs", headers=l1).json()]
    assert urls == ["https://jira.example.com/browse/OPS-1"]


def test_url_settings_refuse_script_links():
    from core.settings import Settings

    with pytest.raises(ValueError, match="http"):
        Settings(dev_webhook_url="javascript:alert(1)")


# -- 5. no input reaches a 500 ----------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["\\ud800", "ok \\udfff then", "nul \\u0000 inside"])
def test_unstorable_chat_text_is_refused_clearly_and_nothing_is_stored(app, http, text):
    _, runtime = app
    user = f"surrogate-{abs(hash(text)) % 10**8}"
    r = raw_json(http, "/api/v1/chat", f'{{"user": "{user}", "text": "{text}"}}')
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_input" and "text" in r.json()["message"]
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Conversation).where(Conversation.user_ref == user)) == 0
    # The same user can still start their chat with a proper message.
    assert ChatUser(http, user).send("hello").status_code == 200


def test_unstorable_text_in_paths_queries_and_forms_is_a_422(app, http):
    _, runtime = app
    mgr = make_agent(runtime, "surrogate-manager", "manager")
    for r in (
        http.get("/api/v1/chat/messages", params={"user": "a\x00b"}),
        http.get("/api/v1/chat/messages?user=%ED%A0%80"),  # the UTF-8 spelling of U+D800
        http.get("/api/v1/kb/search", params={"q": "\x00"}, headers=mgr),
        http.get("/kb/%00"),
        raw_json(http, "/api/v1/agents", '{"name": "x\\ud83d", "role": "l1"}', **mgr),
        http.post(
            "/console/login",
            content=b"name=a%00&token=b&csrf=c",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
    ):
        assert r.status_code in (400, 401, 404, 422), (r.request.url, r.status_code, r.text)
        assert r.status_code != 500


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2026-02-30", "20261-01-01"])
def test_extreme_dates_are_refused_with_a_clear_error(app, http, day):
    _, runtime = app
    mgr = make_agent(runtime, f"dates-{day}", "manager")
    for path, params in (
        ("/api/v1/reports/summary", {"start": day}),
        ("/api/v1/reports/summary", {"start": "2026-01-01", "end": day}),
        ("/api/v1/reports/summary", {"period": "year", "start": day, "format": "csv"}),
        ("/api/v1/time", {"start": day}),
        ("/api/v1/time", {"end": day}),
    ):
        r = http.get(path, params=params, headers=mgr)
        assert r.status_code == 422, (path, params, r.status_code, r.text)
        assert day in r.text or "date" in r.text.lower()
    r = http.post("/api/v1/admin/holidays", json={"day": day, "name": "End of time"}, headers=mgr)
    assert r.status_code == 422, r.text


# -- 6. sessions and accounts ------------------------------------------------------------------------------
def console_sign_in(client: httpx.Client, name: str, token: str) -> httpx.Response:
    page = client.get("/console")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/console/login", data={"name": name, "token": token, "csrf": csrf}, follow_redirects=False)


def page_csrf(client: httpx.Client) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/console").text).group(1)


def test_signing_out_ends_the_session_on_the_server(app):
    base, runtime = app
    token = make_agent(runtime, "olga")["Authorization"].split()[1]
    with httpx.Client(base_url=base, timeout=30) as browser:
        assert console_sign_in(browser, "olga", token).status_code == 303
        cookie = browser.cookies.get("fl_console")
        assert cookie and browser.get("/api/v1/agents/me").json()["name"] == "olga"
        csrf = page_csrf(browser)
        assert browser.post("/console/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        assert "fl_console" not in browser.cookies
    # Someone who copied the cookie before the sign-out gets nothing with it.
    with httpx.Client(base_url=base, timeout=30, cookies={"fl_console": cookie}) as thief:
        r = thief.get("/api/v1/agents/me")
        assert r.status_code == 401 and "sign in again" in r.json()["message"]
        assert 'name="token"' in thief.get("/console").text  # the login form, not the queue


def test_a_manager_disables_rotates_and_changes_roles_at_once(app, http):
    base, runtime = app
    boss = make_agent(runtime, "boss", "manager")
    created = http.post("/api/v1/agents", json={"name": "leaver", "role": "l1"}, headers=boss).json()
    agent_id, token = created["id"], created["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=30) as browser:
        console_sign_in(browser, "leaver", token)
        assert browser.get("/api/v1/agents/me").status_code == 200

        r = http.post(f"/api/v1/agents/{agent_id}/disable", headers=boss)
        assert r.status_code == 200 and r.json()["active"] is False
        assert http.get("/api/v1/agents/me", headers=bearer).status_code == 401
        assert browser.get("/api/v1/agents/me").status_code == 401  # the open console session too
        assert console_sign_in(browser, "leaver", token).status_code == 401

        http.post(f"/api/v1/agents/{agent_id}/enable", headers=boss).raise_for_status()
        assert http.get("/api/v1/agents/me", headers=bearer).status_code == 200
        assert console_sign_in(browser, "leaver", token).status_code == 303

        # A lost token: a new one, shown once; the old one and the sessions opened with it stop.
        r = http.post(f"/api/v1/agents/{agent_id}/rotate-token", headers=boss)
        fresh = {"Authorization": f"Bearer {r.json()['token']}"}
        assert r.json()["token"] != token
        assert http.get("/api/v1/agents/me", headers=bearer).status_code == 401
        assert browser.get("/api/v1/agents/me").status_code == 401
        assert http.get("/api/v1/agents/me", headers=fresh).status_code == 200

    # A promotion and a demotion take effect on the next request.
    assert http.get("/api/v1/agents", headers=fresh).status_code == 403
    r = http.patch(f"/api/v1/agents/{agent_id}", json={"role": "manager"}, headers=boss)
    assert r.status_code == 200 and r.json()["role"] == "manager"
    assert http.get("/api/v1/agents", headers=fresh).status_code == 200
    http.patch(f"/api/v1/agents/{agent_id}", json={"role": "l2"}, headers=boss).raise_for_status()
    assert http.get("/api/v1/agents", headers=fresh).status_code == 403
    assert http.patch(f"/api/v1/agents/{agent_id}", json={"role": "root"}, headers=boss).status_code == 422
    # An l1 cannot do any of it.
    assert http.post(f"/api/v1/agents/{agent_id}/disable", headers=fresh).status_code == 403
    assert http.get("/api/v1/agents/me", headers=fresh).json()["active"] is True


def test_the_desk_always_keeps_an_active_manager(sessions):
    from tickets import agents

    with sessions.begin() as s:
        agents.create_agent(s, "only-boss", "manager")
        agents.create_agent(s, "helper", "l1")
    with sessions.begin() as s, pytest.raises(agents.AgentError, match="manager"):
        agents.disable(s, agents.get(s, "only-boss"))
    with sessions.begin() as s, pytest.raises(agents.AgentError, match="manager"):
        agents.set_role(s, agents.get(s, "only-boss"), "l3")
    with sessions.begin() as s:
        agents.set_role(s, agents.get(s, "helper"), "manager")
        agents.disable(s, agents.get(s, "only-boss"))  # another manager remains: allowed
    with sessions() as s:
        assert not agents.get(s, "only-boss").active


def firstline(db_url: str, data_dir, *args: str) -> subprocess.CompletedProcess:
    env = {
        "FIRSTLINE_DATABASE_URL": db_url,
        "FIRSTLINE_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "agents", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_agents_command_line_disables_rotates_and_sets_roles(app, tmp_path):
    base, runtime = app
    url = runtime.settings.database_url
    added = firstline(url, tmp_path, "add", "Ivan Petrov", "--role", "l1")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    me = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/api/v1/agents/me", headers=me).status_code == 200
        # A look-alike of an existing name is refused: it would pass for the same person in the console.
        clash = firstline(url, tmp_path, "add", "ivan  petrov\u200b")
        assert clash.returncode == 2 and "already" in clash.stderr

        assert firstline(url, tmp_path, "disable", "ivan petrov").returncode == 0
        assert http.get("/api/v1/agents/me", headers=me).status_code == 401
        listed = firstline(url, tmp_path, "list").stdout
        assert re.search(r"Ivan Petrov\tl1\tdisabled", listed), listed
        assert firstline(url, tmp_path, "enable", "Ivan Petrov").returncode == 0
        rotated = firstline(url, tmp_path, "rotate-token", "Ivan Petrov")
        new = {"Authorization": f"Bearer {rotated.stdout.strip()}"}
        assert http.get("/api/v1/agents/me", headers=me).status_code == 401
        assert http.get("/api/v1/agents/me", headers=new).status_code == 200
        assert firstline(url, tmp_path, "set-role", "Ivan Petrov", "l3").returncode == 0
        assert http.get("/api/v1/agents/me", headers=new).json()["role"] == "l3"
        bad = firstline(url, tmp_path, "set-role", "Ivan Petrov", "god")
        assert bad.returncode == 2 and "role" in bad.stderr
        missing = firstline(url, tmp_path, "disable", "nobody-here")
        assert missing.returncode == 2 and "nobody-here" in missing.stderr


# -- 7. throttling and look-alike identities ---------------------------------------------------------------
def test_failed_sign_ins_are_throttled_per_name(app):
    base, runtime = app
    token = make_agent(runtime, "petra")["Authorization"].split()[1]
    with httpx.Client(base_url=base, timeout=30) as guesser:
        for _ in range(LIMITS["signin_max_failures"]):
            assert console_sign_in(guesser, "petra", "wrong-guess").status_code == 401
        r = console_sign_in(guesser, "petra", "wrong-guess")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and "wait" in r.text
        # Locked for this name even with the right token (the guesser cannot tell when they hit it) ...
        assert console_sign_in(guesser, "Petra ", token).status_code == 429
    # ... while another agent signs in as usual.
    other = make_agent(runtime, "quentin")["Authorization"].split()[1]
    with httpx.Client(base_url=base, timeout=30) as browser:
        assert console_sign_in(browser, "quentin", other).status_code == 303


def test_bad_bearer_tokens_are_throttled_per_address(module_db_url, tmp_path):
    with (
        running_app(module_db_url, tmp_path, signin_max_failures_per_address=4) as (base, runtime),
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        good = make_agent(runtime, "rita")
        for i in range(4):
            assert http.get("/api/v1/tickets", headers={"Authorization": f"Bearer guess-{i}"}).status_code == 401
        r = http.get("/api/v1/tickets", headers={"Authorization": "Bearer guess-5"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        # A real token from that address waits too: the guesser cannot use a correct guess.
        assert http.get("/api/v1/tickets", headers=good).status_code == 429


def test_one_address_cannot_mint_endless_new_chat_identities(module_db_url, tmp_path):
    with (
        running_app(module_db_url, tmp_path, new_chat_users_per_minute=5) as (base, runtime),
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        known = ChatUser(http, "regular")
        assert known.send("hello").status_code == 200
        for i in range(4):
            assert ChatUser(http, f"fresh-{i}").send("hello").status_code == 200
        r = ChatUser(http, "fresh-5").send("hello", locale="ru")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and "Подождите" in r.json()["message"]
        with runtime.sessions() as s:
            assert (
                s.scalar(select(func.count()).select_from(Conversation).where(Conversation.user_ref == "fresh-5")) == 0
            )
        # Someone already chatting is not affected.
        assert known.send("how do I reset my password?").status_code == 200


def test_look_alike_web_chat_ids_are_one_user(app, http):
    base, runtime = app
    alice = ChatUser(http, "Alice")
    assert alice.send("hello").status_code == 200
    with httpx.Client(base_url=base, timeout=30) as elsewhere:
        for look_alike in ("alice ", "alice\u200b", "ＡＬＩＣＥ", " ALICE\u00ad"):
            r = ChatUser(elsewhere, look_alike).send("it's me, honest")
            assert r.status_code == 401, look_alike  # the same person: it needs Alice's token
    same = ChatUser(http, "alice\u200b")
    same.token = alice.token
    assert same.send("and another question").status_code == 200
    with runtime.sessions() as s:
        refs = set(
            s.scalars(
                select(Conversation.user_ref).where(
                    Conversation.channel == "web", Conversation.user_ref.like("%alice%")
                )
            )
        )
    assert refs == {"alice"}


# -- 8. permissions: publishing, web-chat tokens -----------------------------------------------------------
def test_publishing_knowledge_needs_the_kb_editor_permission(app, http):
    _, runtime = app
    writer = make_agent(runtime, "writer", "l1")
    boss = make_agent(runtime, "kb-boss", "manager")
    article = {
        "title": "Badge reader at the side door",
        "body": "Hold the badge flat for two seconds.",
        "tags": ["facilities"],
    }
    r = http.post("/api/v1/kb/articles", json=article, headers=writer)
    assert r.status_code == 201 and r.json()["status"] == "draft"  # drafts stay open to every agent
    article_id = r.json()["id"]
    r = http.post(f"/api/v1/kb/articles/{article_id}/publish", headers=writer)
    assert r.status_code == 403 and "KB-editor" in r.json()["message"]
    r = http.post("/api/v1/kb/articles", json={**article, "status": "published"}, headers=writer)
    assert r.status_code == 403
    writer_id = http.get("/api/v1/agents/me", headers=writer).json()["id"]
    r = http.patch(f"/api/v1/agents/{writer_id}", json={"kb_editor": True}, headers=boss)
    assert r.status_code == 200 and r.json()["kb_editor"] is True
    r = http.post(f"/api/v1/kb/articles/{article_id}/publish", headers=writer)
    assert r.status_code == 200 and r.json()["status"] == "published"
    http.patch(f"/api/v1/agents/{writer_id}", json={"kb_editor": False}, headers=boss).raise_for_status()
    r = http.put(
        f"/api/v1/kb/articles/{article_id}", json={**article, "body": "Hold it to the reader."}, headers=writer
    )
    assert r.status_code == 403  # a published article is the editors' to change
    assert http.post(f"/api/v1/kb/articles/{article_id}/archive", headers=boss).status_code == 200


def test_web_chat_tokens_expire_and_can_be_revoked(app, http):
    base, runtime = app
    secret = runtime.settings.secret
    user = ChatUser(http, "tomas")
    assert user.send("hello").status_code == 200
    with httpx.Client(base_url=base, timeout=30) as other_browser:
        old = chat_auth.issue(secret, "tomas", now=time.time() - 31 * 86400)  # issued 31 days ago, never used since
        r = other_browser.get("/api/v1/chat/messages", params={"user": "tomas"}, headers={"X-Chat-Token": old})
        assert r.status_code == 401 and "expired" in r.json()["message"]
        recent = chat_auth.issue(secret, "tomas", now=time.time() - 86400)
        r = other_browser.get("/api/v1/chat/messages", params={"user": "tomas"}, headers={"X-Chat-Token": recent})
        assert r.status_code == 200

    boss = make_agent(runtime, "revoker", "manager")
    assert (
        http.post(
            "/api/v1/admin/chat-users/revoke", json={"user": "tomas"}, headers=make_agent(runtime, "not-a-boss")
        ).status_code
        == 403
    )
    r = http.post("/api/v1/admin/chat-users/revoke", json={"user": " Tomas"}, headers=boss)
    assert r.status_code == 200 and r.json()["user"] == "tomas"
    assert http.get("/api/v1/chat/messages", params={"user": "tomas"}, headers=user.headers).status_code == 401
    assert user.send("still there?").status_code == 401
    assert http.post("/api/v1/admin/chat-users/revoke", json={"user": "nobody"}, headers=boss).status_code == 404


# -- 2. redelivery is detected per sender ------------------------------------------------------------------
def test_a_reused_client_message_id_never_mixes_two_users(app):
    base, runtime = app
    with httpx.Client(base_url=base, timeout=30) as a, httpx.Client(base_url=base, timeout=30) as b:
        first, second = ChatUser(a, "uma"), ChatUser(b, "victor")
        r1 = first.send("How do I set up MFA on my phone?", client_msg_id="1").json()
        r2 = second.send("How do I add a network printer?", client_msg_id="1").json()
        assert r2["duplicate"] is False and r2["conversation_id"] != r1["conversation_id"]
        assert {x["id"] for x in r2["replies"]}.isdisjoint({x["id"] for x in r1["replies"]})
        assert "printer" in " ".join(m["text"] for m in second.messages()).lower()
        # The same sender's redelivery is still a duplicate.
        again = second.send("How do I add a network printer?", client_msg_id="1").json()
        assert again["duplicate"] is True and [x["id"] for x in again["replies"]] == [x["id"] for x in r2["replies"]]
    with runtime.sessions() as s:
        texts = dict(
            s.execute(
                select(Conversation.user_ref, Message.text)
                .join(Conversation)
                .where(Message.author == "user", Message.platform_msg_id == "1")
            ).all()
        )
    assert texts == {"uma": "How do I set up MFA on my phone?", "victor": "How do I add a network printer?"}


def test_delivery_failures_are_listed_for_managers(app, http):
    _, runtime = app
    boss = make_agent(runtime, "deliveries-boss", "manager")
    assert http.get("/api/v1/admin/deliveries", headers=boss).status_code == 200
    assert http.get("/api/v1/admin/deliveries", params={"status": "lost"}, headers=boss).status_code == 422
    assert http.get("/api/v1/admin/deliveries", headers=make_agent(runtime, "deliveries-l1")).status_code == 403
    assert http.post("/api/v1/admin/deliveries/999999/retry", headers=boss).status_code == 404


# -- 9. a restart is not held up by open live streams ------------------------------------------------------
def test_shutdown_ends_open_live_streams_within_seconds(tmp_path):
    import threading

    from bench.cluster_load import Server
    from tests.support.live import free_port

    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}  # embedded defaults: SQLite in the data dir
    server = Server(0, free_port(), tmp_path, env)
    server.start()
    try:
        server.wait_healthy(180)
        base = server.base
        user = ChatUser(httpx.Client(base_url=base, timeout=30), "streamer")
        assert user.send("hello").status_code == 200
        opened, ended = threading.Event(), threading.Event()
        seen: dict = {}

        def listen() -> None:
            with (
                httpx.Client(base_url=base, timeout=httpx.Timeout(30, read=None)) as c,
                c.stream("GET", "/api/v1/chat/stream", params={"user": "streamer"}, headers=user.headers) as r,
            ):
                seen["headers"] = r.headers
                opened.set()
                try:
                    for _ in r.iter_lines():
                        pass
                except httpx.HTTPError:
                    pass
            ended.set()

        threading.Thread(target=listen, daemon=True).start()
        assert opened.wait(20)
        assert seen["headers"]["x-accel-buffering"] == "no"  # nginx passes events on at once
        assert seen["headers"]["content-type"].startswith("text/event-stream")
        time.sleep(0.5)
        started = time.monotonic()
        server.proc.terminate()  # SIGTERM, as systemd or Kubernetes send it
        server.proc.wait(timeout=30)
        took = time.monotonic() - started
        # Streams end on the shutdown signal themselves: well inside serve's 5 s graceful-shutdown limit.
        assert took < 4, f"the server took {took:.1f} s to stop with a live stream open"
        assert ended.wait(5)  # the client saw its stream end (and will reconnect to the new process)
    finally:
        server.kill9()
