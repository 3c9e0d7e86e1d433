"""The whole loop over HTTP against the running app, on SQLite and PostgreSQL:
question answered → didn't help → ticket → agent claims, replies → user sees it → user writes (bot
silent, message reaches the ticket) → agent resolves → user notified → next question answered by the bot."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.live import ChatUser, make_agent, running_app


@pytest.fixture(scope="module")
def app(module_db_url, tmp_path_factory, embedder):
    with running_app(module_db_url, tmp_path_factory.mktemp("data")) as (base, runtime):
        yield base, runtime


def test_whole_loop(app):
    base, runtime = app
    agent = make_agent(runtime, "alice")
    with httpx.Client(base_url=base, timeout=30) as http:
        user = ChatUser(http, "bob@example.com")

        r = user.send("I forgot my password, how can I reset it?")
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["state"] == "bot"
        answer = first["replies"][0]
        assert answer["kind"] == "answer"
        assert answer["article"]["id"] == "it-password-reset"
        assert answer["actions"] == ["helped", "not_helped", "human"]

        # Didn't help → the next best article once, then a ticket.
        second = user.send(action="not_helped").json()
        assert second["replies"][0]["kind"] == "answer"
        assert second["replies"][0]["article"]["id"] != "it-password-reset"
        third = user.send(action="not_helped").json()
        assert third["state"] == "waiting_for_agent"
        number = third["ticket"]
        assert number is not None and f"#{number}" in third["replies"][0]["text"]

        # The agent sees it in the queue with the transcript and why the bot gave up.
        queue = http.get("/api/v1/tickets", params={"status": "new"}, headers=agent).json()
        assert number in [t["number"] for t in queue]
        detail = http.get(f"/api/v1/tickets/{number}", headers=agent).json()
        assert detail["handoff_reason"] == "negative_feedback"
        assert detail["question"] == "I forgot my password, how can I reset it?"
        assert [t["article_id"] for t in detail["bot_tried"]][0] == "it-password-reset"
        assert any(m["author"] == "bot" and m["kind"] == "answer" for m in detail["transcript"])

        assert http.post(f"/api/v1/tickets/{number}/claim", headers=agent).json()["status"] == "open"
        r = http.post(
            f"/api/v1/tickets/{number}/reply", json={"text": "Hi Bob, I've sent you a reset link."}, headers=agent
        )
        assert r.status_code == 200, r.text
        agent_msg_id = r.json()["id"]

        seen = user.messages()
        assert any(m["author"] == "agent" and m["text"] == "Hi Bob, I've sent you a reset link." for m in seen)
        assert any(m["author"] == "system" and "alice" in m["text"] for m in seen)

        # The user writes again: the bot stays silent, the message reaches the ticket.
        r = user.send("Thanks, but the link expired. Can you send a new one?").json()
        assert r["replies"] == [] and r["state"] == "with_agent" and r["ticket"] == number
        detail = http.get(f"/api/v1/tickets/{number}", headers=agent).json()
        assert detail["transcript"][-1]["text"] == "Thanks, but the link expired. Can you send a new one?"
        assert any(e["action"] == "user_message" for e in detail["events"])

        r = http.post(
            f"/api/v1/tickets/{number}/resolve", json={"resolution": "Sent a fresh reset link."}, headers=agent
        )
        assert r.json()["status"] == "resolved"
        note = [m for m in user.messages(after=agent_msg_id) if m["author"] == "system"]
        assert any(f"#{number}" in m["text"] and "Sent a fresh reset link." in m["text"] for m in note)

        # Next question: the bot answers again.
        nxt = user.send("How do I connect to the VPN from home?").json()
        assert nxt["state"] == "bot" and nxt["ticket"] is None
        assert nxt["replies"][0]["kind"] == "answer"
        assert nxt["replies"][0]["article"]["id"] == "it-vpn-connect"

        mine = http.get("/api/v1/chat/tickets", params={"user": user.user}, headers=user.headers).json()
        assert [(t["number"], t["status"]) for t in mine] == [(number, "resolved")]


def test_low_confidence_and_explicit_human_request_hand_off(app):
    base, runtime = app
    with httpx.Client(base_url=base, timeout=30) as http:
        user = ChatUser(http, "carol")
        r = user.send("The coffee machine on floor 3 makes a strange noise").json()
        assert r["state"] == "waiting_for_agent"
        assert r["replies"][0]["kind"] == "handoff" and r["ticket"]
        manager = make_agent(runtime, "mgr", "manager")
        t = http.get(f"/api/v1/tickets/{r['ticket']}", headers=manager).json()
        assert t["handoff_reason"] == "low_confidence"

        ru = ChatUser(http, "dmitry")
        r = ru.send("позовите человека").json()
        assert r["state"] == "waiting_for_agent" and r["lang"] == "ru"
        assert "заявку" in r["replies"][0]["text"].lower()
        t = http.get(f"/api/v1/tickets/{r['ticket']}", headers=manager).json()
        assert t["handoff_reason"] == "user_request"


def test_helped_closes_the_episode(app):
    base, _ = app
    with httpx.Client(base_url=base, timeout=30) as http:
        user = ChatUser(http, "erin")
        first = user.send("my account is locked out after too many attempts").json()
        assert first["replies"][0]["kind"] == "answer"
        thanks = user.send(action="helped").json()
        assert thanks["state"] == "bot"
        assert "glad" in thanks["replies"][0]["text"].lower()
        # Rating again without a new answer is explained, not silently ignored.
        again = user.send(action="helped").json()
        assert "no answer to rate" in again["replies"][0]["text"].lower()


def test_agent_reply_arrives_live_on_the_stream(app):
    base, runtime = app
    agent = make_agent(runtime, "sam")
    with httpx.Client(base_url=base, timeout=30) as http:
        user = ChatUser(http, "tina")
        r = user.send("I need to talk to a human").json()
        number, last = r["ticket"], r["replies"][-1]["id"]
        http.post(f"/api/v1/tickets/{number}/claim", headers=agent).raise_for_status()
        params = {"user": user.user, "after": last}
        with http.stream("GET", "/api/v1/chat/stream", params=params, headers=user.headers) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            http.post(
                f"/api/v1/tickets/{number}/reply", json={"text": "On my way to your desk."}, headers=agent
            ).raise_for_status()
            events = []
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    if events[-1]["author"] == "agent":
                        break
        assert events[-1]["text"] == "On my way to your desk." and events[-1]["agent"] == "sam"
        # The stream needs the user's token.
        http.cookies.clear()  # the chat cookie would authenticate too
        bad = http.get("/api/v1/chat/stream", params=params, headers={"X-Chat-Token": "wrong"})
        assert bad.status_code == 401
