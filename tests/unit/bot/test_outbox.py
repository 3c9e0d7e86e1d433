"""Outbound delivery: agent replies and ticket events reach channel senders, in order, with retries;
a platform's permanent refusal is recorded and never blocks other conversations."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.desk import Desk
from bot.engine import Engine, Incoming
from bot.outbox import Delivered, OutboxDispatcher, PermanentFailure, RetryAfter
from retrieval import Retriever
from tickets import conversations
from tickets.agents import create_agent
from tickets.models import Agent, OutboxItem


class RecordingPlatform:
    """Stands in for a chat platform's API: records what it is sent, fails on request."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fail_next: list[Exception] = []

    async def deliver(self, d):
        if self.fail_next:
            raise self.fail_next.pop(0)
        text = d.message["text"] if d.message else d.event
        self.sent.append((d.audience, d.conversation["user_ref"], text))
        if d.event == "ticket_opened":
            return Delivered(thread={"chat_ref": "agents", "thread_ref": f"topic-{d.ticket['number']}"})
        return None


@pytest.fixture
def desk_setup(sessions, embedder):
    engine = Engine(sessions, Retriever(embedder), agent_channels=("chatapp",))
    desk = Desk(("chatapp",))
    with sessions.begin() as s:
        create_agent(s, "ann", "l1")
    return sessions, engine, desk


def _agent(s):
    return s.scalar(select(Agent).where(Agent.name == "ann"))


async def _drain(dispatcher, rounds=5):
    for _ in range(rounds):
        await dispatcher.run_once()


async def test_agent_replies_and_ticket_events_are_delivered_in_order(desk_setup):
    sessions, engine, desk = desk_setup
    platform = RecordingPlatform()
    dispatcher = OutboxDispatcher(sessions, {"chatapp": platform})
    number = engine.handle(Incoming("chatapp", "u1", "talk to a human")).ticket_number
    with sessions.begin() as s:
        desk.claim(s, number, _agent(s))
        for i in range(3):
            desk.reply(s, number, _agent(s), f"reply {i}")
    await _drain(dispatcher)
    to_user = [text for aud, _, text in platform.sent if aud == "user"]
    # The bot's own handoff reply is in the outbox too (pushed channels): it reaches the user before the rest.
    assert to_user[0].startswith("Sure, I'll connect you with a person")
    assert to_user[1].startswith("ann from the service desk")
    assert to_user[2:] == ["reply 0", "reply 1", "reply 2"]
    to_agents = [text for aud, _, text in platform.sent if aud == "agents"]
    assert to_agents[:2] == ["ticket_opened", "ticket_claimed"]
    with sessions() as s:
        assert conversations.ticket_thread(s, number, "chatapp").thread_ref == f"topic-{number}"
        assert {i.status for i in s.scalars(select(OutboxItem))} == {"sent"}


async def test_rate_limit_is_honoured_and_permanent_failures_do_not_block_others(desk_setup):
    sessions, engine, desk = desk_setup
    platform = RecordingPlatform()
    dispatcher = OutboxDispatcher(sessions, {"chatapp": platform})
    blocked = engine.handle(Incoming("chatapp", "blocked-user", "operator")).ticket_number
    other = engine.handle(Incoming("chatapp", "u2", "operator")).ticket_number
    await _drain(dispatcher)  # the two ticket_opened events
    platform.sent.clear()
    with sessions.begin() as s:
        desk.claim(s, blocked, _agent(s))
    platform.fail_next = [PermanentFailure("Forbidden: bot was blocked by the user")]
    await _drain(dispatcher)
    with sessions.begin() as s:
        desk.claim(s, other, _agent(s))
        desk.reply(s, other, _agent(s), "hello u2")
    platform.fail_next = [RetryAfter(0.2, "Too Many Requests: retry after 0.2")]
    await _drain(dispatcher, 2)
    assert not any(aud == "user" and t == "hello u2" for aud, _, t in platform.sent), platform.sent
    await asyncio.sleep(0.3)
    await _drain(dispatcher)
    assert [t for aud, u, t in platform.sent if aud == "user" and u == "u2"][-1] == "hello u2"
    with sessions() as s:
        failed = s.scalars(select(OutboxItem).where(OutboxItem.status == "failed")).all()
        assert len(failed) == 1 and "blocked" in failed[0].last_error
        retried = s.scalars(select(OutboxItem).where(OutboxItem.attempts == 1, OutboxItem.status == "sent")).all()
        assert len(retried) == 1
