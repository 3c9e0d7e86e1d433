"""The agent side of a handoff: claim, reply, hand back, resolve. Each change also tells the user (in
their language and channel) and queues the event for the agents' channels (Telegram group, Slack).

These notices are the user's status-change notices for these changes: each call declares so with
`notifications.user_told`, so tickets.notifications does not post a second one (staff notices still go)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.language import asks_for_human
from bot.texts import t
from kb_ingest.learning import Learner
from tickets import conversations, notifications, service
from tickets.models import Agent, Conversation, Message, Ticket


class Desk:
    def __init__(self, agent_channels: tuple[str, ...] = (), learner: Learner | None = None) -> None:
        self.agent_channels = agent_channels
        self.learner = learner  # resolutions feed the knowledge base (kb_ingest.learning)

    def _notify_user(self, session: Session, conv: Conversation, text: str, kind: str) -> Message:
        return conversations.add_message(session, conv, "system", text, payload={"kind": kind})

    def _tell_agents(self, session: Session, ticket: Ticket, event: str, message_id: int | None = None) -> None:
        service.notify_agents(session, self.agent_channels, ticket, event, message_id)

    def claim(self, session: Session, number: int, agent: Agent) -> Ticket:
        before = service.get_ticket(session, number).assignee_id
        with notifications.user_told(session, number, "open"):
            ticket = service.claim_ticket(session, number, agent)
        if before is None:
            conv = session.get(Conversation, ticket.conversation_id)
            self._notify_user(session, conv, t(conv.lang, "agent_joined", agent=agent.name), "agent_joined")
            self._tell_agents(session, ticket, "ticket_claimed")
        return ticket

    def reply(
        self,
        session: Session,
        number: int,
        agent: Agent,
        text: str,
        source: str = "api",
        platform_msg_id: str | None = None,
    ) -> Message:
        if platform_msg_id:  # a redelivered agent message: already relayed, do nothing twice
            seen = conversations.message_by_platform_id(session, platform_msg_id, f"agent:{agent.id}")
            if seen is not None:
                return seen
        with notifications.user_told(session, number, "pending_user"):  # the reply itself speaks to the user
            _, msg = service.agent_message(session, number, agent, text, source=source, platform_msg_id=platform_msg_id)
        self._tell_agents(session, service.get_ticket(session, number), "agent_message", msg.id)
        return msg

    def resolve(
        self, session: Session, number: int, agent: Agent, resolution: str, articles: list[str] | None = None
    ) -> Ticket:
        with notifications.user_told(session, number, "resolved"):
            ticket, conv = service.resolve_ticket(session, number, agent, resolution, articles)
        question = (ticket.question or "").strip()
        if self.learner is not None and question and question != "(attachment)" and not asks_for_human(question):
            # The index follows after this session commits; the resolution and the learning are one change.
            learned = self.learner.learn_from_resolution(
                session,
                question,
                resolution,
                list(articles or []),
                origin=f"ticket:{ticket.id}",
                author=f"agent:{agent.id}",
            )
            if learned.kind != "none":
                service.record(session, ticket, f"agent:{agent.id}", "learned", **learned.as_dict())
        text = f"{t(conv.lang, 'resolved', number=ticket.id, resolution=resolution)}\n{t(conv.lang, 'resolved_footer')}"
        self._notify_user(session, conv, text, "resolved")
        self._tell_agents(session, ticket, "ticket_resolved")
        return ticket

    def hand_back(self, session: Session, number: int, agent: Agent, note: str = "") -> Ticket:
        with notifications.user_told(session, number, "closed"):
            ticket, conv = service.hand_back(session, number, agent, note)
        self._notify_user(session, conv, t(conv.lang, "handed_back"), "handed_back")
        self._tell_agents(session, ticket, "ticket_handed_back")
        return ticket
