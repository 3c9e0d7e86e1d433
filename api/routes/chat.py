"""Web chat: the user's side of a conversation over HTTP (POST a message, read/stream what comes back)."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Cookie, Header, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sse_starlette import ServerSentEvent

from api import chat_auth
from api.console import auth as console_auth
from api.deps import EngineDep, ReadSessionDep, RuntimeDep
from api.schemas import ChatIn, ChatOut, MessageOut, ReplyOut, UserTicketOut
from api.streams import live_stream
from bot.engine import Incoming, InputError
from bot.language import detect_language, locale_language
from core.inputs import normalize_ref
from tickets import chat_identities, conversations, service
from tickets.models import Conversation, Message, OutboxItem

router = APIRouter(prefix="/api/v1/chat", tags=["web chat"])
CHANNEL = "web"


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
    """A web-chat identity is bound to its tokens from the first message on: nobody reads another's chat."""
    chat_auth.require(rt.settings.secret, user, chat_identities.get(session, CHANNEL, user), _lifetime(rt), *tokens)


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
    try:
        res = engine.handle(incoming)
    except InputError as exc:
        raise HTTPException(413 if exc.code == "too_long" else 422, exc.user_text) from exc
    token = chat_auth.issue(rt.settings.secret, user)  # a fresh token per message: an active chat never expires
    response.set_cookie(
        "fl_chat",
        token,
        httponly=True,
        samesite="strict",
        max_age=rt.settings.chat_token_days * 86400,
        secure=request.url.scheme == "https",
    )
    return ChatOut(
        conversation_id=res.conversation_id,
        state=res.state,
        lang=res.lang,
        ticket=res.ticket_number,
        replies=[ReplyOut(**r.__dict__ | {"id": r.message_id}) for r in res.replies],
        duplicate=res.duplicate,
        user_token=token,
    )


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


@router.get("/tickets", response_model=list[UserTicketOut], summary="My tickets (only mine)")
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
            number=tk.id, subject=tk.subject, status=tk.status, created_at=tk.created_at, resolution=tk.resolution
        )
        for tk in service.list_tickets(session, requester=(CHANNEL, user))
    ]
