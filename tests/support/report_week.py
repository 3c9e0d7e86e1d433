"""The hand-computed report fixture: the week Mon 2026-11-16 … Sun 2026-11-22 in Europe/Moscow (UTC+3, no DST),
with tickets just either side of its edges (tests/integration/test_reports.py checks every number against it;
the browser test shows them). Times are local (Moscow) unless they say UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from tickets.agents import create_agent
from tickets.models import Agent, Conversation, Ticket, TicketEvent
from tickets.ops_models import Escalation, TimeEntry

TZ = "Europe/Moscow"
MSK = ZoneInfo(TZ)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=MSK)  # after the week: every due time in it has passed


def L(day: int, hh: int = 0, mm: int = 0, month: int = 11) -> datetime:
    """A local (Moscow) time in 2026 as an aware UTC datetime."""
    return datetime(2026, month, day, hh, mm, tzinfo=MSK).astimezone(timezone.utc)


def seed(factory) -> dict[str, int]:
    """Insert the fixture with controlled timestamps; returns ticket ids by name."""
    with factory.begin() as s:
        create_agent(s, "ann", "l1")
        create_agent(s, "boris", "l2")
        s.flush()
        ann = s.query(Agent).filter_by(name="ann").one().id
        boris = s.query(Agent).filter_by(name="boris").one().id
        ids: dict[str, int] = {}

        def conv(name: str, at: datetime, outcome: str | None, question: str | None, channel: str = "web"):
            c = Conversation(
                channel=channel,
                user_ref=f"u-{name}",
                created_at=at,
                outcome=outcome,
                last_question=question,
                closed_at=at + timedelta(hours=1),
            )
            s.add(c)
            s.flush()
            return c

        def ticket(
            name,
            created,
            channel,
            category,
            line,
            reason,
            status,
            *,
            fr=None,
            res=None,
            closed=None,
            fr_due=None,
            res_due=None,
            paused=None,
            outcome="handed_off",
        ):
            c = conv(name, created, outcome, f"question {name}", channel)
            t = Ticket(
                conversation_id=c.id,
                requester=c.user_ref,
                channel=channel,
                subject=name,
                question=name,
                status=status,
                line=line,
                category=category,
                handoff_reason=reason,
                created_at=created,
                first_response_at=fr,
                resolved_at=res,
                closed_at=closed,
                first_response_due_at=fr_due,
                resolution_due_at=res_due,
                sla_paused_at=paused,
            )
            s.add(t)
            s.flush()
            ids[name] = t.id
            return t

        # T9: the October edge (Sat 31 Oct 23:59), resolved 1 Nov 00:30.
        ticket(
            "T9",
            L(31, 23, 59, month=10),
            "web",
            None,
            "L1",
            "low_confidence",
            "resolved",
            fr=L(1, 0, 10),
            res=L(1, 0, 30),
        )
        # T7: opened the week before (Wed 11 Nov), resolved in the week (Thu 19 10:00), closed an hour later.
        ticket(
            "T7",
            L(11, 10),
            "web",
            "accounts",
            "L1",
            "user_request",
            "closed",
            fr=L(11, 10, 5),
            res=L(19, 10),
            closed=L(19, 11),
            fr_due=L(11, 10, 30),
            res_due=L(12, 10),
        )
        # T0: Sunday 15 Nov 23:59 — the previous week; still open; its first-response target (Mon 00:29)
        # passes in the week with no response.
        ticket("T0", L(15, 23, 59), "web", "network", "L1", "low_confidence", "open", fr_due=L(16, 0, 29))
        # T1: Monday 16 Nov 00:00 — the first instant of the week.
        ticket(
            "T1",
            L(16, 0, 0),
            "web",
            "network",
            "L1",
            "low_confidence",
            "resolved",
            fr=L(16, 0, 10),
            res=L(16, 1, 0),
            fr_due=L(16, 0, 30),
            res_due=L(16, 4, 0),
            outcome="resolved_by_agent",
        )
        ticket(
            "T2",
            L(16, 10),
            "telegram",
            "accounts",
            "L1",
            "low_confidence",
            "resolved",
            fr=L(16, 10, 20),
            res=L(17, 10),
            fr_due=L(16, 10, 30),
            res_due=L(16, 18),
            outcome="resolved_by_agent",
        )
        ticket(
            "T3",
            L(17, 9),
            "telegram",
            None,
            "L2",
            "user_request",
            "resolved",
            fr=L(17, 9, 30),
            res=L(17, 13),
            fr_due=L(17, 9, 15),
            res_due=L(17, 17),
            outcome="resolved_by_agent",
        )
        ticket(
            "T8",
            L(17, 8),
            "web",
            "accounts",
            "L1",
            "bot_error",
            "pending_user",
            fr=L(17, 8, 5),
            fr_due=L(17, 8, 30),
            res_due=L(18, 8),
            paused=L(17, 9),
        )
        ticket(
            "T4",
            L(18, 12),
            "slack",
            "network",
            "L1",
            "negative_feedback",
            "open",
            fr=L(18, 12, 40),
            fr_due=L(18, 13),
            res_due=L(19, 12),
        )
        # T5: Sunday 22 Nov 23:59 — the last minute of the week; T6: Monday 23 Nov 00:00 — the next week.
        ticket(
            "T5", L(22, 23, 59), "web", "network", "L1", "low_confidence", "new", fr_due=L(23, 0, 30), res_due=L(24, 0)
        )
        ticket("T6", L(23, 0, 0), "web", "network", "L1", "low_confidence", "new")

        # Bot-only conversations in the week: 2 helped, 1 answered, 1 abandoned after a question, 1 greeting
        # only (abandoned, no question), 1 still talking to the bot; and one helped in the next week.
        conv("C1", L(16, 11), "helped", "vpn?")
        conv("C2", L(19, 15), "helped", "printer?")
        conv("C3", L(20, 9), "answered", "wifi?")
        conv("C4", L(21, 9), "abandoned", "mail?")
        conv("C5", L(21, 10), "abandoned", None)
        conv("C6", L(22, 12), None, "password?")
        conv("C7", L(23, 0), "helped", "next week")

        # Escalations: T3 to L2, T4 functionally (stays L1), and T0 (opened the week before) to L3 in the week.
        s.add_all(
            [
                Escalation(
                    ticket_id=ids["T3"],
                    kind="hierarchical",
                    from_line="L1",
                    to_line="L2",
                    by="agent:1",
                    created_at=L(17, 9, 40),
                ),
                Escalation(
                    ticket_id=ids["T4"],
                    kind="functional",
                    from_line="L1",
                    to_line="L1",
                    by="agent:1",
                    created_at=L(18, 13),
                ),
                Escalation(
                    ticket_id=ids["T0"],
                    kind="hierarchical",
                    from_line="L1",
                    to_line="L3",
                    by="system:sla",
                    created_at=L(16, 9),
                ),
            ]
        )
        # Status history: T2 was resolved, reopened, resolved again; T1 just went new → open → resolved.
        s.add_all(
            [
                TicketEvent(
                    ticket_id=ids["T1"],
                    actor="agent:1",
                    action="status",
                    detail={"old": "new", "new": "open"},
                    created_at=L(16, 0, 5),
                ),
                TicketEvent(
                    ticket_id=ids["T1"],
                    actor="agent:1",
                    action="status",
                    detail={"old": "open", "new": "resolved"},
                    created_at=L(16, 1),
                ),
                TicketEvent(
                    ticket_id=ids["T2"],
                    actor="user:x",
                    action="status",
                    detail={"old": "resolved", "new": "open"},
                    created_at=L(16, 20),
                ),
            ]
        )
        # Time: ann 15 (manual) + 25 (timer) in the week, 100 the Sunday before; boris 50 (manual) + 5 (timer
        # started Sun 23:50, ended after midnight: counted where it started) + a running timer (not counted).
        s.add_all(
            [
                TimeEntry(ticket_id=ids["T1"], agent_id=ann, source="manual", minutes=15, started_at=L(16, 0, 20)),
                TimeEntry(
                    ticket_id=ids["T2"],
                    agent_id=ann,
                    source="timer",
                    minutes=25,
                    started_at=L(17, 10),
                    ended_at=L(17, 10, 25),
                ),
                TimeEntry(ticket_id=ids["T7"], agent_id=ann, source="manual", minutes=100, started_at=L(15, 23)),
                TimeEntry(ticket_id=ids["T3"], agent_id=boris, source="manual", minutes=50, started_at=L(17, 10)),
                TimeEntry(
                    ticket_id=ids["T0"],
                    agent_id=boris,
                    source="timer",
                    minutes=5,
                    started_at=L(22, 23, 50),
                    ended_at=L(23, 0, 0),
                ),
                TimeEntry(ticket_id=ids["T4"], agent_id=boris, source="timer", minutes=30, started_at=L(18, 13)),
            ]
        )
    return ids


# Expected report for the week of Mon 16 Nov 2026 (hand-computed from `seed`).
