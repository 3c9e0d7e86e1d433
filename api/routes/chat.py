"""Web chat: the user's side of a conversation over HTTP (POST a message, read/stream what comes back)."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Cookie, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from sqlalchemy import select
from sse_starlette import ServerSentEvent

from api import chat_auth
from api.console import auth as console_auth
from api.deps import EngineDep, ReadSessionDep, RuntimeDep
from api.schemas import (
    ChatConfigOut,
    ChatEmbedIn,
    ChatIn,
    ChatOut,
    ChatSessionOut,
    ChatStateOut,
    ChatTopicOut,
    MessageOut,
    ReplyOut,
    UserTicketOut,
)
from api.streams import live_stream
from bot.attachments import AttachmentPolicy, safe_name, store
from bot.engine import HandleResult, Incoming, InputError
from bot.language import detect_language, locale_language
from core.i18n import ui_texts
from core.inputs import clean_text, normalize_ref
from kb_ingest.service import popular_articles
from people.identify import person_for_sender, person_of
from tickets import chat_identities, conversations, service
from tickets.models import Conversation, Message, OutboxItem

router = APIRouter(prefix="/api/v1/chat", tags=["web chat"])
CHANNEL = "web"
CHAT_TEXTS: dict[str, dict[str, str]] = ui_texts("chat")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


NEW_USER_TOO_FAST = {
    "en": "Too many new chats from your network. Please wait {seconds} s and send it again — nothing was lost.",
    "ru": "Слишком много новых чатов из вашей сети. Подождите {seconds} с и отправьте снова — ничего не потеряно.",
}


def canonical_user(user: str) -> str:
    """The web-chat identity as stored: look-alikes ("Alice", "alice ", "alice\u200b") are one user."""
    ref = normalize_ref(CHANNEL, user)
    if not ref:
        raise HTTPException(422, "user: the chat identity is empty once spaces and invisible characters are removed")
    return ref


def _lifetime(rt) -> timedelta:
    return timedelta(days=rt.settings.chat_token_days)


def check_user(rt, session, user: str, *tokens: str | None) -> None:
    """A web-chat identity is bound to its tokens from the first message on: nobody reads another's chat. A signed-in
    person's chat also closes the moment the person is disabled."""
    chat_auth.require(rt.settings.secret, user, chat_identities.get(session, CHANNEL, user), _lifetime(rt), *tokens)
    if user.startswith(PERSON_PREFIX):
        person = person_of(session, CHANNEL, user)
        if person is None or not person.active:
            raise HTTPException(403, "your account is disabled: contact the service desk")


# A known person's chat ("person:<id>") is opened only by signing in (SSO, signed embed), never by a browser's claim.
PERSON_PREFIX = "person:"
SIGN_IN_FIRST = {
    "en": "Please sign in to the chat first (this desk knows its users by company sign-in).",
    "ru": "Сначала войдите в чат (служба поддержки узнаёт пользователей по корпоративному входу).",
}


def set_chat_cookie(request: Request, response: Response, settings, token: str) -> None:
    response.set_cookie(
        "fl_chat",
        token,
        httponly=True,
        samesite="strict",
        max_age=settings.chat_token_days * 86400,
        secure=request.url.scheme == "https",
    )


def embed_signature(secret: str, email: str, ts: int) -> str:
    return hmac.new(secret.encode(), f"{email}|{ts}".encode(), hashlib.sha256).hexdigest()


def person_chat(session, email: str, name: str | None, address: str) -> str:
    """The web-chat identity of the person with this verified address (found or created), claimed for them."""
    person = person_for_sender(session, "email", email, name=name)
    if not person.active:
        raise HTTPException(403, "your account is disabled: contact the service desk")
    user = f"{PERSON_PREFIX}{person.id}"
    person_for_sender(session, CHANNEL, user, name=name, email=email)
    chat_identities.claim(session, CHANNEL, user, created_from=address)
    return user


@router.get("/config", response_model=ChatConfigOut, summary="The chat page's labels, look and who its users are")
def chat_config(
    rt: RuntimeDep, session: ReadSessionDep, lang: str | None = Query(None, max_length=35)
) -> ChatConfigOut:
    settings = rt.settings
    mode = settings.chat_identity
    code = locale_language(lang) or "en"
    texts = CHAT_TEXTS.get(code, CHAT_TEXTS["en"])
    topics = [
        ChatTopicOut(title=a.title, question=(a.questions or [a.title])[0])
        for a in popular_articles(session, code, limit=4)
    ]
    return ChatConfigOut(
        identity=mode,
        sso_url="/auth/oidc/login?purpose=chat" if mode == "sso" else None,
        lang=code,
        texts=texts,
        brand_name=settings.brand_name or texts["title"],
        brand_color=settings.brand_color,
        logo_url="/api/v1/chat/logo" if settings.brand_logo else None,
        topics=topics,
    )


@router.get("/logo", summary="The company logo the chat shows (FIRSTLINE_BRAND_LOGO)")
def chat_logo(rt: RuntimeDep) -> FileResponse:
    if rt.settings.brand_logo is None:
        raise HTTPException(404, "no logo is set (FIRSTLINE_BRAND_LOGO)")
    return FileResponse(rt.settings.brand_logo)


@router.post(
    "/session",
    response_model=ChatSessionOut,
    summary="Signed embed: open the chat as the employee the intranet page vouches for",
)
def embed_session(body: ChatEmbedIn, rt: RuntimeDep, request: Request, response: Response) -> ChatSessionOut:
    settings = rt.settings
    if settings.chat_identity != "signed" or settings.chat_embed_secret is None:
        raise HTTPException(404, "signed embeds are not enabled on this desk (FIRSTLINE_CHAT_IDENTITY=signed)")
    # Checked against the address exactly as the page signed it; compared case-insensitively from then on.
    expected = embed_signature(settings.chat_embed_secret.get_secret_value(), body.email, body.ts)
    if not hmac.compare_digest(expected, body.sig.lower()):
        raise HTTPException(401, "the embed signature does not match: the page must sign '<email>|<ts>'")
    if abs(time.time() - body.ts) > settings.chat_embed_max_age_seconds:
        raise HTTPException(401, "the embed signature has expired: reload the page")
    email = normalize_ref("email", body.email)
    if not EMAIL.match(email):
        raise HTTPException(422, f"email: '{body.email}' is not an e-mail address")
    with rt.sessions.begin() as s:
        user = person_chat(s, email, body.name, console_auth.client_address(request))
    token = chat_auth.issue(settings.secret, user)
    set_chat_cookie(request, response, settings, token)
    return ChatSessionOut(user=user, user_token=token, name=body.name, email=email)


def message_out(m: Message, delivery: OutboxItem | None = None) -> MessageOut:
    p = m.payload or {}
    return MessageOut(
        id=m.id,
        conversation_id=m.conversation_id,
        author=m.author,
        text=m.text,
        kind=p.get("kind"),
        article=p.get("article"),
        actions=list(p.get("actions", [])),
        choices=list(p.get("choices", [])),
        agent=p.get("agent"),
        created_at=m.created_at,
        delivery=delivery.status if delivery else None,
        delivery_error=delivery.last_error if delivery and delivery.status != "sent" else None,
        action=p.get("action"),
        files=[str(a.get("name") or "file") for a in p.get("attachments") or []],
    )


@router.post(
    "",
    response_model=ChatOut,
    summary="Send a message or a feedback action; get the bot's replies",
    responses={
        429: {
            "description": "Too many messages from this user this minute: nothing was stored; "
            "send it again after Retry-After seconds"
        }
    },
)
def post_message(
    body: ChatIn,
    rt: RuntimeDep,
    engine: EngineDep,
    request: Request,
    response: Response,
    x_chat_token: Annotated[str | None, Header()] = None,
    fl_chat: Annotated[str | None, Cookie()] = None,
) -> ChatOut:
    user = canonical_user(body.user)
    lang = locale_language(body.locale) or detect_language(body.text)
    if not user.startswith(PERSON_PREFIX) and rt.settings.chat_identity != "anonymous":
        raise HTTPException(401, SIGN_IN_FIRST.get(lang, SIGN_IN_FIRST["en"]))
    limiter = request.app.state.rate_limiter
    incoming = Incoming(
        channel=CHANNEL,
        user_ref=user,
        text=body.text,
        action=body.action,
        platform_msg_id=body.client_msg_id,
        locale=body.locale,
    )
    try:
        engine.validate(incoming)  # before an identity is claimed: a refused first message must not lock it
    except InputError as exc:
        raise HTTPException(413 if exc.code == "too_long" else 422, exc.user_text) from exc
    with rt.read_sessions() as s:
        known = chat_identities.get(s, CHANNEL, user)
        if known is not None:
            check_user(rt, s, user, x_chat_token, fl_chat)
    if known is None and user.startswith(PERSON_PREFIX):
        chat_auth.require(rt.settings.secret, user, None, _lifetime(rt))  # never claimed by a browser: 401
    if known is None:
        # A brand-new identity needs no token, but each costs a conversation and an embedding: one address may
        # start only so many per minute (nothing is stored when refused).
        address = console_auth.client_address(request)
        wait = limiter.hit(f"new-chat-user:{address}", rt.settings.new_chat_users_per_minute, 60)
        if wait is not None:
            seconds = math.ceil(wait)
            raise HTTPException(
                429,
                NEW_USER_TOO_FAST.get(lang, NEW_USER_TOO_FAST["en"]).format(seconds=seconds),
                headers={"Retry-After": str(seconds)},
            )
        with rt.sessions.begin() as s:
            chat_identities.claim(s, CHANNEL, user, created_from=address)
    # Counted after the identity check (nobody can use up another's quota), refused before anything is stored.
    limiter.check(f"{CHANNEL}:{user}", lang)
    if (body.name or body.email) and not user.startswith(PERSON_PREFIX):
        with rt.sessions.begin() as s:
            introduce(s, user, body.name, body.email)
    try:
        res = engine.handle(incoming)
    except InputError as exc:
        raise HTTPException(413 if exc.code == "too_long" else 422, exc.user_text) from exc
    return answered(request, response, rt, user, res)


def answered(request: Request, response: Response, rt, user: str, res: HandleResult) -> ChatOut:
    """The engine's result for the chat, with a fresh token (per message: an active chat never expires)."""
    token = chat_auth.issue(rt.settings.secret, user)
    set_chat_cookie(request, response, rt.settings, token)
    return ChatOut(
        conversation_id=res.conversation_id,
        state=res.state,
        lang=res.lang,
        ticket=res.ticket_number,
        replies=[ReplyOut(**r.__dict__ | {"id": r.message_id}) for r in res.replies],
        duplicate=res.duplicate,
        user_token=token,
        user_message_id=res.user_message_id,
    )


def introduce(session, user: str, name: str | None, email: str | None) -> None:
    """The anonymous chat's answer to "who are you": the provisional person's name, and the address as unverified
    (typing an address proves nothing: it never links to the person who owns it)."""
    person = person_for_sender(session, CHANNEL, user)
    if not person.provisional:
        return
    if name and name.strip():
        person.name = clean_text(name).strip()[:200]
    if email and email.strip():
        address = normalize_ref("email", email)
        if not EMAIL.match(address):
            raise HTTPException(422, f"email: '{email}' is not an e-mail address")
        person.claimed_email = address


def _user_messages(session, user: str, after: int) -> list[MessageOut]:
    conv_ids = list(
        session.scalars(select(Conversation.id).where(Conversation.channel == CHANNEL, Conversation.user_ref == user))
    )
    return [message_out(m) for m in conversations.messages_after(session, conv_ids, after)]


@router.get("/messages", response_model=list[MessageOut], summary="Everything in my chats after message `after`")
def get_messages(
    rt: RuntimeDep,
    session: ReadSessionDep,
    user: str,
    after: int = 0,
    x_chat_token: Annotated[str | None, Header()] = None,
    fl_chat: Annotated[str | None, Cookie()] = None,
) -> list[MessageOut]:
    user = canonical_user(user)
    check_user(rt, session, user, x_chat_token, fl_chat)
    return _user_messages(session, user, after)


@router.get("/stream", summary="Server-sent events: agent replies and notifications as they happen")
async def stream(
    request: Request,
    rt: RuntimeDep,
    user: str,
    after: int = 0,
    x_chat_token: Annotated[str | None, Header()] = None,
    fl_chat: Annotated[str | None, Cookie()] = None,
):
    # Browsers' EventSource cannot send headers: it sends the HttpOnly cookie set by POST /chat.
    # (Never a query parameter: URLs end up in access logs.)
    user = canonical_user(user)
    with rt.read_sessions() as s:
        check_user(rt, s, user, x_chat_token, fl_chat)

    relay = request.app.state.relay
    conv_ids: set[int] = set()

    def poll(last: int) -> list[MessageOut]:
        with rt.read_sessions() as s:
            conv_ids.update(
                s.scalars(select(Conversation.id).where(Conversation.channel == CHANNEL, Conversation.user_ref == user))
            )
            return [message_out(m) for m in conversations.messages_after(s, list(conv_ids), last)]

    async def events():
        last = after
        yield ServerSentEvent(retry=2000, comment="connected")
        # Woken by a new message in one of the user's conversations, from any process (core.relay); the DB
        # poll stays as the safety net (fast while Redis is absent or down).
        with relay.subscribe(lambda e: e.topic == "message" and e.key in conv_ids) as sub:
            while True:
                sub.clear()
                for m in await run_in_threadpool(poll, last):
                    last = m.id
                    yield ServerSentEvent(id=str(m.id), event="message", data=json.dumps(m.model_dump(mode="json")))
                await sub.wait(relay.poll_interval(0.5))

    return live_stream(events())


@router.get(
    "/tickets", response_model=list[UserTicketOut], summary="My tickets from every channel I am known on (only mine)"
)
def my_tickets(
    rt: RuntimeDep,
    session: ReadSessionDep,
    user: str,
    x_chat_token: Annotated[str | None, Header()] = None,
    fl_chat: Annotated[str | None, Cookie()] = None,
) -> list[UserTicketOut]:
    user = canonical_user(user)
    check_user(rt, session, user, x_chat_token, fl_chat)
    return [
        UserTicketOut(
            number=tk.id,
            subject=tk.subject,
            status=tk.status,
            created_at=tk.created_at,
            resolution=tk.resolution,
            channel=tk.channel,
            updated_at=tk.updated_at,
        )
        for tk in service.tickets_of_sender(session, CHANNEL, user)
    ]


@router.get("/state", response_model=ChatStateOut, summary="Where my chat stands: bot, waiting for a person, with one")
def chat_state(
    rt: RuntimeDep,
    session: ReadSessionDep,
    user: str,
    x_chat_token: Annotated[str | None, Header()] = None,
    fl_chat: Annotated[str | None, Cookie()] = None,
) -> ChatStateOut:
    user = canonical_user(user)
    check_user(rt, session, user, x_chat_token, fl_chat)
    conv = session.scalar(
        select(Conversation)
        .where(Conversation.channel == CHANNEL, Conversation.user_ref == user, Conversation.closed_at.is_(None))
        .order_by(Conversation.id.desc())
    )
    if conv is None:
        return ChatStateOut(state="none", ticket=None, lang=None)
    ticket = service.ticket_for_conversation(session, conv.id)
    waiting = conv.state != "bot" and ticket is not None
    return ChatStateOut(state=conv.state, ticket=ticket.id if waiting else None, lang=conv.lang)


@router.get(
    "/tickets/{number}",
    response_model=list[MessageOut],
    summary="One of my tickets' conversation, from whichever channel I opened it in",
)
def my_ticket_thread(
    number: int,
    rt: RuntimeDep,
    session: ReadSessionDep,
    user: str,
    x_chat_token: Annotated[str | None, Header()] = None,
    fl_chat: Annotated[str | None, Cookie()] = None,
) -> list[MessageOut]:
    user = canonical_user(user)
    check_user(rt, session, user, x_chat_token, fl_chat)
    mine = {tk.id: tk for tk in service.tickets_of_sender(session, CHANNEL, user, limit=1000)}
    if number not in mine:  # someone else's ticket looks exactly like one that does not exist
        raise HTTPException(404, f"you have no ticket #{number}")
    return [message_out(m) for m in conversations.transcript(session, mine[number].conversation_id)]


@router.post(
    "/files",
    response_model=ChatOut,
    summary="Send a file (the request body is the file; same size and type checks as chat attachments)",
    responses={413: {"description": "larger than FIRSTLINE_MAX_ATTACHMENT_BYTES"}},
)
async def send_file(
    request: Request,
    rt: RuntimeDep,
    engine: EngineDep,
    response: Response,
    user: str,
    name: str = Query("", max_length=200, description="the file's name, with its extension"),
    text: str = Query("", max_length=4000, description="a message to go with it"),
    locale: str | None = Query(None, max_length=20),
    client_msg_id: str | None = Query(None, max_length=200),
    x_chat_token: Annotated[str | None, Header()] = None,
    fl_chat: Annotated[str | None, Cookie()] = None,
) -> ChatOut:
    user = canonical_user(user)
    with rt.read_sessions() as s:
        check_user(rt, s, user, x_chat_token, fl_chat)  # only an existing chat sends files: no anonymous uploads
    if not name.strip():
        raise HTTPException(422, "name: the file's name is required (with its extension)")
    limit = rt.settings.max_attachment_bytes
    policy = AttachmentPolicy(limit)
    announced = request.headers.get("content-length")
    refusal = policy.check_size(name, int(announced)) if announced and announced.isdigit() else None
    if refusal is not None:
        raise HTTPException(413, refusal.detail)
    data = bytearray()
    async for chunk in request.stream():  # read at most the limit: a lying Content-Length changes nothing
        data += chunk
        if len(data) > limit:
            raise HTTPException(413, f"{name} is larger than {limit / 1048576:.0f} MB")
    refusal = policy.check(name, bytes(data))
    if refusal is not None:
        raise HTTPException(415 if refusal.reason != "too_large" else 413, refusal.detail)
    request.app.state.rate_limiter.check(f"{CHANNEL}:{user}", locale_language(locale) or "en")
    saved = store(rt.settings.data_dir, CHANNEL, bytes(data))
    attachment = {
        "kind": "document",
        "path": saved.path,
        "name": safe_name(name),
        "size": saved.size,
        "sha256": saved.sha256,
    }
    incoming = Incoming(
        channel=CHANNEL,
        user_ref=user,
        text=text,
        platform_msg_id=client_msg_id,
        locale=locale,
        attachments=[attachment],
    )
    try:
        res = await run_in_threadpool(engine.handle, incoming)
    except InputError as exc:
        raise HTTPException(413 if exc.code == "too_long" else 422, exc.user_text) from exc
    return answered(request, response, rt, user, res)
