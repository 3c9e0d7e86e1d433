"""Web chat: the user's side of a conversation over HTTP (POST a message, read/stream what comes back)."""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated

from fastapi import APIRouter, Cookie, Header, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from api.deps import EngineDep, ReadSessionDep, RuntimeDep
from api.schemas import ChatIn, ChatOut, MessageOut, ReplyOut, UserTicketOut
from bot.engine import Incoming, InputError
from bot.language import detect_language, locale_language
from tickets import service
from tickets.models import Conversation, Message

router = APIRouter(prefix="/api/v1/chat", tags=["web chat"])
CHANNEL = "web"


def user_token(secret: str, user: str) -> str:
    return hmac.new(secret.encode(), f"{CHANNEL}:{user}".encode(), hashlib.sha256).hexdigest()


def _known_user(session, user: str) -> bool:
    return session.scalar(
        select(Conversation.id).where(Conversation.channel == CHANNEL, Conversation.user_ref == user).limit(1)
    ) is not None


def check_user(rt, session, user: str, *tokens: str | None, allow_new: bool) -> None:
    """A web-chat identity is bound to its token from the first message on: nobody reads another's chat.

    Any presented token (header or cookie) that matches is enough; a brand-new user needs none (a stale
    cookie from another identity in the same browser does not lock them out).
    """
    expected = user_token(rt.settings.secret, user)
    if any(tok and hmac.compare_digest(tok, expected) for tok in tokens):
        return
    if allow_new and not _known_user(session, user):
        return
    raise HTTPException(401, "this chat belongs to someone else, or your chat token is missing/invalid "
                             "(send it as 'X-Chat-Token')")


def message_out(m: Message) -> MessageOut:
    p = m.payload or {}
    return MessageOut(id=m.id, conversation_id=m.conversation_id, author=m.author, text=m.text, kind=p.get("kind"),
                      article=p.get("article"), actions=list(p.get("actions", [])), agent=p.get("agent"),
                      created_at=m.created_at)


@router.post("", response_model=ChatOut, summary="Send a message or a feedback action; get the bot's replies",
             responses={429: {"description": "Too many messages from this user this minute: nothing was stored; "
                                             "send it again after Retry-After seconds"}})
def post_message(body: ChatIn, rt: RuntimeDep, engine: EngineDep, request: Request, response: Response,
                 x_chat_token: Annotated[str | None, Header()] = None,
                 fl_chat: Annotated[str | None, Cookie()] = None) -> ChatOut:
    with rt.read_sessions() as s:
        check_user(rt, s, body.user, x_chat_token, fl_chat, allow_new=True)
    # Counted after the identity check (nobody can use up another's quota), refused before anything is stored.
    request.app.state.rate_limiter.check(f"{CHANNEL}:{body.user}",
                                         locale_language(body.locale) or detect_language(body.text))
    try:
        res = engine.handle(Incoming(channel=CHANNEL, user_ref=body.user, text=body.text, action=body.action,
                                     platform_msg_id=body.client_msg_id, locale=body.locale))
    except InputError as exc:
        raise HTTPException(413 if exc.code == "too_long" else 422, exc.user_text) from exc
    token = user_token(rt.settings.secret, body.user)
    response.set_cookie("fl_chat", token, httponly=True, samesite="strict", max_age=365 * 24 * 3600)
    return ChatOut(conversation_id=res.conversation_id, state=res.state, lang=res.lang, ticket=res.ticket_number,
                   replies=[ReplyOut(**r.__dict__ | {"id": r.message_id}) for r in res.replies],
                   duplicate=res.duplicate, user_token=token)


def _user_messages(session, user: str, after: int) -> list[MessageOut]:
    conv_ids = list(session.scalars(
        select(Conversation.id).where(Conversation.channel == CHANNEL, Conversation.user_ref == user)))
    return [message_out(m) for m in service.messages_after(session, conv_ids, after)]


@router.get("/messages", response_model=list[MessageOut], summary="Everything in my chats after message `after`")
def get_messages(rt: RuntimeDep, session: ReadSessionDep, user: str, after: int = 0,
                 x_chat_token: Annotated[str | None, Header()] = None,
                 fl_chat: Annotated[str | None, Cookie()] = None) -> list[MessageOut]:
    check_user(rt, session, user, x_chat_token, fl_chat, allow_new=False)
    return _user_messages(session, user, after)


@router.get("/stream", summary="Server-sent events: agent replies and notifications as they happen")
async def stream(request: Request, rt: RuntimeDep, user: str, after: int = 0,
                 x_chat_token: Annotated[str | None, Header()] = None,
                 fl_chat: Annotated[str | None, Cookie()] = None):
    # Browsers' EventSource cannot send headers: it sends the HttpOnly cookie set by POST /chat.
    # (Never a query parameter: URLs end up in access logs.)
    with rt.read_sessions() as s:
        check_user(rt, s, user, x_chat_token, fl_chat, allow_new=False)

    relay = request.app.state.relay
    conversations: set[int] = set()

    def poll(last: int) -> list[MessageOut]:
        with rt.read_sessions() as s:
            conversations.update(s.scalars(select(Conversation.id).where(Conversation.channel == CHANNEL,
                                                                           Conversation.user_ref == user)))
            return [message_out(m) for m in service.messages_after(s, list(conversations), last)]

    async def events():
        last = after
        yield "retry: 2000\n\n"
        # Woken by a new message in one of the user's conversations, from any process (api.relay); the DB
        # poll stays as the safety net (fast while Redis is absent or down).
        with relay.subscribe(lambda e: e.topic == "message" and e.key in conversations) as sub:
            while not await request.is_disconnected():
                sub.clear()
                for m in await run_in_threadpool(poll, last):
                    last = m.id
                    yield f"id: {m.id}\nevent: message\ndata: {json.dumps(m.model_dump(mode='json'))}\n\n"
                await sub.wait(relay.poll_interval(0.5))

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/tickets", response_model=list[UserTicketOut], summary="My tickets (only mine)")
def my_tickets(rt: RuntimeDep, session: ReadSessionDep, user: str,
               x_chat_token: Annotated[str | None, Header()] = None,
               fl_chat: Annotated[str | None, Cookie()] = None) -> list[UserTicketOut]:
    check_user(rt, session, user, x_chat_token, fl_chat, allow_new=False)
    return [UserTicketOut(number=tk.id, subject=tk.subject, status=tk.status, created_at=tk.created_at,
                          resolution=tk.resolution)
            for tk in service.list_tickets(session, requester=(CHANNEL, user))]
