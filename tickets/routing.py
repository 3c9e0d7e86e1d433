"""Lines, skill groups and categories: where a ticket belongs and who may take it.

An agent's line is their role (l1 → L1 …); a manager works on every line. A ticket on a line can be taken
by agents of that line or a higher one; a ticket routed to a skill group only by that group's members (or a
manager). Categories route a ticket to a line and group; they are set by an agent or suggested from the tags
of the KB articles the bot tried (the api layer knows the knowledge base and registers the tag lookup, so
this package never depends on kb_ingest).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tickets.errors import TicketError
from tickets.models import Agent, Role, Ticket
from tickets.ops_models import LINES, AgentGroup, Category, SkillGroup

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

# (session, article ids) -> tags of those articles; registered by the api layer.


class RoutingError(TicketError):
    """Bad routing input (unknown group/category/line, duplicate slug); the message says what to fix."""

    def __init__(self, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.status_code = status_code


# -- lines ------------------------------------------------------------------------------------
def line_rank(line: str) -> int:
    return LINES.index(line)


def agent_line(agent: Agent) -> str | None:
    """The agent's line, or None for a manager (every line)."""
    return None if agent.role == Role.manager.value else agent.role.upper()


def lines_for(agent: Agent) -> tuple[str, ...]:
    """The lines whose tickets this agent may take: their own and the lower ones."""
    own = agent_line(agent)
    return LINES if own is None else LINES[: line_rank(own) + 1]


def check_line(line: str) -> str:
    if line not in LINES:
        raise RoutingError(f"unknown line {line!r}: use {', '.join(LINES)}")
    return line


# -- skill groups -----------------------------------------------------------------------------
def group_by_slug(session: Session, slug: str) -> SkillGroup:
    group = session.scalar(select(SkillGroup).where(SkillGroup.slug == slug))
    if group is None:
        raise RoutingError(f"unknown group {slug!r}")
    return group


def groups(session: Session) -> list[SkillGroup]:
    return list(session.scalars(select(SkillGroup).order_by(SkillGroup.slug)))


def group_slugs(session: Session) -> dict[int, str]:
    return {g.id: g.slug for g in groups(session)}


def create_group(session: Session, slug: str, name: str) -> SkillGroup:
    slug = slug.strip().lower()
    if not SLUG.match(slug):
        raise RoutingError(f"invalid group slug {slug!r}: use lowercase letters, digits, '-' and '_'")
    if not name.strip():
        raise RoutingError("group name must not be empty")
    group = SkillGroup(slug=slug, name=name.strip())
    try:
        with session.begin_nested():
            session.add(group)
            session.flush()
    except IntegrityError as exc:
        raise RoutingError(f"a group {slug!r} already exists", 409) from exc
    return group


def member_ids(session: Session, group_id: int) -> list[int]:
    return list(
        session.scalars(
            select(AgentGroup.agent_id).where(AgentGroup.group_id == group_id).order_by(AgentGroup.agent_id)
        )
    )


def agent_group_ids(session: Session, agent_id: int) -> list[int]:
    return list(session.scalars(select(AgentGroup.group_id).where(AgentGroup.agent_id == agent_id)))


def add_member(session: Session, slug: str, agent_id: int) -> SkillGroup:
    group = group_by_slug(session, slug)
    if session.get(Agent, agent_id) is None:
        raise RoutingError(f"agent {agent_id} does not exist", 404)
    if agent_id not in member_ids(session, group.id):
        session.add(AgentGroup(agent_id=agent_id, group_id=group.id))
        session.flush()
    return group


def remove_member(session: Session, slug: str, agent_id: int) -> SkillGroup:
    group = group_by_slug(session, slug)
    row = session.scalar(select(AgentGroup).where(AgentGroup.group_id == group.id, AgentGroup.agent_id == agent_id))
    if row is not None:
        session.delete(row)
        session.flush()
    return group


def in_group(session: Session, agent: Agent, group_id: int) -> bool:
    return (
        session.scalar(select(AgentGroup.id).where(AgentGroup.agent_id == agent.id, AgentGroup.group_id == group_id))
        is not None
    )


def claim_refusal(session: Session, ticket: Ticket, agent: Agent) -> str | None:
    """Why this agent may not take this ticket (None: they may)."""
    if agent.role == Role.manager.value:
        return None
    if ticket.line not in lines_for(agent):
        return (
            f"ticket #{ticket.id} is on {ticket.line}; as an {agent_line(agent)} agent you can take "
            f"tickets of {', '.join(lines_for(agent))} only"
        )
    if ticket.group_id is not None and not in_group(session, agent, ticket.group_id):
        group = session.get_one(SkillGroup, ticket.group_id)
        return (
            f"ticket #{ticket.id} is routed to the group {group.slug!r} ({group.name}); only its members "
            f"or a manager can take it"
        )
    return None


# -- categories -------------------------------------------------------------------------------
def categories(session: Session) -> list[Category]:
    return list(session.scalars(select(Category).order_by(Category.slug)))


def category_by_slug(session: Session, slug: str) -> Category:
    cat = session.scalar(select(Category).where(Category.slug == slug))
    if cat is None:
        raise RoutingError(f"unknown category {slug!r}")
    return cat


def _clean_tags(tags: Iterable[str]) -> list[str]:
    return sorted({t.strip().lower() for t in tags if t and t.strip()})


def save_category(
    session: Session,
    slug: str,
    name: str,
    line: str,
    group: str | None = None,
    tags: Iterable[str] = (),
    *,
    create: bool = True,
) -> Category:
    """Create a category (create=True; an existing slug is a conflict) or update one (create=False)."""
    slug = slug.strip().lower()
    if not SLUG.match(slug):
        raise RoutingError(f"invalid category slug {slug!r}: use lowercase letters, digits, '-' and '_'")
    if not name.strip():
        raise RoutingError("category name must not be empty")
    check_line(line)
    group_id = group_by_slug(session, group).id if group else None
    cat = session.scalar(select(Category).where(Category.slug == slug))
    if create and cat is not None:
        raise RoutingError(f"a category {slug!r} already exists", 409)
    if not create and cat is None:
        raise RoutingError(f"unknown category {slug!r}", 404)
    if cat is None:
        cat = Category(slug=slug)
        session.add(cat)
    cat.name, cat.line, cat.group_id, cat.tags = name.strip(), line, group_id, _clean_tags(tags)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise RoutingError(f"a category {slug!r} already exists", 409) from exc
    return cat


def matching_categories(session: Session, tags: Iterable[str]) -> list[tuple[Category, list[str]]]:
    """Categories sharing tags with `tags`, most shared tags first, with the shared tags."""
    wanted = set(_clean_tags(tags))
    if not wanted:
        return []
    hits = [(c, sorted(wanted & set(_clean_tags(c.tags or [])))) for c in categories(session)]
    hits = [(c, shared) for c, shared in hits if shared]
    return sorted(hits, key=lambda h: (-len(h[1]), h[0].slug))


def bot_tried_ids(ticket: Ticket) -> list[str]:
    return [str(t["article_id"]) for t in (ticket.bot_tried or []) if isinstance(t, dict) and t.get("article_id")]


def route_to_category(ticket: Ticket, cat: Category) -> None:
    ticket.category, ticket.line, ticket.group_id = cat.slug, cat.line, cat.group_id


def route_new_ticket(session: Session, ticket: Ticket, tags: Iterable[str] | None = None) -> Category | None:
    """At opening: route by category when the matched articles' tags point to exactly one category.
    Two or more candidates are left for an agent to choose (GET …/suggested-category)."""
    found = matching_categories(session, tags or ())
    if len(found) != 1:
        return None
    route_to_category(ticket, found[0][0])
    return found[0][0]
