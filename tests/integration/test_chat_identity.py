"""The web chat on an intranet page that vouches for the employee (chat_identity "signed", as Intercom's and
Chatwoot's identity verification work): the page signs "<email>|<ts>" with the shared secret; a valid, fresh
signature opens that person's own chat, anything else is refused, and nobody opens a person's chat by naming it.
Also: an agent sets their own password through the API."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import pytest

from people.directory import import_csv
from tests.support.live import make_agent, running_app

SECRET = "intranet-embed-secret"
DIRECTORY = """email,name,department,organisation,phone,telegram_id,slack_id,language,vip
olga@acme.example,Olga Ivanova,HR,Acme,,,,ru,no
"""


def signed(email: str, ts: int | None = None, secret: str = SECRET, name: str | None = None) -> dict:
    ts = int(time.time()) if ts is None else ts
    sig = hmac.new(secret.encode(), f"{email}|{ts}".encode(), hashlib.sha256).hexdigest()
    return {"email": email, "ts": ts, "sig": sig, **({"name": name} if name else {})}


@pytest.fixture(scope="module")
def desk(module_db_url, tmp_path_factory, embedder):
    with running_app(
        module_db_url,
        tmp_path_factory.mktemp("embed"),
        chat_identity="signed",
        chat_embed_secret=SECRET,
        load_sample_kb=False,
    ) as (base, rt):
        with rt.sessions.begin() as s:
            assert not import_csv(s, DIRECTORY).failed
        with httpx.Client(base_url=base, timeout=30) as http:
            yield http, rt


def test_a_signed_embed_opens_the_employees_own_chat(desk):
    http, rt = desk
    config = http.get("/api/v1/chat/config").json()
    assert (config["identity"], config["sso_url"]) == ("signed", None)
    r = http.post("/api/v1/chat/session", json=signed("Olga@ACME.example"))
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["email"] == "olga@acme.example" and session["user"].startswith("person:")
    token = {"X-Chat-Token": session["user_token"]}
    sent = http.post("/api/v1/chat", json={"user": session["user"], "text": "talk to a human"}, headers=token)
    assert sent.status_code == 200 and sent.json()["ticket"]
    agent = make_agent(rt, "embed-agent")
    who = http.get(f"/api/v1/tickets/{sent.json()['ticket']}", headers=agent).json()["requester"]
    assert (who["name"], who["email"], who["organisation"]) == ("Olga Ivanova", "olga@acme.example", "Acme")
    # The same employee on another device (a new signature) is the same chat and sees the same tickets.
    again = http.post("/api/v1/chat/session", json=signed("olga@acme.example")).json()
    assert again["user"] == session["user"]
    mine = http.get(
        "/api/v1/chat/tickets", params={"user": again["user"]}, headers={"X-Chat-Token": again["user_token"]}
    )
    assert [t["number"] for t in mine.json()] == [sent.json()["ticket"]]


def test_forged_stale_or_missing_signatures_open_nothing(desk):
    http, _ = desk
    http.cookies.clear()
    assert http.post("/api/v1/chat/session", json=signed("olga@acme.example", secret="guess")).status_code == 401
    stale = http.post("/api/v1/chat/session", json=signed("olga@acme.example", ts=int(time.time()) - 3600))
    assert stale.status_code == 401 and "expired" in stale.json()["message"]
    tampered = signed("olga@acme.example") | {"email": "boss@acme.example"}
    assert http.post("/api/v1/chat/session", json=tampered).status_code == 401
    assert http.post("/api/v1/chat/session", json={"email": "x@y.z", "ts": "soon", "sig": "x"}).status_code == 422
    # This desk has no anonymous chat, and a person's chat cannot be claimed by naming it.
    anonymous = http.post("/api/v1/chat", json={"user": "web-123", "text": "hello"})
    assert anonymous.status_code == 401 and "sign in" in anonymous.json()["message"]
    claimed = http.post("/api/v1/chat", json={"user": "person:999", "text": "hello"})
    assert claimed.status_code == 401


def test_an_agent_sets_their_own_password(desk):
    http, rt = desk
    agent = make_agent(rt, "pw-agent")
    short = http.put("/api/v1/agents/me/password", json={"new": "short"}, headers=agent)
    assert short.status_code == 422
    first = http.put("/api/v1/agents/me/password", json={"new": "a long enough secret"}, headers=agent)
    assert first.status_code == 200 and first.json()["password"] is True
    # Changing it again needs the current one.
    refused = http.put("/api/v1/agents/me/password", json={"new": "another long secret"}, headers=agent)
    assert refused.status_code == 403
    changed = http.put(
        "/api/v1/agents/me/password",
        json={"current": "a long enough secret", "new": "another long secret"},
        headers=agent,
    )
    assert changed.status_code == 200
