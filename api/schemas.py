"""Request and response bodies of the public API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from core.inputs import supported_day

# A calendar day from a request: only days the desk's calendars can work with (1970–2999), else a clear 422.
Day = Annotated[date, AfterValidator(supported_day)]


class ChatIn(BaseModel):
    user: str = Field(min_length=1, max_length=200, description="The web-chat user's identity")
    text: str = Field("", description="The message; up to the configured limit (4,000 characters)")
    action: Literal["helped", "not_helped", "human", "choose_1", "choose_2", "choose_3"] | None = Field(
        None, description='a feedback button, or choose_<n>: the user picked article n of a "did you mean" reply'
    )
    client_msg_id: str | None = Field(None, max_length=200, description="Idempotency key: a retry is processed once")
    locale: str | None = Field(None, max_length=20)
    # The anonymous chat's "who are you" prompt: shown to agents; the address is marked unverified.
    name: str | None = Field(None, max_length=200, description="anonymous chat: the name the user gave")
    email: str | None = Field(None, max_length=320, description="anonymous chat: an address to reach them (unverified)")


class ChatEmbedIn(BaseModel):
    """A signed embed (chat_identity "signed"): the intranet page signs who the employee is with the shared secret,
    sig = hex HMAC-SHA256(chat_embed_secret, "<email>|<ts>")."""

    email: str = Field(min_length=3, max_length=320)
    name: str | None = Field(None, max_length=200)
    ts: int = Field(description="Unix seconds when the page signed it")
    sig: str = Field(min_length=64, max_length=64)


class ChatSessionOut(BaseModel):
    user: str
    user_token: str
    name: str | None
    email: str


class ChatTopicOut(BaseModel):
    title: str
    question: str  # what the chat sends when the topic is picked


class ChatConfigOut(BaseModel):
    identity: Literal["anonymous", "signed", "sso"]
    sso_url: str | None = None
    lang: str = "en"
    texts: dict[str, str] = Field(default_factory=dict, description="the chat's labels in `lang`")
    brand_name: str = "IT help"
    brand_color: str | None = None
    logo_url: str | None = None
    topics: list[ChatTopicOut] = Field(default_factory=list, description="quick topics for the greeting")


class ReplyOut(BaseModel):
    id: int
    text: str
    kind: str
    article: dict | None = None
    actions: list[str] = []
    choices: list[dict] = Field([], description='kind "choices": [{action, article_id, title}], one per button')


class ChatOut(BaseModel):
    conversation_id: int
    state: str
    lang: str
    ticket: int | None
    replies: list[ReplyOut]
    duplicate: bool = False
    user_token: str
    user_message_id: int | None = Field(None, description="the stored id of the message just sent")


class ChatStateOut(BaseModel):
    """Where the user's chat stands (a reloaded page restores from this and GET /messages)."""

    state: str  # bot | waiting_for_agent | with_agent | none
    ticket: int | None
    lang: str | None


class MessageOut(BaseModel):
    id: int
    conversation_id: int
    author: str
    text: str
    kind: str | None = None
    article: dict | None = None
    actions: list[str] = []
    choices: list[dict] = []
    agent: str | None = None
    created_at: datetime
    delivery: Literal["pending", "sending", "sent", "failed"] | None = Field(
        None, description="pushed channels (Telegram, Slack, email, SMS): how far the message got to the user"
    )
    delivery_error: str | None = Field(None, description="why the last attempt failed")
    action: str | None = Field(None, description="a user's button press (helped, not_helped, human, choose_<n>)")
    files: list[str] = Field([], description="names of the files that came with it")


class IdentityOut(BaseModel):
    kind: str  # email | phone | telegram | slack | web
    ref: str
    source: str  # directory | ldap | message | agent


class PersonTicketOut(BaseModel):
    number: int
    subject: str
    status: str
    channel: str
    created_at: datetime


class RequesterOut(BaseModel):
    """Who asked: the channel identity the ticket came from and, when known, the person behind it."""

    ref: str  # the sender on the ticket's channel (a Telegram id, an address, a number, a web-chat id)
    person_id: int | None = None
    name: str | None = None
    email: str | None = None
    claimed_email: str | None = Field(None, description="typed into the anonymous web chat: not verified")
    phone: str | None = None
    department: str | None = None
    organisation: str | None = None
    organisation_id: int | None = None
    language: str | None = None
    vip: bool = False
    active: bool = True
    provisional: bool = False
    # In a ticket's detail: every channel they are known on, and their other tickets across channels.
    identities: list[IdentityOut] | None = None
    tickets: list[PersonTicketOut] | None = None


class PersonOut(BaseModel):
    id: int
    name: str | None
    email: str | None
    claimed_email: str | None = None
    phone: str | None
    department: str | None
    organisation: str | None
    organisation_id: int | None
    language: str | None
    vip: bool
    active: bool
    provisional: bool
    identities: list[IdentityOut]
    tickets: list[PersonTicketOut]


class PersonPatchIn(BaseModel):
    """Only the fields sent change."""

    name: str | None = Field(None, max_length=200)
    department: str | None = Field(None, max_length=200)
    organisation: str | None = Field(None, max_length=200, description="its name; empty: none")
    language: Literal["en", "ru"] | None = None
    vip: bool | None = None
    active: bool | None = None


class IdentityIn(BaseModel):
    kind: Literal["email", "phone", "telegram", "slack", "web"]
    ref: str = Field(min_length=1, max_length=320)


class MergeIn(BaseModel):
    other_id: int = Field(description="the person merged into this one (deleted afterwards)")


class OrganisationPatchIn(BaseModel):
    """Only the fields sent change."""

    email_domains: list[str] | None = Field(None, max_length=50, description="members by address: acme.example")
    timezone: str | None = Field(None, max_length=64, description="IANA name; empty: the desk's")
    business_hours: str | None = Field(None, max_length=200, description="'Mon-Fri 09:00-18:00'; empty: the desk's")
    holidays: list[str] | None = Field(None, max_length=400, description="ISO dates")
    l1_group: str | None = Field(None, max_length=64, description="skill group slug of its own first line")
    vip: bool | None = None
    active: bool | None = None


class OrganisationIn(OrganisationPatchIn):
    name: str = Field(min_length=1, max_length=200)


class OrganisationOut(BaseModel):
    id: int
    name: str
    active: bool
    email_domains: list[str]
    timezone: str | None
    business_hours: str | None
    holidays: list[str]
    l1_group: str | None
    vip: bool
    people: int


class TicketOut(BaseModel):
    number: int
    subject: str
    question: str
    status: str
    priority: str
    line: str
    channel: str
    requester: RequesterOut
    assignee_id: int | None
    handoff_reason: str
    bot_tried: list[dict]
    resolution: str | None
    linked_articles: list[str]
    conversation_id: int
    created_at: datetime
    updated_at: datetime
    claimed_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    category: str | None = None
    group_id: int | None = None
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    sla_paused_at: datetime | None = None
    first_response_breached_at: datetime | None = None
    resolution_breached_at: datetime | None = None
    # ok | at_risk | breached | paused | met | none (no policy): computed by tickets.sla.sla_state
    sla_state: str = "none"


class UserTicketOut(BaseModel):
    number: int
    subject: str
    status: str
    created_at: datetime
    resolution: str | None
    channel: str | None = None
    updated_at: datetime | None = None


class EventOut(BaseModel):
    actor: str
    action: str
    detail: dict
    created_at: datetime


class TicketDetailOut(TicketOut):
    transcript: list[MessageOut]
    events: list[EventOut]


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class ResolveIn(BaseModel):
    resolution: str = Field(min_length=1, max_length=4000)
    articles: list[str] = Field(default_factory=list, max_length=20)


class HandbackIn(BaseModel):
    note: str = Field("", max_length=2000)


class AgentIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["l1", "l2", "l3", "manager", "client_manager"]
    kb_editor: bool = Field(False, description="may publish, archive and approve KB articles")
    email: str | None = Field(None, max_length=320, description="their company address (SSO finds them by it)")
    organisation_id: int | None = Field(None, description="client_manager: the one organisation they see")


class PasswordIn(BaseModel):
    current: str | None = Field(None, max_length=1024, description="needed when a password is already set")
    new: str = Field(min_length=12, max_length=1024)


class AgentPatchIn(BaseModel):
    """Only the fields sent change."""

    role: Literal["l1", "l2", "l3", "manager", "client_manager"] | None = None
    kb_editor: bool | None = None


class AgentOut(BaseModel):
    id: int
    name: str
    role: str
    active: bool
    kb_editor: bool = False
    email: str | None = None
    organisation_id: int | None = None
    sso: bool = Field(False, description="has signed in with company SSO")
    password: bool = Field(False, description="has a local password")


class AgentCreatedOut(AgentOut):
    token: str = Field(description="Shown once; only its hash is stored")


# -- service-desk operations (issue 8): routing, escalation, team, developer requests, time ------------
Line = Literal["L1", "L2", "L3"]
Priority = Literal["low", "normal", "high", "critical"]


class EscalateIn(BaseModel):
    to_line: Literal["L2", "L3"] | None = Field(None, description="hierarchical: a higher line (default: the next)")
    group: str | None = Field(None, max_length=64, description="functional: the skill group's slug")
    note: str = Field("", max_length=4000, description="what was tried, what the next line should know")


class ReturnIn(BaseModel):
    answer: str = Field(min_length=1, max_length=4000, description="the escalated line's answer")


class TicketPatchIn(BaseModel):
    """Only the fields sent change; `category`/`group` null clears them."""

    priority: Priority | None = None
    category: str | None = Field(None, max_length=64)
    group: str | None = Field(None, max_length=64)


class EscalationOut(BaseModel):
    id: int
    kind: str
    from_line: str
    to_line: str
    from_group: str | None
    to_group: str | None
    by: str
    note: str
    created_at: datetime
    returned_at: datetime | None
    returned_by: str | None
    answer: str | None


class AgentIdIn(BaseModel):
    agent_id: int


class MemberOut(BaseModel):
    agent_id: int
    name: str
    role: str


class ExternalRefIn(BaseModel):
    system: str = Field(min_length=1, max_length=100, description="the application or its tracker, e.g. 'jira'")
    ref: str = Field(min_length=1, max_length=200, description="the request's id there")
    url: str | None = Field(
        None,
        max_length=1000,
        pattern=r"^\s*[Hh][Tt][Tt][Pp][Ss]?://",
        description="a link to the request in their tracker: http(s) only",
    )
    note: str = Field("", max_length=4000)


class ExternalRefOut(BaseModel):
    id: int
    system: str
    ref: str
    url: str | None
    note: str
    created_by: str
    created_at: datetime
    webhook: bool = Field(description="sent to the developers' webhook")


class TimeIn(BaseModel):
    minutes: int = Field(ge=1, le=1440)
    note: str = Field("", max_length=2000)


class TimeEntryOut(BaseModel):
    id: int
    agent_id: int
    agent: str
    source: str
    minutes: int
    note: str
    started_at: datetime
    ended_at: datetime | None


class TicketTimeOut(BaseModel):
    total_minutes: int
    running: TimeEntryOut | None = Field(description="your running timer on this ticket")
    entries: list[TimeEntryOut]


class TimeTotalOut(BaseModel):
    key: str | None = Field(description="agent name, line, category slug (null: none) or ticket number")
    minutes: int


class GroupIn(BaseModel):
    slug: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class GroupOut(BaseModel):
    id: int
    slug: str
    name: str
    members: list[MemberOut]


class CategoryIn(BaseModel):
    slug: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    line: Line = "L1"
    group: str | None = Field(None, max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=50)


class CategoryOut(BaseModel):
    id: int
    slug: str
    name: str
    line: str
    group: str | None
    tags: list[str]


class CategoryMatchOut(CategoryOut):
    matched_tags: list[str]


class SuggestedCategoryOut(BaseModel):
    category: CategoryMatchOut | None = Field(description="the single best match, if there is one")
    candidates: list[CategoryMatchOut]
    tags: list[str] = Field(description="tags of the KB articles the bot tried")
