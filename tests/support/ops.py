"""Small builders for the service-desk operations tests (escalation, routing, time tracking)."""

from __future__ import annotations

from sqlalchemy import select

from tickets import conversations, routing, service
from tickets.agents import create_agent
from tickets.models import Agent, Ticket


def agent(s, name: str, role: str = "l1") -> Agent:
    create_agent(s, name, role)
    return s.scalar(select(Agent).where(Agent.name == name))


def ticket(
    s,
    user: str,
    question: str = "help please",
    *,
    tags: list[str] | None = None,
    priority: str | None = None,
    channel: str = "web",
) -> Ticket:
    """A ticket as the bot opens it (optionally with the tried articles' tags)."""
    conv = conversations.get_or_start_conversation(s, channel, user)
    t = service.open_ticket(s, conv, reason="user_request", question=question, bot_tried=[], article_tags=tags)
    if priority:
        t.priority = priority
        from tickets import sla

        sla.priority_changed(s, t, "normal")
    s.flush()
    return t


def group(s, slug: str, *members: Agent):
    g = routing.create_group(s, slug, slug.title())
    for m in members:
        routing.add_member(s, slug, m.id)
    return g
