"""Deliver outbox items through each channel's sender, with retries and per-conversation order.

An item is claimed with a conditional UPDATE (pending → sending), so several processes may run a
dispatcher; one that dies mid-send leaves a `sending` item that is released after `stale_after`.

Audiences: "user" and "agents" go to their channel's sender; "staff" (a notice to one agent's linked
account, text in `payload`) to the sender of its channel too; "webhook" items go to the sender registered
as "webhook" whatever their channel says.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Protocol

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.db import utcnow
from people.models import Organisation, Person
from tickets import conversations, service
from tickets.models import Agent, Conversation, Message, OutboxItem, Ticket

log = logging.getLogger(__name__)
WEBHOOK = "webhook"  # the sender name (and audience) of HTTP POSTs to configured URLs


class PermanentFailure(Exception):
    """The platform will never accept this (user blocked the bot, chat gone): record it and move on."""


class RetryAfter(Exception):
    """The platform asked us to wait (flood control / rate limit)."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"retry after {seconds}s")
        self.seconds = seconds


@dataclass
class Delivery:
    """Everything a sender needs, loaded from the DB so senders never touch a session."""

    item_id: int
    audience: str  # user | agents | staff | webhook
    channel: str
    event: str
    attempts: int
    message: dict | None = None  # id, author, text, payload, agent
    conversation: dict | None = None  # id, channel, user_ref, thread_ref, lang, user_name, state
    ticket: dict | None = None  # number, subject, question, status, handoff_reason, bot_tried, assignee, ...
    thread: dict | None = None  # chat_ref, thread_ref, root_ref on the agents' channel
    transcript: list[dict] = field(default_factory=list)
    agent: dict | None = None  # staff: id, name, role, telegram_user_id, slack_user_id
    payload: dict = field(default_factory=dict)  # staff: text, lang, ...; webhook: the JSON body


@dataclass
class Delivered:
    thread: dict | None = None  # chat_ref/thread_ref/root_ref to remember for the ticket


class Sender(Protocol):
    async def deliver(self, d: Delivery) -> Delivered | None: ...


def _message_dict(m: Message, agent_name: str | None = None) -> dict:
    return {
        "id": m.id,
        "author": m.author,
        "text": m.text,
        "payload": m.payload or {},
        "agent": (m.payload or {}).get("agent") or agent_name,
        "created_at": m.created_at.isoformat(),
    }


def load_delivery(session: Session, item: OutboxItem) -> Delivery:
    d = Delivery(item.id, item.audience, item.channel, item.event, item.attempts, payload=dict(item.payload or {}))
    if item.agent_id:
        agent = session.get(Agent, item.agent_id)
        if agent is not None:
            d.agent = {
                "id": agent.id,
                "name": agent.name,
                "role": agent.role,
                "telegram_user_id": agent.telegram_user_id,
                "slack_user_id": agent.slack_user_id,
            }
    if item.audience == WEBHOOK:
        return d  # the payload is the whole delivery
    msg = session.get(Message, item.message_id) if item.message_id else None
    ticket = session.get(Ticket, item.ticket_id) if item.ticket_id else None
    conv_id = msg.conversation_id if msg else (ticket.conversation_id if ticket else None)
    conv = session.get(Conversation, conv_id) if conv_id else None
    if msg is not None:
        d.message = _message_dict(msg)
    if conv is not None:
        d.conversation = {
            "id": conv.id,
            "channel": conv.channel,
            "user_ref": conv.user_ref,
            "thread_ref": conv.thread_ref,
            "lang": conv.lang,
            "user_name": conv.user_name,
            "state": conv.state,
        }
    if ticket is None and conv is not None:
        ticket = service.ticket_for_conversation(session, conv.id)
    if ticket is not None:
        assignee = session.get(Agent, ticket.assignee_id) if ticket.assignee_id else None
        d.ticket = {
            "number": ticket.id,
            "subject": ticket.subject,
            "question": ticket.question,
            "status": ticket.status,
            "handoff_reason": ticket.handoff_reason,
            "bot_tried": ticket.bot_tried,
            "assignee": assignee.name if assignee else None,
            "resolution": ticket.resolution,
            "line": ticket.line,
            "priority": ticket.priority,
            "channel": ticket.channel,
            "requester": ticket.requester,
            # The directory's name and organisation for a known person (agents' notices name them).
            **requester_names(session, ticket),
        }
        th = conversations.ticket_thread(session, ticket.id, item.channel) if item.audience == "agents" else None
        if th is not None:
            d.thread = {"chat_ref": th.chat_ref, "thread_ref": th.thread_ref, "root_ref": th.root_ref}
        if item.event in ("ticket_opened", "ticket_claimed") and conv is not None:
            d.transcript = [_message_dict(m) for m in conversations.transcript(session, conv.id)]
    return d


def requester_names(session: Session, ticket: Ticket) -> dict[str, str]:
    person = session.get(Person, ticket.person_id) if ticket.person_id is not None else None
    if person is None or person.provisional or not person.name:
        return {}
    org = session.get(Organisation, person.organisation_id) if person.organisation_id is not None else None
    return {"requester_name": person.name} | ({"requester_org": org.name} if org else {})


class OutboxDispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        senders: dict[str, Sender],
        *,
        poll_interval: float = 0.3,
        max_attempts: int = 8,
        stale_after: timedelta = timedelta(minutes=2),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.senders = senders
        self.clock = clock  # tests pass a controllable clock to reach a retry without waiting
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        self.stale_after = stale_after
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was just queued: look now rather than at the next poll."""
        self._wake.set()

    async def run_forever(self) -> None:
        while True:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a DB hiccup must not kill delivery: log and try again shortly
                log.exception("outbox round failed")
                busy = 0
            if not busy:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()

    # -- one round ----------------------------------------------------------------------------
    def _channel_filter(self):
        channels = OutboxItem.channel.in_([c for c in self.senders if c != WEBHOOK])
        if WEBHOOK in self.senders:
            return or_(channels, OutboxItem.audience == WEBHOOK)
        return channels & (OutboxItem.audience != WEBHOOK)

    def sender_for(self, d: Delivery) -> Sender:
        return self.senders[WEBHOOK if d.audience == WEBHOOK else d.channel]

    def _claim_due(self, limit: int = 50) -> list[tuple[int, Delivery]]:
        now = self.clock()
        claimed: list[tuple[int, Delivery]] = []
        with self.sessions.begin() as s:
            s.execute(
                update(OutboxItem)
                .where(OutboxItem.status == "sending", OutboxItem.next_attempt_at < now - self.stale_after)
                .values(status="pending")
            )
            rows = list(
                s.scalars(
                    select(OutboxItem)
                    .where(OutboxItem.status.in_(("pending", "sending")), self._channel_filter())
                    .order_by(OutboxItem.id)
                    .limit(limit * 4)
                )
            )
            blocked: set[tuple] = set()  # keys with an earlier undelivered item: keep their order
            for item in rows:
                key = self._order_key(s, item)
                if item.status == "sending" or item.next_attempt_at > now or key in blocked:
                    blocked.add(key)
                    continue
                won = s.execute(
                    update(OutboxItem)
                    .where(OutboxItem.id == item.id, OutboxItem.status == "pending")
                    .values(status="sending", next_attempt_at=now)
                ).rowcount
                if won:
                    claimed.append((item.id, load_delivery(s, item)))
                    blocked.add(key)  # one in flight per key per round
                if len(claimed) >= limit:
                    break
        return claimed

    @staticmethod
    def _order_key(s: Session, item: OutboxItem) -> tuple:
        if item.audience == "agents" and item.ticket_id:
            return ("agents", item.channel, item.ticket_id)
        if item.audience == "staff":
            return ("staff", item.channel, item.agent_id)  # one agent's notices arrive in order
        if item.audience == WEBHOOK:
            return (WEBHOOK, item.id)
        msg = s.get(Message, item.message_id) if item.message_id else None
        return ("user", item.channel, msg.conversation_id if msg else item.id)

    def _finish(self, item_id: int, result: Delivered | None, error: BaseException | None) -> None:
        now = self.clock()
        with self.sessions.begin() as s:
            item = s.get(OutboxItem, item_id)
            if error is None:
                item.status, item.sent_at, item.last_error = "sent", now, None
                if result is not None and result.thread and item.ticket_id:
                    conversations.save_ticket_thread(s, item.ticket_id, item.channel, **result.thread)
                return
            item.attempts += 1
            item.last_error = f"{type(error).__name__}: {error}"[:2000]
            if isinstance(error, PermanentFailure) or item.attempts >= self.max_attempts:
                item.status = "failed"
                log.warning(
                    "outbox item %s (%s → %s) failed for good: %s", item.id, item.event, item.channel, item.last_error
                )
                if item.audience == "user":
                    self._tell_ticket(s, item)
                return
            delay = error.seconds if isinstance(error, RetryAfter) else min(2**item.attempts, 300)
            item.status, item.next_attempt_at = "pending", now + timedelta(seconds=delay)

    @staticmethod
    def _tell_ticket(s: Session, item: OutboxItem) -> None:
        """A message the user will never get is visible where the agents work: in the ticket's audit trail (and its
        transcript marks the message undelivered); the change wakes the console."""
        msg = s.get(Message, item.message_id) if item.message_id else None
        ticket = service.ticket_for_conversation(s, msg.conversation_id) if msg is not None else None
        if ticket is not None:
            service.record(
                s, ticket, "system", "delivery_failed", message_id=msg.id, channel=item.channel, error=item.last_error
            )
            ticket.updated_at = utcnow()

    async def run_once(self) -> int:
        batch = await run_in_threadpool(self._claim_due)
        for item_id, delivery in batch:
            sender = self.sender_for(delivery)
            result, error = None, None
            try:
                result = await sender.deliver(delivery)
            except Exception as exc:  # every failure is recorded on the item; nothing crashes the loop
                error = exc
            await self._finish_when_db_answers(item_id, result, error)
        return len(batch)

    async def _finish_when_db_answers(self, item_id: int, result, error: Exception | None) -> None:
        """Record the outcome, waiting out a database outage: the platform already has (or refused) the
        message, so giving up here would send it twice once the claim goes stale, and stall the rest."""
        delay = 0.5
        while True:
            try:
                await run_in_threadpool(self._finish, item_id, result, error)
                return
            except OperationalError as exc:
                log.warning(
                    "outbox item %s: recording its delivery failed (%s); retrying in %.1f s",
                    item_id,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


# -- what operators see and do ---------------------------------------------------------------------------
def list_items(session: Session, status: str | None = "failed", limit: int = 100) -> list[OutboxItem]:
    """Deliveries by status, newest first (failed ones: what never reached its recipient, with the last error)."""
    q = select(OutboxItem).order_by(OutboxItem.id.desc()).limit(limit)
    if status:
        q = q.where(OutboxItem.status == status)
    return list(session.scalars(q))


def retry(session: Session, item_id: int, now: datetime | None = None) -> OutboxItem:
    """Send a failed delivery again (e.g. after the user unblocked the bot or the relay was fixed)."""
    item = session.get(OutboxItem, item_id)
    if item is None:
        raise service.NotFound(f"delivery {item_id} does not exist")
    if item.status != "failed":
        raise service.Conflict(f"delivery {item_id} is {item.status}, not failed")
    item.status, item.attempts, item.next_attempt_at = "pending", 0, now or utcnow()
    return item
