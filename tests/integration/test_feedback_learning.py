""" "Didn't help" lowers that article's standing for that phrasing, not everywhere: over HTTP against the
running app, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.support.live import ChatUser, make_agent, running_app

# The sample KB answers this with the print-queue article (bilingual score ~0.877, just ahead of the runner-up);
# for a user whose problem is something else, that is the wrong article.
REJECTED_Q = "stuff in the print queue won't go away"
OTHER_Q = "the printer is jammed"  # the same article is right here (score ~0.894)
ARTICLE = "it-printer-queue-stuck"


@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory, embedder):
    with running_app(module_db_url, tmp_path_factory.mktemp("data")) as (base, runtime):
        yield base, runtime


def first_offer(user: ChatUser, text: str) -> dict:
    """What the bot does with the question: the article it offers first (with score), or the handoff."""
    r = user.send(text).json()
    reply = r["replies"][0]
    return {
        "state": r["state"],
        "article": (reply.get("article") or {}).get("id"),
        "score": (reply.get("article") or {}).get("score"),
    }


def test_didnt_help_demotes_the_article_for_that_phrasing_only_and_can_be_undone(app):
    base, runtime = app
    agent = make_agent(runtime, "kim")
    with httpx.Client(base_url=base, timeout=30) as http:
        before = first_offer(ChatUser(http, "p0"), REJECTED_Q)
        assert before["article"] == ARTICLE, before
        other_before = first_offer(ChatUser(http, "q0"), OTHER_Q)
        assert other_before["article"] == ARTICLE, other_before

        unhappy = ChatUser(http, "p1")
        assert first_offer(unhappy, REJECTED_Q)["article"] == ARTICLE
        unhappy.send(action="not_helped")
        art = http.get(f"/api/v1/kb/articles/{ARTICLE}", headers=agent).json()
        assert art["not_helped"] == 1
        learned = http.get(f"/api/v1/kb/articles/{ARTICLE}/phrasings", headers=agent).json()
        assert [(p["kind"], p["text"]) for p in learned] == [("rejected", REJECTED_Q)]

        # The next person asking that way is no longer sent the article that didn't help …
        after = first_offer(ChatUser(http, "p2"), REJECTED_Q)
        assert after["article"] != ARTICLE, after
        # … while a question the article does answer still gets it, exactly as before.
        other_after = first_offer(ChatUser(http, "q1"), OTHER_Q)
        assert other_after == other_before

        # Bad learning is undoable: deleting the rejection restores the article for that phrasing.
        r = http.delete(f"/api/v1/kb/articles/{ARTICLE}/phrasings/{learned[0]['id']}", headers=agent)
        assert r.status_code == 204
        assert first_offer(ChatUser(http, "p3"), REJECTED_Q) == before


def test_a_later_helped_for_the_same_question_outweighs_the_rejection(app):
    """Feedback is per phrasing, nearest first: once someone asking this way was helped by the article,
    the article answers that phrasing again."""
    base, runtime = app
    agent = make_agent(runtime, "lou")
    q = "vpn keeps dropping"  # sample KB: it-vpn-slow-disconnects, score ~0.89
    with httpx.Client(base_url=base, timeout=30) as http:
        a = ChatUser(http, "v1")
        first = first_offer(a, q)
        assert first["article"] == "it-vpn-slow-disconnects"
        a.send(action="not_helped")
        demoted = first_offer(ChatUser(http, "v2"), q)
        assert demoted["article"] != "it-vpn-slow-disconnects" or demoted["score"] < first["score"]

        b = ChatUser(http, "v3")
        offer = b.send("my vpn keeps dropping").json()["replies"][0]
        if offer["kind"] == "choices":  # the demoted article now competes: this user picks it from the choices
            n = [c["article_id"] for c in offer["choices"]].index("it-vpn-slow-disconnects") + 1
            assert b.send(action=f"choose_{n}").json()["replies"][0]["article"]["id"] == "it-vpn-slow-disconnects"
        assert b.send(action="helped").status_code == 200
        kinds = sorted(
            p["kind"] for p in http.get("/api/v1/kb/articles/it-vpn-slow-disconnects/phrasings", headers=agent).json()
        )
        assert kinds == ["phrasing", "rejected"]
        again = first_offer(ChatUser(http, "v4"), "my vpn keeps dropping")
        assert again["article"] == "it-vpn-slow-disconnects" and again["state"] == "bot", again
