"""Outbox deliveries to Slack: agent replies and notifications to users (DM or channel thread), ticket
events to the agents' channel (handoff notice with a Take button, kept up to date with chat.update; the
conversation relayed into the notice's thread), and staff notices as a DM to the agent's linked Slack user."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.outbox import Delivered, Delivery, PermanentFailure, RetryAfter
from bot.slack.blocks import answer_messages, escape, notice, text_messages, transcript_mrkdwn, who
from bot.texts import t

log = logging.getLogger(__name__)

# Errors that no retry will fix: record them and move on.
PERMANENT_ERRORS = {
    "channel_not_found",
    "is_archived",
    "account_inactive",
    "not_in_channel",
    "user_not_found",
    "cannot_dm_bot",
    "user_disabled",
    "msg_too_long",
    "no_text",
    "invalid_blocks",
    "restricted_action",
    "message_not_found",
    "cant_update_message",
    "team_access_not_granted",
    "ekm_access_denied",
    "channel_is_archived",
}


def classify(exc: SlackApiError) -> Exception:
    """A Slack Web API error as the outbox understands it: wait (rate limit), give up, or retry later."""
    resp = exc.response
    error = (resp.get("error") if resp is not None else None) or ""
    status = getattr(resp, "status_code", None)
    if status == 429 or error == "ratelimited":
        headers = {k.lower(): v for k, v in (getattr(resp, "headers", None) or {}).items()}
        value = headers.get("retry-after", 1)
        if isinstance(value, (list, tuple)):
            value = value[0]
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = 1.0
        return RetryAfter(max(seconds, 0.5), f"slack: ratelimited, retry after {seconds}s")
    if error in PERMANENT_ERRORS:
        return PermanentFailure(f"slack: {error}")
    return exc


def thread_target(thread_ref: str) -> tuple[str, str | None]:
    """A Slack conversation's thread_ref → (channel, thread_ts): "C123:1700.01" in a channel thread, "D123" in a DM."""
    if ":" in thread_ref:
        channel, ts = thread_ref.split(":", 1)
        return channel, ts or None
    return thread_ref, None


class SlackSender:
    def __init__(self, client: AsyncWebClient, agents_channel: str | None = None) -> None:
        self.client = client
        self.agents_channel = agents_channel

    async def deliver(self, d: Delivery) -> Delivered | None:
        try:
            if d.audience == "user":
                await self._to_user(d)
                return None
            if d.audience == "staff":
                await self._to_staff(d)
                return None
            return await self._to_agents(d)
        except SlackApiError as exc:
            raise classify(exc) from exc

    async def post(self, channel: str, mrkdwn: str, thread_ts: str | None = None) -> dict:
        last: dict = {}
        for m in text_messages(mrkdwn):
            last = (
                await self.client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=m["text"], blocks=m["blocks"], unfurl_links=False
                )
            ).data
        return last

    # -- the user's side --------------------------------------------------------------------
    async def _to_user(self, d: Delivery) -> None:
        conv, msg = d.conversation or {}, d.message or {}
        thread_ref = conv.get("thread_ref") or ""
        if thread_ref:
            channel, thread_ts = thread_target(thread_ref)
        else:
            channel = (await self.client.conversations_open(users=conv["user_ref"]))["channel"]["id"]
            thread_ts = None
        lang = conv.get("lang") or "en"
        if msg.get("author") == "bot":  # the bot's answer, with its buttons (only the asker may press them)
            payload = msg.get("payload") or {}
            for m in answer_messages(
                msg.get("text") or "",
                lang,
                article=payload.get("article"),
                actions=list(payload.get("actions") or []),
                owner=conv.get("user_ref"),
                choices=payload.get("choices"),
                thread_ref=thread_ref or channel,
            ):
                await self.client.chat_postMessage(
                    channel=channel, thread_ts=thread_ts, text=m["text"], blocks=m["blocks"], unfurl_links=False
                )
            return
        body = escape(msg.get("text") or "")
        if msg.get("author") == "agent":
            body = f"{t(lang, 'slack_agent_says', agent=escape(msg.get('agent') or '?'))}\n{body}"
        await self.post(channel, body, thread_ts)

    # -- one staff member ---------------------------------------------------------------------
    async def _to_staff(self, d: Delivery) -> None:
        """chat.postMessage to the agent's user id: Slack delivers it as a DM from the app."""
        user_id = (d.agent or {}).get("slack_user_id")
        if not user_id:
            raise PermanentFailure("slack: the agent has no linked Slack account any more")
        text = str(d.payload.get("text") or "")
        if text.strip():
            await self.post(user_id, escape(text))

    # -- the agents' channel ----------------------------------------------------------------
    async def _to_agents(self, d: Delivery) -> Delivered | None:
        if not self.agents_channel or d.ticket is None:
            return None
        msg = d.message or {}
        if d.event == "agent_message" and (msg.get("payload") or {}).get("source") == "slack":
            return None  # written in the agents' thread itself
        created: Delivered | None = None
        thread = d.thread
        if d.event == "ticket_opened" or not thread:
            note = notice(d.ticket, d.conversation)
            resp = (
                await self.client.chat_postMessage(
                    channel=self.agents_channel, text=note["text"], blocks=note["blocks"], unfurl_links=False
                )
            ).data
            thread = {"chat_ref": resp["channel"], "thread_ref": resp["ts"], "root_ref": resp["ts"]}
            created = Delivered(thread=thread)
            if d.transcript:
                try:  # best effort: the notice is what matters, and must not be posted twice
                    await self.post(thread["chat_ref"], transcript_mrkdwn(d.transcript), thread["thread_ref"])
                except SlackApiError as exc:
                    log.warning("ticket #%s: transcript not posted: %s", d.ticket["number"], exc)
            if d.event == "ticket_opened":
                return created
        chat, root = thread["chat_ref"], thread.get("root_ref") or thread.get("thread_ref")
        if d.event in ("ticket_claimed", "ticket_resolved", "ticket_handed_back"):
            note = notice(d.ticket, d.conversation)
            await self.client.chat_update(channel=chat, ts=root, text=note["text"], blocks=note["blocks"])
        line = self._event_line(d)
        if line:
            await self.post(chat, line, thread.get("thread_ref") or root)
        return created

    @staticmethod
    def _event_line(d: Delivery) -> str | None:
        tk, msg = d.ticket, d.message or {}
        assignee = escape(tk.get("assignee") or "?")
        if d.event == "ticket_claimed":
            return f":raised_hand: *{assignee}* took ticket #{tk['number']}."
        if d.event == "ticket_resolved":
            return f":white_check_mark: Resolved by *{assignee}*: {escape(tk.get('resolution') or '')}"
        if d.event == "ticket_handed_back":
            return f":leftwards_arrow_with_hook: *{assignee}* handed the user back to the bot."
        if d.event == "user_message":
            return f"{who(d.conversation, tk)}: {escape(msg.get('text') or '')}"
        if d.event == "agent_message":
            source = (msg.get("payload") or {}).get("source") or "api"
            return f"*{escape(msg.get('agent') or '?')}* (via {escape(source)}) → user: {escape(msg.get('text') or '')}"
        return None
