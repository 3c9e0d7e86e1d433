"""The wiki API for agents, against the running app on SQLite and PostgreSQL: only published articles
answer users; every edit is a revision, diff-able, and re-indexed at once; archive takes an article out."""

from __future__ import annotations

import httpx
import pytest

from tests.support.live import ChatUser, make_agent, running_app

BODY = (
    "## Badge stopped working\n\nTake the badge to the front desk on the ground floor: the receptionist "
    "re-encodes it in a minute. Bring photo ID.\n"
)
QUESTION = "my office badge stopped opening the doors"


@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory, embedder):
    with running_app(module_db_url, tmp_path_factory.mktemp("data")) as (base, runtime):
        yield base, runtime


def asked(http, user: str, text: str) -> dict:
    return ChatUser(http, user).send(text).json()


def test_article_lifecycle(app):
    base, runtime = app
    agent = make_agent(runtime, "wiki", kb_editor=True)
    with httpx.Client(base_url=base, timeout=30) as http:
        assert asked(http, "b0", QUESTION)["state"] == "waiting_for_agent"

        r = http.post(
            "/api/v1/kb/articles",
            json={"id": "fac-badge", "title": "Door badge not working", "body": BODY, "tags": ["facilities"]},
            headers=agent,
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "draft"
        assert (
            http.post(
                "/api/v1/kb/articles", json={"id": "fac-badge", "title": "x", "body": "y"}, headers=agent
            ).status_code
            == 409
        )
        # A draft answers nobody.
        assert asked(http, "b1", QUESTION)["state"] == "waiting_for_agent"
        assert "fac-badge" in [a["id"] for a in http.get("/api/v1/kb/drafts", headers=agent).json()]

        assert http.post("/api/v1/kb/articles/fac-badge/publish", headers=agent).json()["status"] == "published"
        r = asked(http, "b2", QUESTION)
        assert r["state"] == "bot" and r["replies"][0]["article"]["id"] == "fac-badge", r
        assert "front desk" in r["replies"][0]["text"]

        # Edit: a new revision, and the bot shows the new text straight away.
        new_body = BODY.replace("front desk on the ground floor", "security office on floor 2")
        r = http.put(
            "/api/v1/kb/articles/fac-badge", json={"title": "Door badge not working", "body": new_body}, headers=agent
        )
        assert r.status_code == 200 and r.json()["status"] == "published"
        r = asked(http, "b3", QUESTION)
        assert (
            r["replies"][0]["article"]["id"] == "fac-badge" and "security office on floor 2" in r["replies"][0]["text"]
        )
        assert "front desk" not in r["replies"][0]["text"]

        revs = http.get("/api/v1/kb/articles/fac-badge/revisions", headers=agent).json()
        assert len(revs) == 3 and all(v["author"] == f"agent:{revs[0]['author'].split(':')[1]}" for v in revs)
        newest, oldest = revs[0]["id"], revs[-1]["id"]
        d = http.get("/api/v1/kb/articles/fac-badge/diff", params={"from": oldest, "to": newest}, headers=agent).json()
        assert "-Take the badge to the front desk on the ground floor" in d["diff"]
        assert "+Take the badge to the security office on floor 2" in d["diff"]
        assert (
            http.get(
                "/api/v1/kb/articles/fac-badge/diff", params={"from": oldest, "to": 999999}, headers=agent
            ).status_code
            == 404
        )

        # Archived: out of answers and off the public page.
        assert http.post("/api/v1/kb/articles/fac-badge/archive", headers=agent).json()["status"] == "archived"
        assert asked(http, "b4", QUESTION)["state"] == "waiting_for_agent"
        assert http.get("/kb/fac-badge").status_code == 404


def test_editing_an_ingested_article_keeps_its_learned_phrasings(app):
    base, runtime = app
    agent = make_agent(runtime, "keeper", kb_editor=True)
    with httpx.Client(base_url=base, timeout=30) as http:
        q = "the authenticator app is gone since I got a new iphone"
        r = ChatUser(http, "k1").ask_for_person(q)
        number = r["ticket"]
        http.post(f"/api/v1/tickets/{number}/claim", headers=agent).raise_for_status()
        http.post(
            f"/api/v1/tickets/{number}/resolve",
            json={"resolution": "done", "articles": ["it-mfa-new-phone"]},
            headers=agent,
        ).raise_for_status()
        art = http.get("/api/v1/kb/articles/it-mfa-new-phone", headers=agent).json()
        assert art["phrasings"] == 1
        r = http.put(
            "/api/v1/kb/articles/it-mfa-new-phone",
            json={"title": art["title"], "body": art["body"] + "\n\nCall x1234 if stuck.\n"},
            headers=agent,
        )
        assert r.status_code == 200 and r.json()["phrasings"] == 1
        assert asked(http, "k2", q)["replies"][0]["article"]["id"] == "it-mfa-new-phone"


def test_agents_only(app):
    base, _ = app
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/api/v1/kb/drafts").status_code == 401
        assert http.post("/api/v1/kb/articles", json={"title": "t", "body": "b"}).status_code == 401
        assert (
            http.delete(
                "/api/v1/kb/articles/it-vpn-connect/phrasings/1", headers={"Authorization": "Bearer nope"}
            ).status_code
            == 401
        )
