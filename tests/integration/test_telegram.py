"""The Telegram channel, end to end: the real aiogram Dispatcher inside the running app (long polling, or
a webhook route), talking to a fake Bot API server on 127.0.0.1, with the real engine and model, on SQLite
and PostgreSQL. Assertions are what users and agents would see in their Telegram clients."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select

from tests.support.fakes.telegram_api import FakeTelegram, TgUser, buttons, parse_html
from tests.support.live import make_agent, running_app
from tickets import conversations, service
from tickets.agents import link_accounts
from tickets.models import Message, OutboxItem

TOKEN = "424242:TEST-firstline-token"
AGENTS = -1001234567890  # a forum supergroup: one topic per ticket
PLAIN_AGENTS = -1009876543210  # a plain supergroup: agents reply to the bot's notice


class GroupMember:
    """Someone in the agents' group (a forum supergroup unless told otherwise)."""

    def __init__(
        self, fake: FakeTelegram, user_id: int, first_name: str, chat_id: int = AGENTS, forum: bool = True
    ) -> None:
        self.fake = fake
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}
        self.chat = {"id": chat_id, "type": "supergroup", "title": "IT agents", "is_forum": forum}

    def write(self, text: str, topic: int | None = None, reply_to: int | None = None) -> dict:
        return self.fake.push(
            self.fake.user_message(self.chat, self.user, text=text, thread_id=topic, reply_to=reply_to)
        )

    def press(self, record: dict) -> dict:
        [button] = buttons(record)
        return self.fake.push(self.fake.callback(self.user, record, button["callback_data"]))


def agent_for(runtime, name: str, telegram_id: int) -> dict:
    headers = make_agent(runtime, name)
    with runtime.sessions.begin() as s:
        link_accounts(s, name, telegram_user_id=str(telegram_id))
    return headers


def number_in(text: str) -> int:
    return int(re.search(r"#(\d+)", text).group(1))


@pytest.fixture(scope="module")
def tg(module_db_url, tmp_path_factory):
    fake = FakeTelegram(TOKEN)
    fake.add_group(AGENTS, forum=True)
    data = tmp_path_factory.mktemp("data")
    with fake.running():
        with running_app(
            module_db_url,
            data,
            telegram_bot_token=TOKEN,
            telegram_api_base=fake.base_url,
            telegram_agents_chat_id=AGENTS,
        ) as (base, runtime):
            fake.wait(lambda: any(c["method"] == "getUpdates" for c in fake.calls), what="long polling")
            http = httpx.Client(base_url=base, timeout=30)
            yield SimpleNamespace(fake=fake, base=base, runtime=runtime, data=data, http=http)
            http.close()
    # Nothing the bot sent was refused for its formatting (HTML entities, length, buttons).
    assert not [r for r in fake.rejected if r["error_code"] == 400], fake.rejected


def test_whole_conversation_with_agent_takeover_in_the_group(tg):
    fake, http = tg.fake, tg.http
    bob = TgUser(fake, 1001, "Bob", username="bob")

    m = fake.mark()
    bob.say("I forgot my password, how can I reset it?")
    [answer] = fake.wait_sent(bob.id, m)
    assert "password" in answer["text"].lower() and "Full article:" in answer["text"]
    assert [b["text"] for b in buttons(answer)] == ["Helped", "Didn't help", "Talk to a human"]

    m = fake.mark()
    bob.press(answer, "Didn't help")
    [second] = fake.wait_sent(bob.id, m)
    assert second["text"].startswith("Let me try another article")
    assert len(buttons(second)) == 3
    fake.wait(
        lambda: [
            e
            for e in fake.edits
            if e["message_id"] == answer["message_id"] and e["chat_id"] == bob.id and not e["markup"]
        ],
        what="the first answer's buttons removed",
    )

    m = fake.mark()
    bob.press(second, "Didn't help")
    [handoff] = fake.wait_sent(bob.id, m)
    number = number_in(handoff["text"])
    assert "opened ticket" in handoff["text"] and not buttons(handoff)

    # The agents' group: a forum topic for the ticket, with the notice and its Take button.
    [notice] = fake.wait_sent(AGENTS, 0, match=lambda r: f"Ticket #{number}" in r["text"])
    [topic] = [tp for tp in fake.topics if tp["name"].startswith(f"#{number} ")]
    assert notice["thread_id"] == topic["message_thread_id"]
    assert "I forgot my password, how can I reset it?" in notice["text"]
    assert "the answers didn't help" in notice["text"] and "Bob (@bob)" in notice["text"]
    assert [b["text"] for b in buttons(notice)] == [f"Take #{number}"]

    # Someone whose Telegram account is not linked to an agent presses Take: a clear answer, no change.
    manager = make_agent(tg.runtime, "boss", "manager")
    GroupMember(fake, 555, "Eve").press(notice)
    [refusal] = fake.wait(lambda: [a for a in fake.callback_answers if "555" in a["text"]], what="refusal")
    assert "isn't linked" in refusal["text"] and refusal["show_alert"]
    detail = http.get(f"/api/v1/tickets/{number}", headers=manager).json()
    assert detail["status"] == "new" and detail["assignee_id"] is None

    # A linked agent takes it: assigned, the user is told, the transcript lands in the topic.
    agent_for(tg.runtime, "alice", 777)
    alice = GroupMember(fake, 777, "Alice")
    m = fake.mark()
    alice.press(notice)
    [joined] = fake.wait_sent(bob.id, m)
    assert joined["text"] == "alice from the service desk has joined the conversation."
    [transcript] = fake.wait_sent(AGENTS, m, match=lambda r: "taken by alice" in r["text"])
    assert transcript["thread_id"] == topic["message_thread_id"]
    assert "I forgot my password, how can I reset it?" in transcript["text"]
    assert "offered “" in transcript["text"] and "[Didn't help]" in transcript["text"]
    fake.wait(
        lambda: [
            e
            for e in fake.edits
            if e["message_id"] == notice["message_id"] and "Taken by alice." in e["text"] and not e["markup"]
        ],
        what="notice marked taken",
    )
    assert [a for a in fake.callback_answers if a["text"].startswith(f"Ticket #{number} is yours")]
    detail = http.get(f"/api/v1/tickets/{number}", headers=manager).json()
    assert detail["status"] == "open" and detail["assignee_id"] is not None
    assert [e["detail"]["agent"] for e in detail["events"] if e["action"] == "claimed"] == ["alice"]

    # The agent writes in the topic: the user receives it; the group does not get it echoed back.
    m = fake.mark()
    alice.write("Hi Bob, I've sent you a reset link.", topic=topic["message_thread_id"])
    [relayed] = fake.wait_sent(bob.id, m)
    assert relayed["text"] == "🧑‍💼 alice:\nHi Bob, I've sent you a reset link."

    # The user writes again: the bot stays silent, the message comes back to the topic.
    m = fake.mark()
    bob.say("Thanks, but the link expired. Can you send a new one?")
    [back] = fake.wait_sent(AGENTS, m)
    assert back["thread_id"] == topic["message_thread_id"]
    assert (
        back["text"] == f"👤 #{number} · Bob (@bob) · telegram: Thanks, but the link expired. Can you send a new one?"
    )
    assert not bob.inbox(m)

    # /resolve in the topic: resolved, the user is told in their chat, the group sees it.
    m = fake.mark()
    alice.write("/resolve Sent a fresh reset link.", topic=topic["message_thread_id"])
    [note] = fake.wait_sent(bob.id, m)
    assert note["text"].startswith(f"Ticket #{number} is resolved: Sent a fresh reset link.")
    fake.wait_sent(AGENTS, m, match=lambda r: f"#{number} resolved by alice: Sent a fresh reset link." in r["text"])
    detail = http.get(f"/api/v1/tickets/{number}", headers=manager).json()
    assert detail["status"] == "resolved"
    agent_lines = [x for x in detail["transcript"] if x["author"] == "agent"]
    assert [x["text"] for x in agent_lines] == ["Hi Bob, I've sent you a reset link."]
    assert [x for x in fake.sent_to(AGENTS) if "Hi Bob, I've sent you" in x["text"]] == []

    # Back with the bot: the next question is answered.
    m = fake.mark()
    bob.say("How do I connect to the VPN from home?")
    [vpn] = fake.wait_sent(bob.id, m)
    assert "VPN" in vpn["text"] and len(buttons(vpn)) == 3


def _topic_of(fake: FakeTelegram, number: int) -> int:
    [topic] = fake.wait(
        lambda: [tp for tp in fake.topics if tp["name"].startswith(f"#{number} ")], what=f"topic of #{number}"
    )
    return topic["message_thread_id"]


def _notice(fake: FakeTelegram, number: int, chat: int = AGENTS) -> dict:
    return fake.wait_sent(chat, 0, match=lambda r: f"Ticket #{number}" in r["text"] and buttons(r))[0]


def test_commands_languages_stickers_and_unknown_input(tg):
    fake = tg.fake
    olga = TgUser(fake, 1101, "Ольга", language_code="ru")

    m = fake.mark()
    olga.say("/start")
    [hello] = fake.wait_sent(olga.id, m)
    assert hello["text"].startswith("Здравствуйте! Я бот ИТ-поддержки.")

    m = fake.mark()
    olga.say("/help")
    [helptext] = fake.wait_sent(olga.id, m)
    assert "/human" in helptext["text"] and "/ticket" in helptext["text"] and "/cancel" in helptext["text"]

    m = fake.mark()
    olga.say("/ticket")
    assert fake.wait_sent(olga.id, m)[0]["text"] == "У вас нет открытых заявок. Задавайте вопросы в любое время."

    m = fake.mark()
    olga.say("/frobnicate now")
    assert fake.wait_sent(olga.id, m)[0]["text"] == "Я не знаю команду /frobnicate. Попробуйте /help."

    m = fake.mark()
    olga.send(
        sticker={
            "file_id": "st1",
            "file_unique_id": "stu1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
    )
    assert fake.wait_sent(olga.id, m)[0]["text"].startswith("Отличный стикер!")

    m = fake.mark()
    olga.send(voice={"file_id": "v1", "file_unique_id": "vu1", "duration": 3})
    assert fake.wait_sent(olga.id, m)[0]["text"].startswith("Я не могу прочитать такое сообщение")

    m = fake.mark()
    # The default (bilingual) embedder reads Russian: the answer comes in Russian, with Russian buttons.
    olga.say("Как подключить сетевой диск?")
    [answer] = fake.wait_sent(olga.id, m)
    assert answer["text"].startswith("Вот что я нашёл в статье «Как подключить сетевой диск")
    labels = [b["text"] for row in answer["markup"]["inline_keyboard"] for b in row]
    assert labels == ["Помогло", "Не помогло", "Позвать человека"]
    # "Did you mean" choices: one article title a row, then a person.
    from bot.telegram.render import feedback_keyboard

    kb = feedback_keyboard(
        "ru",
        ["choose_1", "choose_2", "human"],
        [{"action": "choose_1", "title": "Принтер не печатает"}, {"action": "choose_2", "title": "Сетевой диск"}],
    )
    assert [[b.text for b in row] for row in kb.inline_keyboard] == [
        ["1. Принтер не печатает"],
        ["2. Сетевой диск"],
        ["Позвать человека"],
    ]
    assert [b.callback_data for row in kb.inline_keyboard for b in row] == ["fb:choose_1", "fb:choose_2", "fb:human"]

    # An English speaker gets English.
    sam = TgUser(fake, 1102, "Sam", language_code="en-GB")
    m = fake.mark()
    sam.say("/start")
    assert fake.wait_sent(sam.id, m)[0]["text"].startswith("Hi! I'm the IT help bot.")
    m = fake.mark()
    sam.say("/nope")
    assert fake.wait_sent(sam.id, m)[0]["text"] == "I don't know the command /nope. Try /help."


def test_kb_text_with_markup_characters_reaches_the_user_intact(tg):
    fake = tg.fake
    pat = TgUser(fake, 1201, "Pat")

    m = fake.mark()
    pat.say("OneDrive says couldn't sync: which characters are not allowed in file names?")
    [onedrive] = fake.wait_sent(pat.id, m)
    assert onedrive["parse_mode"] == "HTML"
    text = onedrive["text"]
    assert '" * : < > ? / \\ |' in text
    assert '"Budget Q3 <draft>.xlsx"' in text and "my_file_v2.docx" in text
    assert "&lt;draft&gt;" in onedrive["html"]

    m = fake.mark()
    pat.say("How do I rebuild the Outlook offline cache ost file?")
    [outlook] = fake.wait_sent(pat.id, m)
    text = outlook["text"]
    assert "C:\\Users\\<name>\\AppData\\Local\\Microsoft\\Outlook" in text
    assert "jane.doe@example.com_old.ost" in text and "File > Office Account > Update Options" in text
    # KB Markdown is rendered, not shown as asterisks and backticks.
    assert "Update Now" in text and "**" not in text and "<b>Update Now</b>" in outlook["html"]
    assert "<code>%LOCALAPPDATA%\\Microsoft\\Outlook</code>" in outlook["html"]


def test_long_messages_are_split_at_telegrams_limit(tg):
    fake, http = tg.fake, tg.http
    carol = TgUser(fake, 1301, "Carol")
    sam = make_agent(tg.runtime, "sam")

    m = fake.mark()
    carol.say("/human")
    number = number_in(fake.wait_sent(carol.id, m)[0]["text"])
    topic = _topic_of(fake, number)
    m = fake.mark()
    http.post(f"/api/v1/tickets/{number}/claim", headers=sam).raise_for_status()
    fake.wait_sent(AGENTS, m, match=lambda r: "taken by sam" in r["text"])

    # The user's 4,000-character message plus the relay's header does not fit one Telegram message.
    words = "Step <1> & restart_now *then* check C:\\Temp\\a_b.log. "
    long_user = (words * 200)[:4000].strip()
    m = fake.mark()
    carol.say(long_user)
    parts = fake.wait_sent(AGENTS, m, count=2)
    assert all(p["thread_id"] == topic for p in parts)
    relayed = " ".join(p["text"] for p in parts)
    assert relayed.startswith(f"👤 #{number} · Carol · telegram: Step <1> & restart_now")
    assert " ".join(relayed.split(": ", 1)[1].split()) == " ".join(long_user.split())

    resolution = (words * 200)[:4000].strip()
    m = fake.mark()
    http.post(f"/api/v1/tickets/{number}/resolve", json={"resolution": resolution}, headers=sam).raise_for_status()
    expected = f"Ticket #{number} is resolved: {resolution}\nIf you need anything else, just write: I'm back to answer."
    parts = fake.wait(
        lambda: (
            lambda got: (
                got if " ".join(" ".join(x["text"] for x in got).split()) == " ".join(expected.split()) else None
            )
        )(carol.inbox(m)),
        what="the whole resolution, in parts",
    )
    assert len(parts) >= 2
    assert all(len(parse_html(p["html"]).encode("utf-16-le")) // 2 <= 4096 for p in parts)


def test_duplicate_updates_are_processed_once(tg):
    fake = tg.fake
    dan = TgUser(fake, 1401, "Dan")

    m = fake.mark()
    question = dan.say("How do I connect to the VPN from home?")
    [answer] = fake.wait_sent(dan.id, m)
    press = dan.press(answer, "Helped")
    fake.wait_sent(dan.id, m, count=2)

    # Telegram hands the same updates out again (e.g. unconfirmed when the bot restarted).
    fake.push(question, redeliver=True)
    fake.push(press, redeliver=True)
    dan.say("/help")  # handled after the redeliveries: one chat's updates are handled in order
    fake.wait_sent(dan.id, m, count=3)
    time.sleep(0.3)
    texts = [x["text"] for x in dan.inbox(m)]
    assert len(texts) == 3, texts
    assert texts[1] == "Glad I could help! Ask me anything else any time." and "/human" in texts[2]
    with tg.runtime.sessions() as s:
        stored = s.scalars(
            select(Message).where(Message.channel == "telegram", Message.platform_msg_id.like(f"tg:{dan.id}:%"))
        ).all()
        assert len(stored) == 1


def test_blocked_user_does_not_stop_service_and_flood_control_is_honoured(tg):
    fake, http, runtime = tg.fake, tg.http, tg.runtime
    nat = make_agent(runtime, "nat")
    erin, frank = TgUser(fake, 1501, "Erin"), TgUser(fake, 1502, "Frank")
    tickets = {}
    for user in (erin, frank):
        m = fake.mark()
        user.say("/human")
        tickets[user.id] = number_in(fake.wait_sent(user.id, m)[0]["text"])
        http.post(f"/api/v1/tickets/{tickets[user.id]}/claim", headers=nat).raise_for_status()
        fake.wait_sent(user.id, m, count=2)

    # Erin blocks the bot: the agent's reply fails for good (recorded), nothing crashes.
    fake.block(erin.id)
    http.post(
        f"/api/v1/tickets/{tickets[erin.id]}/reply", json={"text": "Are you there, Erin?"}, headers=nat
    ).raise_for_status()

    def failed():
        with runtime.sessions() as s:
            return s.scalars(select(OutboxItem).where(OutboxItem.status == "failed")).all()

    [item] = fake.wait(failed, what="the undeliverable item marked failed")
    assert "blocked by the user" in item.last_error and item.attempts == 1

    # Frank is still served, and flood control's retry_after is waited out before the retry.
    fake.flood_once(frank.id, 2)
    m = fake.mark()
    http.post(
        f"/api/v1/tickets/{tickets[frank.id]}/reply", json={"text": "Hi Frank, try again now."}, headers=nat
    ).raise_for_status()
    [got] = fake.wait_sent(frank.id, m)
    assert got["text"] == "🧑‍💼 nat:\nHi Frank, try again now."
    [flooded] = [r for r in fake.rejected if r["error_code"] == 429 and r["params"].get("chat_id") == frank.id]
    assert got["time"] - flooded["time"] >= 1.9

    # Flood control on a direct answer: waited out too, the user still gets it.
    gina = TgUser(fake, 1503, "Gina")
    fake.flood_once(gina.id, 1)
    m = fake.mark()
    gina.say("How do I connect to the VPN from home?")
    [answer] = fake.wait_sent(gina.id, m)
    [flooded] = [r for r in fake.rejected if r["error_code"] == 429 and r["params"].get("chat_id") == gina.id]
    assert answer["time"] - flooded["time"] >= 0.95 and len(buttons(answer)) == 3
    assert http.get("/healthz").status_code == 200


def test_an_answer_survives_a_bot_api_outage(tg):
    """Telegram answers 502 twice: the webhook/poller has already confirmed the update, so the bot's answer is
    retried from the outbox until it gets through."""
    fake = tg.fake
    ida = TgUser(fake, 1701, "Ida")
    fake.fail_sends(ida.id, 2)
    m = fake.mark()
    ida.say("How do I connect to the VPN from home?")
    [answer] = fake.wait_sent(ida.id, m, timeout=40)
    assert "VPN" in answer["text"] and len(buttons(answer)) == 3
    outage = [r for r in fake.rejected if r["error_code"] == 502 and r["params"].get("chat_id") == ida.id]
    assert len(outage) == 2
    assert answer["time"] - outage[-1]["time"] >= 1.5  # waited before trying again, not hammering the API


def test_a_reply_that_cannot_be_delivered_is_shown_as_failed(db_url, tmp_path):
    fake = FakeTelegram(TOKEN)
    fake.add_group(AGENTS, forum=True)
    with (
        fake.running(),
        running_app(
            db_url,
            tmp_path,
            telegram_bot_token=TOKEN,
            telegram_api_base=fake.base_url,
            telegram_agents_chat_id=AGENTS,
            outbox_max_attempts=2,
        ) as (base, runtime),
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        fake.wait(lambda: any(c["method"] == "getUpdates" for c in fake.calls), what="long polling")
        jo, kai = TgUser(fake, 1801, "Jo"), make_agent(runtime, "kai")
        m = fake.mark()
        jo.say("/human")
        number = number_in(fake.wait_sent(jo.id, m)[0]["text"])
        http.post(f"/api/v1/tickets/{number}/claim", headers=kai).raise_for_status()
        fake.wait_sent(jo.id, m, count=2)

        fake.fail_sends(jo.id, 100)  # Telegram is down for this chat for longer than the outbox tries
        reply = http.post(
            f"/api/v1/tickets/{number}/reply", json={"text": "Please restart the laptop."}, headers=kai
        ).json()

        def failed_in_transcript():
            detail = http.get(f"/api/v1/tickets/{number}", headers=kai).json()
            [msg] = [x for x in detail["transcript"] if x["id"] == reply["id"]]
            return detail if msg["delivery"] == "failed" else None

        detail = fake.wait(failed_in_transcript, timeout=40, what="the reply marked undelivered")
        [msg] = [x for x in detail["transcript"] if x["id"] == reply["id"]]
        assert "Bad Gateway" in msg["delivery_error"]
        assert any(
            e["action"] == "delivery_failed" and e["detail"]["message_id"] == reply["id"] for e in detail["events"]
        )
        boss = make_agent(runtime, "kai-boss", "manager")
        [item] = [
            d for d in http.get("/api/v1/admin/deliveries", headers=boss).json() if d["message_id"] == reply["id"]
        ]
        assert item["attempts"] == 2 and item["status"] == "failed"

        # Telegram is back: a manager sends it again and Jo gets it.
        fake.fail_sends(jo.id, 0)
        m = fake.mark()
        r = http.post(f"/api/v1/admin/deliveries/{item['id']}/retry", headers=boss)
        assert r.status_code == 200 and r.json()["status"] == "pending"
        [got] = fake.wait_sent(jo.id, m)
        assert got["text"] == "🧑‍💼 kai:\nPlease restart the laptop."
        fake.wait(
            lambda: [
                x
                for x in http.get(f"/api/v1/tickets/{number}", headers=kai).json()["transcript"]
                if x["id"] == reply["id"] and x["delivery"] == "sent"
            ],
            what="the reply marked sent",
        )


def test_photos_and_documents_are_attached_to_the_ticket(tg):
    fake, runtime = tg.fake, tg.runtime
    hank = TgUser(fake, 1601, "Hank")
    m = fake.mark()
    hank.say("/human")
    number = number_in(fake.wait_sent(hank.id, m)[0]["text"])
    topic = _topic_of(fake, number)

    small, big = b"\x89PNG small" + bytes(50), b"\x89PNG big" + bytes(range(256)) * 40
    photo = [
        {**fake.add_file(small, "photos/file_1.jpg"), "width": 90, "height": 60},
        {**fake.add_file(big, "photos/file_2.jpg"), "width": 1280, "height": 800},
    ]
    log_bytes = b"vpn: error 809 <timeout> & retry_count=3\n"
    doc = {
        **fake.add_file(log_bytes, "documents/file_3.txt"),
        "file_name": "vpn <log> & more.txt",
        "mime_type": "text/plain",
    }
    m = fake.mark()
    hank.send(photo=photo, caption="This is the error I get")
    hank.send(document=doc)

    # The agents see them in the ticket's topic.
    docs = fake.wait_sent(AGENTS, m, count=2, match=lambda r: r["method"] == "sendDocument")
    assert {d["content"] for d in docs} == {big, log_bytes} and all(d["thread_id"] == topic for d in docs)
    assert any(d["text"] == f"#{number} · vpn <log> & more.txt" for d in docs)
    relay = fake.wait_sent(AGENTS, m, match=lambda r: "This is the error I get" in r["text"])[0]
    assert "📎" in relay["text"]
    assert not hank.inbox(m)  # the bot stays out of a conversation with a person

    # Stored under the data dir and attached to the ticket's conversation.
    with runtime.sessions() as s:
        ticket = service.get_ticket(s, number)
        files = [
            a
            for msg in conversations.transcript(s, ticket.conversation_id)
            for a in (msg.payload or {}).get("attachments", [])
        ]
    assert [(a["kind"], a["size"]) for a in files] == [("photo", len(big)), ("document", len(log_bytes))]
    assert files[1]["name"] == "vpn <log> & more.txt"
    for a, content in zip(files, (big, log_bytes)):
        path = tg.data / a["path"]
        assert path.resolve().is_relative_to(tg.data.resolve()) and path.read_bytes() == content


def test_ticket_status_cancel_handback_and_who_may_write(tg):
    fake, runtime = tg.fake, tg.runtime
    ivy = TgUser(fake, 1701, "Ivy")
    agent_for(runtime, "omar", 901)
    agent_for(runtime, "zed", 902)
    omar, zed, guest = GroupMember(fake, 901, "Omar"), GroupMember(fake, 902, "Zed"), GroupMember(fake, 903, "Guest")

    m = fake.mark()
    ivy.say("The coffee machine on floor 3 makes a strange noise")
    number = number_in(fake.wait_sent(ivy.id, m)[0]["text"])
    m = fake.mark()
    ivy.say("/ticket")
    status = fake.wait_sent(ivy.id, m)[0]["text"]
    assert status.startswith("Your open tickets:") and f"#{number} · The coffee machine" in status
    assert "waiting for an agent" in status

    notice, topic = _notice(fake, number), _topic_of(fake, number)
    assert "the bot wasn't sure" in notice["text"]
    m = fake.mark()
    omar.press(notice)
    fake.wait_sent(ivy.id, m)
    m = fake.mark()
    ivy.say("/ticket")
    assert "an agent is on it (omar)" in fake.wait_sent(ivy.id, m)[0]["text"]

    # Only the assignee's messages reach the user; others are told why theirs did not.
    m = fake.mark()
    zed_msg = zed.write("I can look at it too", topic=topic)
    [refused] = fake.wait_sent(AGENTS, m)
    assert refused["text"].startswith("Not sent to the user:") and "assigned to another agent" in refused["text"]
    assert refused["reply_to"] == zed_msg["message"]["message_id"] and refused["thread_id"] == topic
    m = fake.mark()
    guest.write("hello?", topic=topic)
    [refused] = fake.wait_sent(AGENTS, m)
    assert "isn't linked to a Firstline agent" in refused["text"]
    # The assignee's mistyped command and a photo are not passed on either, and they are told so.
    m = fake.mark()
    omar.write("/resolv typo", topic=topic)
    assert fake.wait_sent(AGENTS, m)[0]["text"].startswith("In a ticket's thread: whatever you write goes to")
    m = fake.mark()
    pic = fake.add_file(b"jpeg", "photos/agent.jpg")
    fake.push(fake.user_message(omar.chat, omar.user, thread_id=topic, photo=[{**pic, "width": 10, "height": 10}]))
    assert fake.wait_sent(AGENTS, m)[0]["text"] == "Not sent to the user: only text is relayed to the user"
    assert not ivy.inbox(m)

    # /handback: the user is back with the bot; the group hears of it.
    m = fake.mark()
    omar.write("/handback", topic=topic)
    assert fake.wait_sent(ivy.id, m)[0]["text"] == "The service desk has handed you back to me. Ask me anything."
    fake.wait_sent(AGENTS, m, match=lambda r: f"#{number} handed back to the bot by omar." in r["text"])
    m = fake.mark()
    ivy.say("/ticket")
    assert fake.wait_sent(ivy.id, m)[0]["text"].startswith("You have no open tickets.")
    m = fake.mark()
    ivy.say("/cancel")
    assert fake.wait_sent(ivy.id, m)[0]["text"].startswith("There's nothing to cancel.")

    # /cancel while waiting for a person: the agents are told in the ticket's thread.
    m = fake.mark()
    ivy.say("/human")
    second = number_in(fake.wait_sent(ivy.id, m)[0]["text"])
    second_topic = _topic_of(fake, second)
    m = fake.mark()
    ivy.say("/cancel")
    assert fake.wait_sent(ivy.id, m)[0]["text"] == (
        f"I've told the service desk that you no longer need help with ticket #{second}."
    )
    fake.wait_sent(AGENTS, m, match=lambda r: r["thread_id"] == second_topic and "no longer need help" in r["text"])

    # /resolve outside a ticket's thread is explained.
    m = fake.mark()
    omar.write("/resolve done")
    assert fake.wait_sent(AGENTS, m)[0]["text"].startswith("Use this in a ticket's topic")


def test_misconfigured_webhook_is_refused_at_start():
    from bot.telegram import TelegramConfig

    with pytest.raises(ValueError, match="https"):
        TelegramConfig(token=TOKEN, webhook_url="http://desk.example.com/hook", webhook_secret="abc")
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        TelegramConfig(token=TOKEN, webhook_url="https://desk.example.com/hook", webhook_secret="has spaces!")


def test_webhook_mode_checks_the_secret_and_survives_a_restart(db_url, tmp_path):
    fake = FakeTelegram(TOKEN)
    fake.add_group(PLAIN_AGENTS, forum=False)
    secret = "s3cret-Token_for-tests"
    settings = dict(
        telegram_bot_token=TOKEN,
        telegram_agents_chat_id=PLAIN_AGENTS,
        telegram_webhook_url="https://desk.example.com/hooks/telegram",
        telegram_webhook_secret=secret,
    )
    with fake.running():
        settings["telegram_api_base"] = fake.base_url  # known once the fake listens
        kim = TgUser(fake, 2001, "Kim")
        question = kim.update(text="How do I connect to the VPN from home?")
        right = {"X-Telegram-Bot-Api-Secret-Token": secret}
        with (
            running_app(db_url, tmp_path, **settings) as (base, runtime),
            httpx.Client(base_url=base, timeout=30) as http,
        ):
            hook = fake.wait(lambda: fake.webhook, what="setWebhook")
            assert hook["url"] == "https://desk.example.com/hooks/telegram" and hook["secret_token"] == secret
            assert set(hook["allowed_updates"]) == {"message", "callback_query"}
            assert not [c for c in fake.calls if c["method"] == "getUpdates"]

            # Without the right secret: 401, and nothing is processed.
            for headers in ({"X-Telegram-Bot-Api-Secret-Token": "guess"}, {}):
                r = http.post("/hooks/telegram", json=question, headers=headers)
                assert r.status_code == 401, r.text
            time.sleep(0.3)
            assert not kim.inbox()
            with runtime.sessions() as s:
                assert s.scalar(select(Message.id).where(Message.channel == "telegram")) is None

            r = http.post("/hooks/telegram", json=question, headers=right)
            assert r.status_code == 200
            [answer] = fake.wait_sent(kim.id, 0)  # sent by the outbox, after the webhook has answered
            assert "VPN" in answer["text"] and len(buttons(answer)) == 3
            assert http.post("/hooks/telegram", json=question, headers=right).status_code == 200
            time.sleep(0.5)
            assert len(kim.inbox()) == 1

            # A plain (non-forum) agents' group: the notice is a message; agents reply to it.
            m = fake.mark()
            http.post("/hooks/telegram", json=kim.update(text="/human"), headers=right).raise_for_status()
            number = number_in(fake.wait_sent(kim.id, m)[0]["text"])
            notice = _notice(fake, number, PLAIN_AGENTS)
            assert notice["thread_id"] is None and not fake.topics
            agent_for(runtime, "lee", 888)
            lee = GroupMember(fake, 888, "Lee", chat_id=PLAIN_AGENTS, forum=False)
            m = fake.mark()
            take = fake.callback(lee.user, notice, buttons(notice)[0]["callback_data"])
            http.post("/hooks/telegram", json=take, headers=right).raise_for_status()
            fake.wait_sent(
                PLAIN_AGENTS, m, match=lambda r: "taken by lee" in r["text"] and r["reply_to"] == notice["message_id"]
            )
            m = fake.mark()
            reply = fake.user_message(
                lee.chat, lee.user, text="Try the other VPN profile.", reply_to=notice["message_id"]
            )
            http.post("/hooks/telegram", json=reply, headers=right).raise_for_status()
            assert fake.wait_sent(kim.id, m)[0]["text"] == "🧑‍💼 lee:\nTry the other VPN profile."
            m = fake.mark()
            http.post(
                "/hooks/telegram", json=kim.update(text="Still failing with error 809"), headers=right
            ).raise_for_status()
            [relay] = fake.wait_sent(PLAIN_AGENTS, m)
            assert "Still failing with error 809" in relay["text"] and relay["reply_to"] == notice["message_id"]
            # Replying to the relayed message (not the notice) reaches the user too.
            m = fake.mark()
            reply = fake.user_message(
                lee.chat, lee.user, text="Error 809 means a blocked port; resetting it.", reply_to=relay["message_id"]
            )
            http.post("/hooks/telegram", json=reply, headers=right).raise_for_status()
            assert fake.wait_sent(kim.id, m)[0]["text"].endswith("Error 809 means a blocked port; resetting it.")

        # After a restart, Telegram re-sends an update that was already answered: not answered again.
        with (
            running_app(db_url, tmp_path, **settings) as (base, runtime),
            httpx.Client(base_url=base, timeout=30) as http,
        ):
            m = fake.mark()
            assert http.post("/hooks/telegram", json=question, headers=right).status_code == 200
            http.post("/hooks/telegram", json=kim.update(text="/help"), headers=right).raise_for_status()
            fake.wait_sent(kim.id, m)
            time.sleep(0.5)
            texts = [x["text"] for x in kim.inbox(m)]
            assert len(texts) == 1 and "/ticket" in texts[0]
    assert not [r for r in fake.rejected if r["error_code"] == 400], fake.rejected
