"""Two agents claim the same ticket at the same moment, in real concurrent transactions: one wins."""

from __future__ import annotations

import threading

from bot.engine import Engine, Incoming
from tickets import service
from tickets.agents import create_agent
from tickets.models import Agent, TicketEvent


def test_exactly_one_concurrent_claim_wins(sessions, embedder):
    from retrieval import Retriever

    engine = Engine(sessions, Retriever(embedder))
    with sessions.begin() as s:
        create_agent(s, "a1", "l1")
        create_agent(s, "a2", "l1")
    with sessions() as s:
        agent_ids = {a.name: a.id for a in s.query(Agent)}
    numbers = [engine.handle(Incoming("web", f"user{i}", "talk to a human")).ticket_number for i in range(5)]

    for number in numbers:
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def claim(name: str) -> None:
            with sessions() as s:
                agent_ids[name]  # resolved beforehand: both threads start their transaction together
                barrier.wait(10)
                agent = s.get(Agent, agent_ids[name])
                try:
                    service.claim_ticket(s, number, agent)
                    s.commit()
                    outcomes[name] = "won"
                except service.Conflict as exc:
                    s.rollback()
                    outcomes[name] = f"conflict: {exc}"

        threads = [threading.Thread(target=claim, args=(n,)) for n in ("a1", "a2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(v.split(":")[0] for v in outcomes.values()) == ["conflict", "won"], outcomes
        with sessions() as s:
            ticket = service.get_ticket(s, number)
            winner = next(n for n, v in outcomes.items() if v == "won")
            assert s.get(Agent, ticket.assignee_id).name == winner
            claims = s.query(TicketEvent).filter_by(ticket_id=number, action="claimed").count()
            assert claims == 1
