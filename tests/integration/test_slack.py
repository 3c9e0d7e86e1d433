"""The Slack channel on the real slack-bolt app over HTTP, on SQLite and PostgreSQL, against a fake Slack
Web API on 127.0.0.1: requests are signed with the signing secret exactly like Slack signs them.

DM question → Block Kit answer with buttons → didn't help → next article → didn't help → ticket → notice
with Take in the agents' channel → Take (unlinked: refused; linked: assigned, notice updated) → the
agent's thread replies reach the user's DM, the user's messages reach the thread → !resolve → user told.
Also: mentions answered in a thread and !handback, /it and /it tickets, App Home, Slack retries, bad and
stale signatures, bots ignored, mrkdwn escaping, long text split, rate limits retried."""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.outbox import Delivery, PermanentFailure, RetryAfter
from bot.slack import SlackChannel
from bot.slack.blocks import SECTION_LIMIT, escape, split_text, text_messages
from bot.slack.sender import SlackSender
from people.directory import import_csv
from tests.support.fakes.slack_api import Call, FakeSlack, running_fake_slack
from tests.support.live import make_agent, running_app
from tickets.agents import link_accounts
from tickets.models import Conversation, OutboxItem

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
AGENTS = "CAGENTS"
_ts = itertools.count(1)


def slack_ts() -> str:
    return f"1710000000.{next(_ts):06d}"


@dataclass
class Slack:
    """Plays Slack's side: signs and posts Events API / interactivity / slash-command requests."""

    http: httpx.Client
    fake: FakeSlack
    runtime: object

    def _post(
        self,
        path: str,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        secret: str = SECRET,
        headers: dict | None = None,
    ) -> httpx.Response:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
        return self.http.post(
            path,
            content=body.encode(),
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": signature,
                **(headers or {}),
            },
        )

    def event(self, event: dict, *, event_id: str | None = None, retry: int | None = None, **kw) -> httpx.Response:
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": "T0001",
                "api_app_id": "A0001",
                "type": "event_callback",
                "event": event,
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
            }
        )
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self._post("/slack/events", body, "application/json", headers=headers, **kw)

    def press(self, user: str, message: Call, action_id: str) -> httpx.Response:
        """A user presses a button on a message the bot posted (as recorded by the fake)."""
        block, button = next(
            (b, e) for b in message.args["blocks"] for e in b.get("elements") or [] if e.get("action_id") == action_id
        )
        channel, ts = message.result["channel"], message.result["ts"]
        msg = {
            "type": "message",
            "ts": ts,
            "text": message.args.get("text"),
            "blocks": message.args["blocks"],
            "bot_id": "BBOT",
            "user": "UBOT",
        }
        if message.args.get("thread_ts"):
            msg["thread_ts"] = message.args["thread_ts"]
        payload = {
            "type": "block_actions",
            "team": {"id": "T0001", "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
            "api_app_id": "A0001",
            "token": "legacy",
            "trigger_id": f"tr.{uuid.uuid4().hex[:8]}",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
            "channel": {"id": channel, "name": "x"},
            "message": msg,
            "response_url": f"{self.fake.url}/response/{uuid.uuid4().hex[:8]}",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": block.get("block_id", "b"),
                    "value": button["value"],
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                    "text": button["text"],
                }
            ],
        }
        return self._post(
            "/slack/actions", urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    def command(self, user: str, text: str, channel: str = "CGENERAL") -> tuple[httpx.Response, str]:
        key = uuid.uuid4().hex[:8]
        form = {
            "token": "legacy",
            "team_id": "T0001",
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/it",
            "text": text,
            "api_app_id": "A0001",
            "response_url": f"{self.fake.url}/response/{key}",
            "trigger_id": f"tr.{key}",
        }
        return self._post("/slack/commands", urlencode(form), "application/x-www-form-urlencoded"), key


def dm(user: str, text: str, **extra) -> dict:
    return {
        "type": "message",
        "channel_type": "im",
        "channel": f"D{user}",
        "user": user,
        "text": text,
        "ts": slack_ts(),
        "client_msg_id": str(uuid.uuid4()),
        **extra,
    }


def in_channel(channel: str, user: str, text: str, thread_ts: str | None = None, **extra) -> dict:
    e = {
        "type": "message",
        "channel_type": "channel",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": slack_ts(),
        "client_msg_id": str(uuid.uuid4()),
        **extra,
    }
    if thread_ts:
        e["thread_ts"] = thread_ts
    return e


def buttons(call: Call) -> dict[str, str]:
    return {
        e["action_id"]: e["text"]["text"]
        for b in call.args.get("blocks") or []
        if b.get("type") == "actions"
        for e in b["elements"]
    }


def has_buttons(call: Call) -> bool:
    return bool(buttons(call))


def ticket_number(call: Call) -> int:
    return int(re.search(r"#(\d+)", call.text()).group(1))


def ack_text(r: httpx.Response) -> str:
    """The immediate answer to a slash command: plain text or a JSON message."""
    return r.json()["text"] if r.headers.get("content-type", "").startswith("application/json") else r.text


def link_agent(runtime, name: str, slack_user: str) -> dict:
    headers = make_agent(runtime, name)
    with runtime.sessions.begin() as s:
        link_accounts(s, name, slack_user_id=slack_user)
    return headers


def settle(slack: Slack, user: str) -> None:
    """Wait until the app has answered a fresh question from another user: anything a previous request
    could still have caused has happened by then."""
    slack.event(dm(user, "How do I connect to the VPN from home?"))
    slack.fake.wait_for("chat.postMessage", has_buttons, channel=f"D{user}")
    time.sleep(0.3)


@pytest.fixture(scope="module")
def slack(module_db_url, tmp_path_factory, embedder):
    with running_fake_slack() as fake:
        with running_app(
            module_db_url,
            tmp_path_factory.mktemp("data"),
            slack_bot_token="xoxb-test-token",
            slack_signing_secret=SECRET,
            slack_agents_channel=AGENTS,
            slack_api_base=f"{fake.url}/api/",
        ) as (base, runtime):
            with httpx.Client(base_url=base, timeout=30) as http:
                yield Slack(http, fake, runtime)


def test_dm_question_to_agent_resolution(slack):
    fake = slack.fake
    agent = link_agent(slack.runtime, "alice", "UAGENT1")
    user, dm_channel = "UDM1", "DUDM1"

    r = slack.event(dm(user, "I forgot my password, how can I reset it?"))
    assert r.status_code == 200
    first = fake.wait_for("chat.postMessage", has_buttons, channel=dm_channel)[0]
    assert first.token == "xoxb-test-token"
    assert "/kb/it-password-reset|" in first.text() and "id.example.com" in first.text()
    assert list(buttons(first).values()) == ["Helped", "Didn't help", "Talk to a human"]

    # Didn't help → the pressed message loses its buttons, the next best article comes.
    assert slack.press(user, first, "fl_not_helped").status_code == 200
    updated = fake.wait_for("chat.update", channel=dm_channel, ts=first.result["ts"])[0]
    assert not has_buttons(updated) and "You answered: Didn't help" in updated.text()
    second = fake.wait_for("chat.postMessage", has_buttons, channel=dm_channel, count=2)[1]
    assert "/kb/it-password-reset|" not in second.text()

    # Didn't help again → a ticket, said in the DM.
    slack.press(user, second, "fl_not_helped")
    handoff = fake.wait_for("chat.postMessage", lambda c: "ticket #" in c.text(), channel=dm_channel)[0]
    assert not has_buttons(handoff)
    number = ticket_number(handoff)

    # The agents' channel gets the notice with Take, and the transcript in its thread.
    notice = fake.wait_for("chat.postMessage", lambda c: f"Ticket #{number}" in c.text(), channel=AGENTS)[0]
    assert buttons(notice) == {"fl_take": "Take"}
    assert f"<@{user}>" in notice.text() and "I forgot my password" in notice.text()
    root = notice.result["ts"]
    transcript = fake.wait_for("chat.postMessage", channel=AGENTS, thread_ts=root)[0]
    assert "I forgot my password" in transcript.text() and "*Bot*" in transcript.text()

    # Someone whose Slack account is not linked to an agent presses Take: told so, nothing changes.
    slack.press("UNOBODY", notice, "fl_take")
    refusal = fake.wait_for("chat.postEphemeral", user="UNOBODY")[0]
    assert "not linked" in refusal.text() and "--slack UNOBODY" in refusal.text()
    assert slack.http.get(f"/api/v1/tickets/{number}", headers=agent).json()["assignee_id"] is None

    # The linked agent takes it: assigned, the notice says so, the user hears who joined.
    slack.press("UAGENT1", notice, "fl_take")
    taken = fake.wait_for("chat.update", lambda c: "Taken by *alice*" in c.text(), channel=AGENTS, ts=root)[0]
    assert "fl_take" not in buttons(taken) and "!resolve" in taken.text()
    assert slack.http.get(f"/api/v1/tickets/{number}", headers=agent).json()["status"] == "open"
    fake.wait_for(
        "chat.postMessage", lambda c: "alice from the service desk has joined" in c.text(), channel=dm_channel
    )

    # The agent writes in the notice's thread (Slack sends it escaped): the user's DM gets it.
    slack.event(in_channel(AGENTS, "UAGENT1", "Hi! I reset it &amp; sent a code to &lt;your phone&gt;", thread_ts=root))
    relayed = fake.wait_for("chat.postMessage", lambda c: "Hi! I reset it" in c.text(), channel=dm_channel)[0]
    assert "*alice*, IT service desk:" in relayed.text()
    assert "I reset it &amp; sent a code to &lt;your phone&gt;" in relayed.text()
    # An internal note (//) stays in the thread.
    slack.event(in_channel(AGENTS, "UAGENT1", "// she called too", thread_ts=root))

    # The user answers in the DM: the bot stays silent, the message appears in the agents' thread.
    slack.event(dm(user, "Thanks, but the code has expired"))
    back = fake.wait_for("chat.postMessage", lambda c: "code has expired" in c.text(), channel=AGENTS)[0]
    assert back.args["thread_ts"] == root and f"<@{user}>" in back.text()
    assert len(fake.of("chat.postMessage", channel=dm_channel)) == 5  # 2 answers, handoff, joined, relayed

    slack.event(in_channel(AGENTS, "UAGENT1", "!resolve Sent a fresh code by SMS", thread_ts=root))
    done = fake.wait_for("chat.postMessage", lambda c: f"#{number} is resolved" in c.text(), channel=dm_channel)[0]
    assert "Sent a fresh code by SMS" in done.text()
    fake.wait_for("chat.update", lambda c: "Resolved by *alice*" in c.text(), channel=AGENTS, ts=root)
    assert slack.http.get(f"/api/v1/tickets/{number}", headers=agent).json()["status"] == "resolved"
    assert not [c for c in fake.of("chat.postMessage") if "she called too" in c.text()]
    assert not [c for c in fake.of("chat.postMessage", channel=AGENTS) if "(via slack)" in c.text()]

    # Back to the bot.
    slack.event(dm(user, "How do I connect to the VPN from home?"))
    fake.wait_for(
        "chat.postMessage", lambda c: "/kb/it-vpn-connect|" in c.text() and has_buttons(c), channel=dm_channel
    )


def test_mention_in_channel_thread_and_hand_back(slack):
    fake = slack.fake
    link_agent(slack.runtime, "bob", "UAGENT2")
    user, channel = "UCH1", "CGENERAL"

    mention = in_channel(channel, user, "<@UBOT> I need to talk to a human please")
    mention["type"] = "app_mention"
    slack.event(mention)
    # Slack also sends the same message as a `message` event (message.channels): answered once.
    also = dict(mention, type="message", channel_type="channel")
    slack.event(also)
    reply = fake.wait_for("chat.postMessage", lambda c: "ticket #" in c.text(), channel=channel)[0]
    assert reply.args["thread_ts"] == mention["ts"]
    number = ticket_number(reply)
    notice = fake.wait_for("chat.postMessage", lambda c: f"Ticket #{number}" in c.text(), channel=AGENTS)[0]
    root = notice.result["ts"]

    # A linked agent writes before taking: told to take it first, nothing reaches the user.
    slack.event(in_channel(AGENTS, "UAGENT2", "hello there", thread_ts=root))
    refusal = fake.wait_for("chat.postEphemeral", user="UAGENT2")[0]
    assert "claim it first" in refusal.text()

    slack.press("UAGENT2", notice, "fl_take")
    fake.wait_for("chat.update", lambda c: "Taken by *bob*" in c.text(), channel=AGENTS, ts=root)
    slack.event(in_channel(AGENTS, "UAGENT2", "Which printer is it?", thread_ts=root))
    relayed = fake.wait_for("chat.postMessage", lambda c: "Which printer is it?" in c.text(), channel=channel)[0]
    assert relayed.args["thread_ts"] == mention["ts"]

    # The user answers in the thread without mentioning the bot: it reaches the agents' thread.
    slack.event(in_channel(channel, user, "The one on floor 3", thread_ts=mention["ts"]))
    fake.wait_for("chat.postMessage", lambda c: "The one on floor 3" in c.text(), channel=AGENTS, thread_ts=root)

    slack.event(in_channel(AGENTS, "UAGENT2", "!handback", thread_ts=root))
    fake.wait_for(
        "chat.postMessage", lambda c: "handed you back to me" in c.text(), channel=channel, thread_ts=mention["ts"]
    )
    fake.wait_for("chat.update", lambda c: "Handed back to the bot by *bob*" in c.text(), channel=AGENTS, ts=root)
    assert len([c for c in fake.of("chat.postMessage", channel=channel) if "ticket #" in c.text()]) == 1

    # A new mention in the thread: the bot answers again.
    again = in_channel(channel, user, "<@UBOT> how do I connect to the VPN from home?", thread_ts=mention["ts"])
    again["type"] = "app_mention"
    slack.event(again)
    fake.wait_for(
        "chat.postMessage", lambda c: "/kb/it-vpn-connect|" in c.text(), channel=channel, thread_ts=mention["ts"]
    )


def test_slash_command_tickets_and_app_home(slack):
    fake = slack.fake
    user = "UCMD1"
    r, _ = slack.command(user, "")
    assert r.status_code == 200 and "/it tickets" in ack_text(r)  # Slack shows it to the user only

    r, _ = slack.command(user, "how do I connect to the VPN from home?")
    assert r.status_code == 200 and ack_text(r) == "I'll answer you in our direct messages."
    fake.wait_for("conversations.open", users=user)
    fake.wait_for(
        "chat.postMessage", lambda c: "/kb/it-vpn-connect|" in c.text() and has_buttons(c), channel=f"D{user}"
    )

    r, key = slack.command(user, "tickets")
    assert r.status_code == 200
    empty = fake.wait_for("response_url", key=key)[0]
    assert "You have no open tickets." in empty.text() and empty.args.get("response_type") == "ephemeral"

    slack.command(user, "I need to talk to a human please")
    handoff = fake.wait_for("chat.postMessage", lambda c: "ticket #" in c.text(), channel=f"D{user}")[0]
    number = ticket_number(handoff)
    r, key = slack.command(user, "tickets")
    listed = fake.wait_for("response_url", key=key)[0]
    assert f"*#{number}*" in listed.text() and "waiting for an agent" in listed.text()

    slack.event({"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home", "event_ts": slack_ts()})
    home = fake.wait_for("views.publish", user_id=user)[0]
    assert home.args["view"]["type"] == "home"
    assert f"*#{number}*" in "\n".join(t for b in home.args["view"]["blocks"] for t in _texts(b))

    slack.event({"type": "app_home_opened", "user": "UNEW", "channel": "DUNEW", "tab": "home", "event_ts": slack_ts()})
    other = fake.wait_for("views.publish", user_id="UNEW")[0]
    assert "You have no open tickets." in "\n".join(t for b in other.args["view"]["blocks"] for t in _texts(b))


def _texts(block: dict) -> list[str]:
    from tests.support.fakes.slack_api import block_texts

    return block_texts(block)


def test_retries_never_answer_twice(slack):
    fake = slack.fake
    user = "URETRY1"
    event = dm(user, "I forgot my password, how can I reset it?")
    event_id = "EvRETRY0001"
    assert slack.event(event, event_id=event_id).status_code == 200
    fake.wait_for("chat.postMessage", has_buttons, channel=f"D{user}")
    # Slack's retries of the same event, and a redelivery under another event id (another process).
    assert slack.event(event, event_id=event_id, retry=1).status_code == 200
    assert slack.event(event, event_id=event_id, retry=2).status_code == 200
    assert slack.event(event, event_id="EvRETRY0002", retry=1).status_code == 200
    settle(slack, "URETRY2")
    assert len(fake.of("chat.postMessage", channel=f"D{user}")) == 1


def test_bad_or_stale_signatures_are_refused(slack):
    fake = slack.fake
    for user, kw in (("USIG1", {"secret": "not-the-secret"}), ("USIG2", {"timestamp": int(time.time()) - 600})):
        r = slack.event(dm(user, "I forgot my password, how can I reset it?"), **kw)
        assert r.status_code == 401
    body = urlencode({"command": "/it", "text": "tickets", "user_id": "USIG3", "team_id": "T0001"})
    r = slack.http.post("/slack/commands", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 401
    settle(slack, "USIG4")
    for user in ("USIG1", "USIG2", "USIG3"):
        assert not fake.of("chat.postMessage", channel=f"D{user}")
    with slack.runtime.sessions() as s:
        assert not s.scalars(select(Conversation).where(Conversation.user_ref.in_(["USIG1", "USIG2", "USIG3"]))).all()


def test_bot_messages_are_ignored(slack):
    fake = slack.fake
    slack.event(dm("UBOT", "I forgot my password, how can I reset it?", bot_id="BBOT"))  # our own
    slack.event(dm("UOTHERBOT", "I forgot my password", bot_id="B999", subtype="bot_message"))
    slack.event(dm("UEDIT", "I forgot my password", subtype="message_changed"))
    settle(slack, "UBOTS2")
    for channel in ("DUBOT", "DUOTHERBOT", "DUEDIT"):
        assert not fake.of("chat.postMessage", channel=channel)
    with slack.runtime.sessions() as s:
        assert not s.scalars(
            select(Conversation).where(Conversation.user_ref.in_(["UBOT", "UOTHERBOT", "UEDIT"]))
        ).all()


def test_kb_text_is_escaped_for_mrkdwn(slack):
    fake = slack.fake
    slack.event(dm("UESC1", "My work email on iPhone mail app does not work"))
    answer = fake.wait_for("chat.postMessage", has_buttons, channel="DUESC1")[0]
    text = answer.text()
    assert "Settings &gt; Mail &gt; Accounts" in text and "Exchange &amp; Office 365" in text

    slack.event(dm("UESC2", "I need permanent admin rights on my laptop"))
    answer = fake.wait_for("chat.postMessage", has_buttons, channel="DUESC2")[0]
    text = answer.text()
    assert "adm-&lt;username&gt;" in text
    # The only raw angle brackets left are Slack links we made on purpose.
    assert not re.search(r"[<>]", re.sub(r"<https?://[^|>]+\|[^>]+>", "", text))


def test_russian_user_gets_russian_texts_and_buttons(slack):
    fake = slack.fake
    # The default (bilingual) embedder reads Russian: the answer comes in Russian, with Russian buttons.
    slack.event(dm("URU1", "Как подключить сетевой диск?"))
    answer = fake.wait_for("chat.postMessage", has_buttons, channel="DURU1")[0]
    assert answer.text().startswith("Вот что я нашёл в статье «Как подключить сетевой диск")
    labels = [e["text"]["text"] for b in answer.args["blocks"] if b.get("type") == "actions" for e in b["elements"]]
    assert labels == ["Помогло", "Не помогло", "Позвать человека"]
    slack.press("URU1", answer, "fl_human")  # and the handoff is told in Russian too
    fake.wait_for("chat.postMessage", lambda c: "заявку №" in c.text(), channel="DURU1")
    # "Did you mean" choices carry the articles' titles.
    from bot.slack.blocks import answer_messages

    [msg] = answer_messages(
        "?",
        "ru",
        actions=["choose_1", "choose_2", "human"],
        owner="URU1",
        choices=[{"action": "choose_1", "title": "Принтер"}, {"action": "choose_2", "title": "VPN"}],
    )
    buttons = [
        (e["text"]["text"], e["action_id"]) for b in msg["blocks"] if b.get("type") == "actions" for e in b["elements"]
    ]
    assert buttons == [("1. Принтер", "fl_choose_1"), ("2. VPN", "fl_choose_2"), ("Позвать человека", "fl_human")]


def test_only_the_asker_can_rate_an_answer(slack):
    fake = slack.fake
    slack.event(dm("UASK1", "How do I connect to the VPN from home?"))
    answer = fake.wait_for("chat.postMessage", has_buttons, channel="DUASK1")[0]
    slack.press("UASK1", answer, "fl_helped")
    fake.wait_for("chat.postMessage", lambda c: "Glad I could help" in c.text(), channel="DUASK1")
    # Someone else pressing the buttons under this answer changes nothing.
    slack.press("UOTHER", answer, "fl_not_helped")
    assert "<@UASK1>" in fake.wait_for("chat.postEphemeral", user="UOTHER")[0].text()


def test_long_agent_reply_is_split_and_rate_limits_are_retried(slack):
    fake = slack.fake
    agent = make_agent(slack.runtime, "carol")
    user = "ULONG1"
    slack.event(dm(user, "talk to a human"))
    number = ticket_number(fake.wait_for("chat.postMessage", lambda c: "ticket #" in c.text(), channel=f"D{user}")[0])
    assert slack.http.post(f"/api/v1/tickets/{number}/claim", headers=agent).status_code == 200
    fake.wait_for("chat.postMessage", lambda c: "carol from the service desk" in c.text(), channel=f"D{user}")
    fake.wait_for("chat.postMessage", lambda c: "*carol* took ticket" in c.text(), channel=AGENTS)

    # Slack says "ratelimited" (HTTP 429, Retry-After: 1) once: the outbox waits and delivers it.
    long = " ".join(f"Step {i}: check R&D <drive> settings." for i in range(105))
    assert 3500 < len(long) <= 4000
    fake.fail_next("chat.postMessage", "ratelimited", retry_after=1)
    r = slack.http.post(f"/api/v1/tickets/{number}/reply", json={"text": long}, headers=agent)
    assert r.status_code == 200
    got = fake.wait_for("chat.postMessage", lambda c: "Step 0:" in c.text(), channel=f"D{user}")[0]
    limited = fake.of("chat.postMessage", ok=False)
    assert limited and limited[-1].status == 429 and got.at - limited[-1].at >= 0.9
    sections = [b["text"]["text"] for b in got.args["blocks"]]
    assert len(sections) >= 2 and all(len(s) <= SECTION_LIMIT for s in sections)
    joined = " ".join(sections)
    assert escape(long) in joined.replace("*carol*, IT service desk:\n", "")
    # The sender marks the item sent right after Slack accepted it: read it once that has happened.
    deadline = time.time() + 10
    while True:
        with slack.runtime.sessions() as s:
            item = s.scalars(
                select(OutboxItem).where(OutboxItem.message_id == r.json()["id"], OutboxItem.audience == "user")
            ).one()
        if item.status != "sending" or time.time() > deadline:
            break
        time.sleep(0.05)
    assert item.status == "sent" and item.attempts == 1  # one rate-limited attempt, then sent

    # A rate-limited answer to a user's question is retried by the Web API client.
    fake.fail_next("chat.postMessage", "ratelimited", retry_after=1)
    slack.event(dm("ULONG2", "How do I connect to the VPN from home?"))
    fake.wait_for("chat.postMessage", has_buttons, channel="DULONG2")


def test_an_answer_survives_a_slack_outage(slack):
    """Slack answers 503 twice after the event was acknowledged: the answer is retried from the outbox."""
    fake = slack.fake
    for _ in range(2):
        fake.fail_next("chat.postMessage", "service_unavailable", status=503)
    slack.event(dm("UOUTAGE", "How do I connect to the VPN from home?"))
    answer = fake.wait_for("chat.postMessage", has_buttons, channel="DUOUTAGE", timeout=40)[0]
    assert "VPN" in answer.text()
    assert len([c for c in fake.of("chat.postMessage", ok=False) if c.status == 503]) == 2


# -- units: pure functions and the sender against the fake ----------------------------------------
def test_split_text_respects_limits_and_keeps_everything():
    text = escape(
        " ".join(f"Paragraph {i} says A&B <c> and more." + ("\n\n" if i % 7 == 0 else "") for i in range(4000))
    )
    pieces = split_text(text)
    assert all(0 < len(p) <= SECTION_LIMIT for p in pieces)
    assert all(not re.search(r"&[a-z]{0,3}$", p) for p in pieces)  # no entity cut in half
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())
    messages = text_messages(text)
    assert len(messages) > 1
    assert all(len(m["text"]) <= 40000 and len(m["blocks"]) <= 50 for m in messages)
    assert split_text("x" * 7000) == ["x" * 3000, "x" * 3000, "x" * 1000]


async def test_sender_maps_slack_errors_to_outbox_outcomes():
    with running_fake_slack() as fake:
        sender = SlackSender(AsyncWebClient(token="xoxb-t", base_url=f"{fake.url}/api/"), AGENTS)
        d = Delivery(
            1,
            "user",
            "slack",
            "message",
            0,
            message={"author": "system", "text": "hi", "payload": {}},
            conversation={"user_ref": "U1", "thread_ref": "DU1", "lang": "en"},
        )
        fake.fail_next("chat.postMessage", "ratelimited", retry_after=7)
        with pytest.raises(RetryAfter) as exc:
            await sender.deliver(d)
        assert exc.value.seconds == 7
        fake.fail_next("chat.postMessage", "channel_not_found")
        with pytest.raises(PermanentFailure):
            await sender.deliver(d)
        assert await sender.deliver(d) is None
        assert fake.of("chat.postMessage", channel="DU1")[0].text().startswith("hi")


async def test_socket_mode_handler_is_built_when_an_app_token_is_set():
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    channel = SlackChannel(
        bot_token="xoxb-t", signing_secret="s", api_base="http://127.0.0.1:9/api/", app_token="xapp-1-test"
    )
    work = channel.start(SimpleNamespace())  # the context is not read until a Slack event arrives
    try:
        assert isinstance(channel.socket_handler, AsyncSocketModeHandler)
        assert channel.socket_handler.app_token == "xapp-1-test"
        assert channel.socket_handler.app is channel.bolt
        assert str(channel.bolt.client.base_url) == "http://127.0.0.1:9/api/"
    finally:
        work.close()
        await channel.socket_handler.client.close()
    assert {r.path for r in channel.router.routes} == {"/slack/events", "/slack/actions", "/slack/commands"}


def test_a_slack_user_is_their_directory_person_by_the_address_slack_verified(slack):
    """users.info gives the address Slack holds for the user: a directory person with that address is them (no
    import of Slack ids needed), and their Slack ticket shows who they are."""
    with slack.runtime.sessions.begin() as s:
        report = import_csv(
            s,
            "email,name,department,organisation,phone,telegram_id,slack_id,language,vip\n"
            "nina@acme.example,Nina Orlova,Legal,Acme,,,,en,no\n",
        )
        assert report.added == 1
    slack.fake.users["UNINA"] = {"real_name": "nina", "email": "Nina@Acme.example"}
    agent = make_agent(slack.runtime, "slack-people-agent")
    slack.event(dm("UNINA", "talk to a human"))
    [reply] = slack.fake.wait_for("chat.postMessage", lambda c: "#" in c.text(), channel="DUNINA")
    ticket = slack.http.get(f"/api/v1/tickets/{ticket_number(reply)}", headers=agent).json()
    who = ticket["requester"]
    assert (who["name"], who["email"], who["organisation"], who["ref"]) == (
        "Nina Orlova",
        "nina@acme.example",
        "Acme",
        "UNINA",
    )
    assert ("slack", "UNINA") in {(i["kind"], i["ref"]) for i in who["identities"]}
