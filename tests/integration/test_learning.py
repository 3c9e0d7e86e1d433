"""The KB grows from resolutions, over HTTP against the running app, on SQLite and PostgreSQL:
a question nobody could answer becomes an article after an agent resolves it (and approves the draft);
a question resolved with a linked article becomes a learned phrasing of it; Helped teaches too; learning
can be undone; what was learned survives a restart."""

from __future__ import annotations

import httpx
import pytest

from tests.support.live import ChatUser, make_agent, running_app

OOO_Q = "How do I set up an out-of-office auto reply in Outlook?"
OOO_REPHRASED = "How can I turn on an automatic out of office reply in Outlook?"
OOO_ANSWER = (
    "In Outlook choose File → Automatic Replies, select 'Send automatic replies', write the message "
    "for people inside and outside the company, tick 'Only send during this time range' and set the dates."
)
MFA_Q = "the authenticator app is gone since I got a new iphone"
MFA_REPHRASED = "since switching to a new iphone I have no authenticator app anymore"


@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory, embedder):
    with running_app(module_db_url, tmp_path_factory.mktemp("data")) as (base, runtime):
        yield base, runtime


def handed_off(user: ChatUser, text: str) -> int:
    """The bot does not answer: it hands off, or offers "did you mean" choices and the user picks none of them."""
    r = user.ask_for_person(text)
    assert r["state"] == "waiting_for_agent", r
    return r["ticket"]


def resolve(http, agent, number: int, resolution: str, articles: list[str] = ()) -> None:
    http.post(f"/api/v1/tickets/{number}/claim", headers=agent).raise_for_status()
    r = http.post(
        f"/api/v1/tickets/{number}/resolve", json={"resolution": resolution, "articles": list(articles)}, headers=agent
    )
    assert r.status_code == 200, r.text


def test_unanswered_question_becomes_an_article_after_review(app):
    base, runtime = app
    agent = make_agent(runtime, "ana")
    with httpx.Client(base_url=base, timeout=30) as http:
        number = handed_off(ChatUser(http, "u1"), OOO_Q)
        resolve(http, agent, number, OOO_ANSWER)

        drafts = http.get("/api/v1/kb/drafts", headers=agent).json()
        draft = next(d for d in drafts if d["origin"] == f"ticket:{number}")
        assert draft["title"] == OOO_Q and draft["body"] == OOO_ANSWER and draft["status"] == "draft"
        events = http.get(f"/api/v1/tickets/{number}", headers=agent).json()["events"]
        assert any(e["action"] == "learned" and e["detail"]["article_id"] == draft["id"] for e in events)

        # Not reviewed yet: a draft does not answer users.
        assert handed_off(ChatUser(http, "u2"), OOO_REPHRASED)
        assert http.get(f"/kb/{draft['id']}").status_code == 404

        # The agent who resolved it may not publish it; a KB editor reviews and approves.
        assert http.post(f"/api/v1/kb/drafts/{draft['id']}/approve", headers=agent).status_code == 403
        editor = make_agent(runtime, "ana-editor", kb_editor=True)
        r = http.post(f"/api/v1/kb/drafts/{draft['id']}/approve", headers=editor)
        assert r.status_code == 200 and r.json()["status"] == "published"
        assert draft["id"] not in [d["id"] for d in http.get("/api/v1/kb/drafts", headers=agent).json()]

        # Another user, other words: the bot answers with the new article, right away.
        reply = ChatUser(http, "u3").send(OOO_REPHRASED).json()
        assert reply["state"] == "bot", reply
        assert reply["replies"][0]["kind"] == "answer"
        assert reply["replies"][0]["article"]["id"] == draft["id"]
        assert "Automatic Replies" in reply["replies"][0]["text"]
        assert http.get(f"/kb/{draft['id']}").status_code == 200


def test_rejected_draft_is_gone(app):
    base, runtime = app
    agent = make_agent(runtime, "rex", kb_editor=True)
    with httpx.Client(base_url=base, timeout=30) as http:
        number = handed_off(ChatUser(http, "r1"), "my badge doesn't open the door")
        resolve(http, agent, number, "Facilities re-encoded the badge at the front desk.")
        draft = next(
            d for d in http.get("/api/v1/kb/drafts", headers=agent).json() if d["origin"] == f"ticket:{number}"
        )
        assert http.post(f"/api/v1/kb/drafts/{draft['id']}/reject", headers=agent).status_code == 204
        assert http.get(f"/api/v1/kb/articles/{draft['id']}", headers=agent).status_code == 404
        assert http.post(f"/api/v1/kb/drafts/{draft['id']}/reject", headers=agent).status_code == 404


def test_linked_article_learns_the_question_and_learning_can_be_undone(app):
    base, runtime = app
    agent = make_agent(runtime, "lin")
    with httpx.Client(base_url=base, timeout=30) as http:
        assert handed_off(ChatUser(http, "m0"), MFA_REPHRASED)  # cold: the bot is not sure
        number = handed_off(ChatUser(http, "m1"), MFA_Q)
        resolve(http, agent, number, "Walked them through moving MFA to the new phone.", ["it-mfa-new-phone"])

        learned = http.get("/api/v1/kb/articles/it-mfa-new-phone/phrasings", headers=agent).json()
        assert [p["text"] for p in learned] == [MFA_Q] and learned[0]["origin"] == f"ticket:{number}"

        r = ChatUser(http, "m2").send(MFA_REPHRASED).json()
        assert r["state"] == "bot" and r["replies"][0]["article"]["id"] == "it-mfa-new-phone", r

        # Bad learning is undone: the phrasing leaves the index at once.
        d = http.delete(f"/api/v1/kb/articles/it-mfa-new-phone/phrasings/{learned[0]['id']}", headers=agent)
        assert d.status_code == 204
        assert http.get("/api/v1/kb/articles/it-mfa-new-phone/phrasings", headers=agent).json() == []
        assert handed_off(ChatUser(http, "m3"), MFA_REPHRASED)
        again = http.delete(f"/api/v1/kb/articles/it-mfa-new-phone/phrasings/{learned[0]['id']}", headers=agent)
        assert again.status_code == 404


def test_helped_teaches_and_feedback_is_counted(app):
    base, runtime = app
    agent = make_agent(runtime, "fay")
    with httpx.Client(base_url=base, timeout=30) as http:
        user = ChatUser(http, "h1")
        q = "stuff in the print queue won't go away"
        assert user.send(q).json()["replies"][0]["article"]["id"] == "it-printer-queue-stuck"
        user.send(action="helped")
        art = http.get("/api/v1/kb/articles/it-printer-queue-stuck", headers=agent).json()
        assert art["helped"] == 1 and art["not_helped"] == 0
        phr = http.get("/api/v1/kb/articles/it-printer-queue-stuck/phrasings", headers=agent).json()
        assert [p["text"] for p in phr] == [q] and phr[0]["origin"].startswith("helped:")

        other = ChatUser(http, "h2")
        first = other.send("what is the wifi password for visitors").json()["replies"][0]["article"]["id"]
        other.send(action="not_helped")
        assert http.get(f"/api/v1/kb/articles/{first}", headers=agent).json()["not_helped"] == 1


def test_learning_survives_a_restart(db_url, tmp_path, embedder):
    data = tmp_path / "data"
    with running_app(db_url, data) as (base, runtime):
        agent = make_agent(runtime, "res", kb_editor=True)
        with httpx.Client(base_url=base, timeout=30) as http:
            number = handed_off(ChatUser(http, "s1"), MFA_Q)
            resolve(http, agent, number, "Moved MFA to the new phone.", ["it-mfa-new-phone"])
            number = handed_off(ChatUser(http, "s2"), OOO_Q)
            resolve(http, agent, number, OOO_ANSWER)
            draft = http.get("/api/v1/kb/drafts", headers=agent).json()[0]
            http.post(f"/api/v1/kb/drafts/{draft['id']}/approve", headers=agent).raise_for_status()
    with running_app(db_url, data) as (base, runtime):
        with httpx.Client(base_url=base, timeout=30) as http:
            r = ChatUser(http, "s3").send(MFA_REPHRASED).json()
            assert r["replies"][0]["article"]["id"] == "it-mfa-new-phone", r
            r = ChatUser(http, "s4").send(OOO_REPHRASED).json()
            assert r["replies"][0]["article"]["id"] == draft["id"], r


def test_auto_publish_answers_without_review(db_url, tmp_path, embedder):
    with running_app(db_url, tmp_path / "data", auto_publish_resolutions=True) as (base, runtime):
        agent = make_agent(runtime, "auto")
        with httpx.Client(base_url=base, timeout=30) as http:
            number = handed_off(ChatUser(http, "a1"), OOO_Q)
            resolve(http, agent, number, OOO_ANSWER)
            assert http.get("/api/v1/kb/drafts", headers=agent).json() == []
            r = ChatUser(http, "a2").send(OOO_REPHRASED).json()
            assert r["state"] == "bot" and r["replies"][0]["kind"] == "answer", r
