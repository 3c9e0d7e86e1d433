"""Bolt listeners: Slack events, button presses and the /it command → the conversation engine and the desk.

Thin by design: a Slack payload becomes an `Incoming` (or a desk call), the engine's replies become Block
Kit. The engine and the database are synchronous, so they run in a worker thread (`asyncio.to_thread`);
Bolt acknowledges events before the listener runs (process_before_response=False) and buttons/commands
call `ack()` first, so Slack always gets its answer within 3 seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.context import ChannelContext
from bot.engine import Incoming, InputError
from bot.language import detect_language, locale_language
from bot.slack import blocks as bk
from bot.texts import t
from tickets import agents, conversations, service
from tickets.models import Agent, Conversation, Ticket
from tickets.service import TicketError

log = logging.getLogger(__name__)

CHANNEL = "slack"
USER_SUBTYPES = {None, "file_share", "thread_broadcast"}  # everything else (edits, joins, bots) is not a question
TICKETS_WORDS = {"tickets", "ticket", "заявки", "заявка"}


def platform_msg_id(event: dict) -> str:
    """One id per Slack message, the same for its app_mention and message events and for Slack's retries."""
    return "sl:" + (event.get("client_msg_id") or f"{event.get('channel')}:{event.get('ts')}")


def _ticket_dict(tk: Ticket, assignee: Agent | None) -> dict:
    return {
        "number": tk.id,
        "subject": tk.subject,
        "status": tk.status,
        "assignee": assignee.name if assignee else None,
    }


class _Seen:
    """Event ids already handled by this process: Slack's retries of an event we are still working on."""

    def __init__(self, size: int = 5000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.size = size

    def first_time(self, key: str | None) -> bool:
        if not key:
            return True
        if key in self._ids:
            return False
        self._ids[key] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


class SlackBot:
    """Listeners over the app's engine and desk (bound when the FastAPI app starts)."""

    def __init__(self, app: AsyncApp) -> None:
        self.app = app
        self.ctx: ChannelContext | None = None  # bot.context: engine, desk, sessions, outbox wake-up
        self.seen = _Seen()
        self.profiles: OrderedDict[str, dict] = OrderedDict()
        self._register()

    def bind(self, ctx: ChannelContext) -> None:
        self.ctx = ctx

    # -- helpers ----------------------------------------------------------------------------
    @property
    def context(self) -> ChannelContext:
        if self.ctx is None:
            raise RuntimeError("the Slack channel has not started")
        return self.ctx

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.context.sessions

    @property
    def read_sessions(self) -> sessionmaker[Session]:
        return self.context.read_sessions

    def _wake(self) -> None:
        self.context.wake_outbox()

    async def _profile(self, client: AsyncWebClient, user: str) -> dict:
        """Name, locale and e-mail of a Slack user (users.info, cached; optional: needs users:read, and
        users:read.email for the address, which Slack has verified and which links them to their person)."""
        if user in self.profiles:
            return self.profiles[user]
        profile: dict = {}
        try:
            u = (await client.users_info(user=user, include_locale=True))["user"]
            profile = {
                "name": u.get("real_name") or (u.get("profile") or {}).get("real_name") or u.get("name"),
                "locale": u.get("locale"),
                "email": (u.get("profile") or {}).get("email"),
            }
        except (SlackApiError, KeyError, TypeError) as exc:
            log.debug("users.info %s failed: %s", user, exc)
        self.profiles[user] = profile
        if len(self.profiles) > 5000:
            self.profiles.popitem(last=False)
        return profile

    async def _post(self, client: AsyncWebClient, channel: str, messages: list[dict], thread_ts: str | None) -> None:
        for m in messages:
            await client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=m["text"], blocks=m["blocks"], unfurl_links=False
            )

    async def _ephemeral(
        self, client: AsyncWebClient, channel: str, user: str, text: str, thread_ts: str | None = None
    ) -> None:
        try:
            await client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)
        except SlackApiError as exc:
            log.warning("ephemeral message to %s failed: %s", user, exc)

    def _user_lang(self, user: str, fallback: str = "en") -> str:
        with self.read_sessions() as s:
            lang = s.scalar(
                select(Conversation.lang)
                .where(Conversation.channel == CHANNEL, Conversation.user_ref == user)
                .order_by(Conversation.id.desc())
                .limit(1)
            )
        return lang or fallback

    def _open_tickets(self, user: str) -> list[dict]:
        with self.read_sessions() as s:
            tickets = service.open_tickets_of(s, CHANNEL, user, limit=20)
            return [_ticket_dict(tk, s.get(Agent, tk.assignee_id) if tk.assignee_id else None) for tk in tickets]

    def _ticket_for_thread(self, channel: str, thread_ts: str) -> int | None:
        with self.read_sessions() as s:
            tk = conversations.ticket_by_thread(s, CHANNEL, channel, thread_ts, thread_ts)
            return tk.id if tk is not None else None

    def _has_conversation(self, user: str, thread_ref: str) -> bool:
        with self.read_sessions() as s:
            return conversations.active_conversation(s, CHANNEL, user, thread_ref) is not None

    # -- the user's side --------------------------------------------------------------------
    async def user_turn(
        self,
        client: AsyncWebClient,
        *,
        user: str,
        channel: str,
        thread_ts: str | None,
        text: str = "",
        action: str | None = None,
        msg_id: str | None = None,
        files: list[dict] | None = None,
    ) -> None:
        """One user message or button press through the engine; the replies posted where the user wrote."""
        thread_ref = f"{channel}:{thread_ts}" if thread_ts else channel
        profile = await self._profile(client, user)
        incoming = Incoming(
            CHANNEL,
            user,
            text,
            thread_ref,
            action=action,
            platform_msg_id=msg_id,
            locale=profile.get("locale"),
            user_name=profile.get("name"),
            email=profile.get("email"),
            attachments=[
                {"name": f.get("name"), "mimetype": f.get("mimetype"), "url": f.get("url_private")} for f in files or []
            ],
        )
        try:
            # Replies are queued with the message; the context wakes the outbox, whose SlackSender posts them.
            await self.context.handle(incoming)
        except InputError as exc:
            await self._post(client, channel, bk.text_messages(bk.escape(exc.user_text)), thread_ts)
            return
        except Exception:
            log.exception("slack: handling a message from %s failed", user)
            lang = detect_language(text, locale_language(profile.get("locale")) or "en") if text else "en"
            await self._post(client, channel, bk.text_messages(bk.escape(t(lang, "bot_error"))), thread_ts)
            raise

    async def on_message(self, event: dict, body: dict, client: AsyncWebClient, context: dict) -> None:
        if not self.seen.first_time(body.get("event_id")):
            return
        if event.get("bot_id") or event.get("subtype") not in USER_SUBTYPES:
            return  # other bots (our own are dropped by Bolt), edits, deletions, joins
        user, channel = event.get("user"), event.get("channel")
        bot_user = context.get("bot_user_id")
        if not user or not channel or user == bot_user:
            return
        text = bk.from_slack(event.get("text") or "", drop_user=bot_user)
        if event.get("channel_type") == "im":
            await self.user_turn(
                client,
                user=user,
                channel=channel,
                thread_ts=None,
                text=text,
                msg_id=platform_msg_id(event),
                files=event.get("files"),
            )
            return
        thread_ts = event.get("thread_ts")
        if not thread_ts:
            return  # top-level channel chatter: only mentions are for the bot
        number = await asyncio.to_thread(self._ticket_for_thread, channel, thread_ts)
        if number is not None:
            await self.agent_turn(
                client,
                number=number,
                user=user,
                channel=channel,
                thread_ts=thread_ts,
                text=text,
                msg_id=platform_msg_id(event),
            )
            return
        if bot_user and f"<@{bot_user}>" in (event.get("text") or ""):
            return  # the app_mention event answers it
        thread_ref = f"{channel}:{thread_ts}"
        if await asyncio.to_thread(self._has_conversation, user, thread_ref):
            await self.user_turn(
                client,
                user=user,
                channel=channel,
                thread_ts=thread_ts,
                text=text,
                msg_id=platform_msg_id(event),
                files=event.get("files"),
            )

    async def on_mention(self, event: dict, body: dict, client: AsyncWebClient, context: dict) -> None:
        if not self.seen.first_time(body.get("event_id")):
            return
        user, channel = event.get("user"), event.get("channel")
        if event.get("bot_id") or not user or not channel or user == context.get("bot_user_id"):
            return
        root = event.get("thread_ts") or event.get("ts")
        if event.get("thread_ts") and await asyncio.to_thread(self._ticket_for_thread, channel, event["thread_ts"]):
            return  # a mention inside an agents' ticket thread: the message listener relays it
        text = bk.from_slack(event.get("text") or "", drop_user=context.get("bot_user_id"))
        await self.user_turn(
            client,
            user=user,
            channel=channel,
            thread_ts=root,
            text=text,
            msg_id=platform_msg_id(event),
            files=event.get("files"),
        )

    async def on_feedback(self, ack, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        kind = {v: k for k, v in bk.FEEDBACK_ACTION_IDS.items()}[action["action_id"]]
        user = body["user"]["id"]
        try:
            value = json.loads(action.get("value") or "{}")
        except ValueError:
            value = {}
        owner, thread_ref = value.get("u") or user, value.get("t") or ""
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        message = body.get("message") or {}
        thread_ts = message.get("thread_ts")
        if user != owner:
            lang = await asyncio.to_thread(self._user_lang, user)
            await self._ephemeral(client, channel, user, t(lang, "slack_not_yours", owner=owner), thread_ts)
            return
        if not thread_ref:
            thread_ref = f"{channel}:{thread_ts}" if thread_ts else channel
        target_channel, _, target_ts = thread_ref.partition(":")
        lang = await asyncio.to_thread(self._user_lang, user)
        if message.get("ts"):  # the buttons are used: show the choice instead, so they can't be pressed twice
            # A "did you mean" button carries the article's title; the others name the feedback.
            choice = (
                (action.get("text") or {}).get("text") or kind
                if kind.startswith("choose_")
                else t(lang, f"action_{kind}")
            )
            note = bk.escape(t(lang, "slack_you_chose", choice=choice))
            try:
                await client.chat_update(
                    channel=channel,
                    ts=message["ts"],
                    text=message.get("text") or choice,
                    blocks=bk.without_actions(message.get("blocks") or [], note),
                )
            except SlackApiError as exc:
                log.warning("could not update the answered message: %s", exc)
        await self.user_turn(
            client,
            user=user,
            channel=target_channel,
            thread_ts=target_ts or None,
            action=kind,
            msg_id=f"sl:act:{channel}:{action.get('action_ts') or body.get('trigger_id')}",
        )

    async def on_command(self, ack, command: dict, respond, client: AsyncWebClient) -> None:
        text = (command.get("text") or "").strip()
        user = command["user_id"]
        if not text or text.lower() in {"help", "помощь", "?"}:
            try:  # a quick read; Slack needs the ack within 3 seconds whatever happens
                lang = await asyncio.wait_for(
                    asyncio.to_thread(self._user_lang, user, detect_language(text, "en") if text else "en"), 1.0
                )
            except Exception:
                lang = "en"
            await ack(text=bk.escape(t(lang, "slack_help")))
            return
        if text.lower() in TICKETS_WORDS:
            await ack()
            lang = await asyncio.to_thread(self._user_lang, user, detect_language(text, "en"))
            tickets = await asyncio.to_thread(self._open_tickets, user)
            m = bk.tickets_message(tickets, lang)
            await respond(text=m["text"], blocks=m["blocks"], response_type="ephemeral")
            return
        lang = detect_language(text, "en")
        await ack(text=bk.escape(t(lang, "slack_answer_in_dm")))
        dm = (await client.conversations_open(users=user))["channel"]["id"]
        await self.user_turn(
            client,
            user=user,
            channel=dm,
            thread_ts=None,
            text=text,
            msg_id=f"sl:cmd:{command.get('trigger_id') or command.get('command_ts', '')}",
        )

    async def on_home(self, event: dict, client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        user = event["user"]
        profile = await self._profile(client, user)
        lang = await asyncio.to_thread(self._user_lang, user, locale_language(profile.get("locale")) or "en")
        tickets = await asyncio.to_thread(self._open_tickets, user)
        await client.views_publish(user_id=user, view=bk.home_view(tickets, lang))

    # -- the agents' side -------------------------------------------------------------------
    def _desk_call(self, user: str, fn, *args) -> tuple[str, str | None]:
        """Run a desk action as the Firstline agent linked to this Slack user: ("ok"|"not_linked"|"error", detail)."""
        try:
            with self.sessions.begin() as s:
                agent = agents.by_platform_user(s, CHANNEL, user)
                if agent is None:
                    return "not_linked", None
                fn(s, agent, *args)
                return "ok", agent.name
        except TicketError as exc:
            return "error", str(exc)

    async def on_take(self, ack, body: dict, action: dict, client: AsyncWebClient) -> None:
        await ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        number = int(action["value"])
        outcome, detail = await asyncio.to_thread(
            self._desk_call, user, lambda s, agent: self.context.desk.claim(s, number, agent)
        )
        self._wake()
        if outcome == "not_linked":
            await self._ephemeral(client, channel, user, bk.NOT_LINKED.format(user=user))
        elif outcome == "error":
            await self._ephemeral(client, channel, user, bk.escape(detail or ""))
        # on success the outbox's ticket_claimed updates the notice ("Taken by …") and tells the user

    async def agent_turn(
        self, client: AsyncWebClient, *, number: int, user: str, channel: str, thread_ts: str, text: str, msg_id: str
    ) -> None:
        """A message in a ticket's thread in the agents' channel: a command, an internal note, or a reply
        relayed to the user."""
        if not text or text.startswith("//"):
            return  # internal note
        desk = self.context.desk
        word, rest = (text.split(None, 1) + [""])[:2]
        word, rest = word.lower(), rest.strip()
        command = word.startswith("!") and word[1:].replace("-", "").isalpha()
        if word in ("!resolve", "!resolved"):
            if not rest:
                await self._ephemeral(client, channel, user, "Usage: `!resolve &lt;what was done&gt;`", thread_ts)
                return
            call = lambda s, agent: desk.resolve(s, number, agent, rest)
        elif word in ("!handback", "!hand-back"):
            call = lambda s, agent: desk.hand_back(s, number, agent, rest)
        elif word == "!take":
            call = lambda s, agent: desk.claim(s, number, agent)
        elif command:
            await self._ephemeral(
                client, channel, user, f"Unknown command `{bk.escape(word)}`. {bk.AGENT_HINT}", thread_ts
            )
            return
        else:
            call = lambda s, agent: desk.reply(
                s,
                number,
                agent,
                text,
                source=CHANNEL,
                platform_msg_id=msg_id,
            )
        outcome, detail = await asyncio.to_thread(self._desk_call, user, call)
        self._wake()
        if outcome == "not_linked":
            await self._ephemeral(client, channel, user, bk.NOT_LINKED.format(user=user), thread_ts)
        elif outcome == "error":
            what = "Nothing changed" if command else "Not sent to the user"
            await self._ephemeral(client, channel, user, f"{what}: {bk.escape(detail or '')}", thread_ts)

    # -- registration -----------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app
        app.event("message")(self.on_message)
        app.event("app_mention")(self.on_mention)
        app.event("app_home_opened")(self.on_home)
        for action_id in bk.FEEDBACK_ACTION_IDS.values():
            app.action(action_id)(self.on_feedback)
        app.action(bk.TAKE_ACTION_ID)(self.on_take)
        app.command("/it")(self.on_command)
