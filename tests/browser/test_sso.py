"""Company sign-in in headless Chromium against a real OpenID Connect provider running locally (the PyPI package
oidc-provider-mock: Authlib's authorization server, RS256-signed ID tokens, a registered client with its own secret
and redirect URI). Staff reach the console with the role their groups give; someone in no such group, a disabled
agent and a disabled employee are turned away; an employee's web chat knows who they are and shows their tickets;
a local password is the fallback."""

from __future__ import annotations

import re

import httpx
import pytest

from people.models import Person
from tests.support.browser import browser, expect, new_page, sign_in  # noqa: F401  (fixtures; skips without Chromium)
from tests.support.live import free_port, make_agent, running_app
from tickets import agents as agent_accounts
from tickets.models import Agent

oidc_provider_mock = pytest.importorskip("oidc_provider_mock")

USERS = [
    ("maria", {"email": "maria@corp.example", "name": "Maria Manager", "groups": ["it-managers"]}),
    ("lena", {"email": "lena@corp.example", "name": "Lena L1", "groups": ["servicedesk"]}),
    ("outsider", {"email": "out@corp.example", "name": "Otto Outsider", "groups": ["sales"]}),
    ("ivan", {"email": "ivan@corp.example", "name": "Ivan Employee", "groups": ["staff"]}),
]


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    users = [oidc_provider_mock.User(sub=sub, claims=claims) for sub, claims in USERS]
    with oidc_provider_mock.run_server_in_thread(require_client_registration=True, user_claims=users) as provider:
        issuer = f"http://localhost:{provider.server_port}"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        client = httpx.post(f"{issuer}/oauth2/clients", json={"redirect_uris": [f"{base}/auth/oidc/callback"]})
        client.raise_for_status()
        folder = tmp_path_factory.mktemp("sso")
        with running_app(
            f"sqlite:///{folder / 'firstline.db'}",
            folder,
            listen_port=port,
            load_sample_kb=True,
            public_base_url=base,
            oidc_issuer=issuer,
            oidc_client_id=client.json()["client_id"],
            oidc_client_secret=client.json()["client_secret"],
            oidc_role_groups="manager=it-managers,l2=it-l2,l1=servicedesk",
            oidc_auto_provision=True,
            chat_identity="sso",
        ) as (app_base, rt):
            assert app_base == base
            yield base, rt, issuer


def sso_sign_in(page, base: str, who: str, start: str = "/console") -> None:
    page.goto(f"{base}{start}")
    page.get_by_role("link", name=re.compile("Sign in")).first.click()
    page.get_by_role("button", name=who, exact=True).click()  # the provider's "authorize as" button


def test_staff_sign_in_with_the_company_account_and_get_their_role(desk, new_page):
    base, rt, issuer = desk
    page = new_page(foreign=issuer)
    sso_sign_in(page, base, "maria")
    expect(page.get_by_role("heading", name=re.compile("^Queue"))).to_be_visible()
    expect(page.locator(".me")).to_have_text("Maria Manager · MANAGER")  # provisioned from the groups claim
    expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
    session = next(c for c in page.context.cookies() if c["name"] == "fl_console")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert not [c for c in page.context.cookies() if c["name"] == "fl_oidc"]  # the flow's state is gone
    with rt.read_sessions() as s:
        maria = s.query(Agent).filter(Agent.email == "maria@corp.example").one()
        assert maria.role == "manager" and maria.oidc_subject == "maria"


def test_an_agent_a_manager_created_signs_in_and_loses_access_when_disabled(desk, new_page):
    base, rt, issuer = desk
    with rt.sessions.begin() as s:
        agent_accounts.create_agent(s, "Lena", "l2", email="LENA@corp.example")
    page = new_page(foreign=issuer)
    sso_sign_in(page, base, "lena")
    expect(page.locator(".me")).to_have_text("Lena · L1")  # her IdP groups decide the role now
    with rt.sessions.begin() as s:
        lena = s.query(Agent).filter(Agent.name == "Lena").one()
        assert lena.oidc_subject == "lena"
        agent_accounts.disable(s, lena)
    try:
        page.goto(f"{base}/console")
    except Exception:  # the open page's own 401 handling may navigate to the same place first
        pass
    expect(page.get_by_role("heading", name="Agent console")).to_be_visible()  # her session ended with her account
    sso_sign_in(page, base, "lena")
    expect(page.get_by_role("alert")).to_contain_text("disabled")
    page.goto(f"{base}/console")  # the old cookie, revoked on the server, opens nothing
    expect(page.get_by_role("heading", name="Agent console")).to_be_visible()


def test_someone_in_no_console_group_is_turned_away(desk, new_page):
    base, _, issuer = desk
    page = new_page(foreign=issuer)
    sso_sign_in(page, base, "outsider")
    expect(page.get_by_role("alert")).to_contain_text("none of the groups")
    assert "fl_console" not in {c["name"] for c in page.context.cookies()}


def test_a_local_password_is_the_fallback(desk, new_page):
    base, rt, issuer = desk
    make_agent(rt, "pavel", "l1")
    with rt.sessions.begin() as s:
        pavel = s.query(Agent).filter(Agent.name == "pavel").one()
        with pytest.raises(agent_accounts.AgentError):
            agent_accounts.set_password(s, pavel, "short")
        agent_accounts.set_password(s, pavel, "correct horse battery staple")
        assert pavel.password_hash.startswith("$argon2id$")
    page = new_page(foreign=issuer)
    sign_in(page, base, "pavel", "wrong horse battery staple")
    expect(page.get_by_role("alert")).to_contain_text("Wrong agent name, password or token")
    sign_in(page, base, "Pavel", "correct horse battery staple")
    expect(page.get_by_role("heading", name=re.compile("^Queue"))).to_be_visible()


def test_an_employee_signs_in_to_the_web_chat_and_sees_only_their_tickets(desk, new_page):
    base, rt, issuer = desk
    page = new_page(foreign=issuer)
    page.goto(f"{base}/")
    expect(page.locator("#signin")).to_be_visible()  # this desk's chat needs the company sign-in
    expect(page.locator("#text")).to_be_disabled()
    sso_sign_in(page, base, "ivan", start="/")
    expect(page).to_have_url(f"{base}/")  # the identity left the address bar (the fragment is gone)
    expect(page.locator("#signin")).to_be_hidden()
    expect(page.locator("#text")).to_be_enabled()
    page.locator("#text").fill("I need a person please")
    page.locator("#text").press("Enter")
    expect(page.locator("#state")).to_contain_text("Ticket #")
    number = int(re.search(r"#(\d+)", page.locator("#state").inner_text()).group(1))
    user = page.evaluate("localStorage.getItem('fl_user')")
    assert user.startswith("person:")
    manager = make_agent(rt, "chat-boss", "manager")
    with httpx.Client(base_url=base, timeout=30) as http:
        ticket = http.get(f"/api/v1/tickets/{number}", headers=manager).json()
        assert ticket["requester"]["email"] == "ivan@corp.example" and ticket["requester"]["name"] == "Ivan Employee"
        # Another browser cannot open Ivan's chat by naming it, and an anonymous chat is refused on this desk.
        assert http.get("/api/v1/chat/tickets", params={"user": user}).status_code == 401
        assert http.post("/api/v1/chat", json={"user": user, "text": "hi"}).status_code == 401
        assert http.post("/api/v1/chat", json={"user": "web-x", "text": "hi"}).status_code == 401
    mine = page.evaluate(
        "fetch('/api/v1/chat/tickets?user=' + encodeURIComponent(localStorage.getItem('fl_user')),"
        " {headers: {'X-Chat-Token': localStorage.getItem('fl_token')}}).then(r => r.json())"
    )
    assert [t["number"] for t in mine] == [number]
    # Disabled in the directory: the chat closes at once, and signing in again is refused.
    with rt.sessions.begin() as s:
        s.query(Person).filter(Person.email == "ivan@corp.example").one().active = False
    status = page.evaluate(
        "fetch('/api/v1/chat/tickets?user=' + encodeURIComponent(localStorage.getItem('fl_user')),"
        " {headers: {'X-Chat-Token': localStorage.getItem('fl_token')}}).then(r => r.status)"
    )
    assert status == 403
    page.goto(f"{base}/auth/oidc/login?purpose=chat")
    page.get_by_role("button", name="ivan", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("disabled")
