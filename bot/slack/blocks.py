"""Block Kit rendering for Slack: mrkdwn escaping, splitting text to Slack's limits, the bot's answers
with feedback buttons, the agents' handoff notice, ticket lists and the App Home view.

Pure functions (no I/O), so the listeners and the sender stay thin.
"""

from __future__ import annotations

import json
import re

from bot.texts import action_label, t

SECTION_LIMIT = 3000  # a section block's text
MESSAGE_TEXT_LIMIT = 40000  # a message's top-level text
SECTIONS_PER_MESSAGE = 10  # Slack allows 50 blocks; 10 × 3000 chars keeps `text` under 40000 too

FEEDBACK_ACTION_IDS = {
    "helped": "fl_helped",
    "not_helped": "fl_not_helped",
    "human": "fl_human",
    "choose_1": "fl_choose_1",
    "choose_2": "fl_choose_2",
    "choose_3": "fl_choose_3",
}
TAKE_ACTION_ID = "fl_take"

# The agents' channel speaks English (it is the service desk's own workspace channel). mrkdwn: escaped.
REASONS = {
    "low_confidence": "the bot wasn't sure of an answer",
    "negative_feedback": "the bot's answers didn't help",
    "user_request": "the user asked for a person",
    "bot_error": "the bot failed",
    "safety": ":warning: a safety hazard (smoke, fire, leak, shock)",
}
AGENT_HINT = (
    "Reply in this thread to write to the user (start a message with `//` to keep it internal). "
    "`!resolve &lt;what was done&gt;` resolves the ticket, `!handback` returns the user to the bot."
)
NOT_LINKED = (
    "Your Slack account is not linked to a Firstline agent, so nothing was changed. "
    "Ask an admin to run `firstline agents link &lt;your name&gt; --slack {user}`."
)


def escape(text: str) -> str:
    """Slack mrkdwn control characters: only &, < and > need escaping."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<([^@#!][^>|]*)(?:\|([^>]*))?>")


def from_slack(text: str, drop_user: str | None = None) -> str:
    """A Slack message's text as plain text: bot mention removed, links/mentions readable, entities decoded."""
    if drop_user:
        text = text.replace(f"<@{drop_user}>", " ")

    def mention(m: re.Match) -> str:
        kind, ref, label = m.groups()
        if kind == "@":
            return f"@{label or ref}"
        if kind == "#":
            return f"#{label or ref}"
        return f"@{label or ref}"  # <!here>, <!channel>

    text = _MENTION.sub(mention, text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def _cut_point(s: str, limit: int) -> int:
    window = s[:limit]
    cut = limit
    for sep in ("\n\n", "\n", ". ", " "):
        i = window.rfind(sep)
        if i >= limit // 2:
            cut = i + len(sep)
            break
    # Never cut inside an entity (&amp;) or a <link|label>.
    amp = s.rfind("&", max(0, cut - 5), cut)
    if amp > 0 and ";" not in s[amp:cut]:
        cut = amp
    lt, gt = s.rfind("<", 0, cut), s.rfind(">", 0, cut)
    if lt > gt and lt > 0:
        cut = lt
    return cut


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split at paragraph, line, sentence or word boundaries into pieces of at most `limit` characters."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def section(mrkdwn: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def context(mrkdwn: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn[:SECTION_LIMIT]}]}


def text_messages(mrkdwn: str) -> list[dict]:
    """Escaped mrkdwn as one or more messages ({"text", "blocks"}) within Slack's limits."""
    parts = split_text(mrkdwn or " ")
    messages = []
    for i in range(0, len(parts), SECTIONS_PER_MESSAGE):
        group = parts[i : i + SECTIONS_PER_MESSAGE]
        messages.append({"text": "\n\n".join(group)[:MESSAGE_TEXT_LIMIT], "blocks": [section(p) for p in group]})
    return messages


def button(label: str, action_id: str, value: str, style: str | None = None) -> dict:
    b = {
        "type": "button",
        "text": {"type": "plain_text", "text": label[:75], "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        b["style"] = style
    return b


def feedback_value(owner: str, thread_ref: str) -> str:
    return json.dumps({"u": owner, "t": thread_ref}, separators=(",", ":"))


def answer_messages(
    text: str,
    lang: str,
    *,
    article: dict | None = None,
    actions: list[str] | None = None,
    owner: str = "",
    thread_ref: str = "",
    choices: list[dict] | None = None,
) -> list[dict]:
    """A bot reply: the passage (escaped), the article as a link, and the feedback buttons in the user's
    language on the last message."""
    body = escape(text)
    if article and article.get("url"):
        url = article["url"]
        link = f"<{url}|{escape(article.get('title') or url)}>"
        body = body.replace(escape(url), link) if escape(url) in body else f"{body}\n{link}"
    messages = text_messages(body)
    if actions:
        value = feedback_value(owner, thread_ref)
        styles = {"helped": "primary"}
        messages[-1]["blocks"].append(
            {
                "type": "actions",
                "block_id": "fl_feedback",
                "elements": [
                    button(action_label(lang, a, choices), FEEDBACK_ACTION_IDS[a], value, styles.get(a))
                    for a in actions
                    if a in FEEDBACK_ACTION_IDS
                ],
            }
        )
    return messages


def without_actions(blocks: list[dict], note: str) -> list[dict]:
    """The clicked message, its buttons replaced by what the user chose (so it cannot be clicked twice)."""
    return [b for b in blocks or [] if b.get("type") != "actions"] + [context(note)]


# -- agents' side ----------------------------------------------------------------------------
def who(conversation: dict | None, ticket: dict) -> str:
    """The requester as agents see them: a Slack mention for Slack users, a name otherwise."""
    org = f", {escape(ticket['requester_org'])}" if ticket.get("requester_org") else ""
    if ticket.get("channel") == "slack":
        return f"<@{ticket['requester']}>" + (f" ({org[2:]})" if org else "")
    name = ticket.get("requester_name") or (conversation or {}).get("user_name") or ticket.get("requester") or "?"
    return f"{escape(name)} ({escape(ticket.get('channel') or '?')}{org})"


def notice(ticket: dict, conversation: dict | None) -> dict:
    """The handoff notice in the agents' channel, rendered for the ticket's current state."""
    n = ticket["number"]
    head = f":ticket: *Ticket #{n}*: {escape(ticket.get('subject') or '')}"
    reason = ticket.get("handoff_reason")
    fields = [
        {"type": "mrkdwn", "text": f"*From*\n{who(conversation, ticket)}"},
        {"type": "mrkdwn", "text": f"*Why*\n{escape(REASONS.get(reason, str(reason)))}"},
    ]
    tried = ticket.get("bot_tried") or []
    if tried:
        lines = "\n".join(f"• {escape(str(x.get('title')))} ({x.get('score')})" for x in tried[:3])
        fields.append({"type": "mrkdwn", "text": f"*Bot tried*\n{lines}"[:2000]})
    blocks: list[dict] = [section(head), {"type": "section", "fields": fields}]
    question = escape(ticket.get("question") or "")
    for part in split_text(question)[:5]:
        blocks.append(section(part))
    status, assignee = ticket.get("status"), ticket.get("assignee")
    if status == "resolved":
        state = f":white_check_mark: Resolved by *{escape(assignee or '?')}*: {escape(ticket.get('resolution') or '')}"
    elif status == "closed":
        state = f":leftwards_arrow_with_hook: Handed back to the bot by *{escape(assignee or '?')}*"
    elif assignee:
        state = f":raised_hand: Taken by *{escape(assignee)}*"
    else:
        state = ":hourglass_flowing_sand: Waiting for an agent"
    blocks.append(context(state[:SECTION_LIMIT]))
    if not assignee and status in ("new", "open", "pending_user", "escalated"):
        blocks.append(
            {
                "type": "actions",
                "block_id": "fl_ticket",
                "elements": [button("Take", TAKE_ACTION_ID, str(n), "primary")],
            }
        )
    elif assignee and status in ("open", "pending_user", "escalated"):
        blocks.append(context(AGENT_HINT))
    return {"text": f"Ticket #{n}: {ticket.get('subject') or ''} ({state})"[:MESSAGE_TEXT_LIMIT], "blocks": blocks}


def transcript_mrkdwn(transcript: list[dict], limit: int = 30) -> str:
    names = {"user": "User", "bot": "Bot", "system": "System"}
    lines = []
    for m in transcript[-limit:]:
        name = m.get("agent") if m.get("author") == "agent" else names.get(m.get("author"), m.get("author"))
        lines.append(f"*{escape(str(name))}*: {escape(m.get('text') or '')}")
    return "*Conversation so far*\n" + "\n".join(lines)


# -- the user's tickets ----------------------------------------------------------------------
def ticket_lines(tickets: list[dict], lang: str) -> list[dict]:
    if not tickets:
        return [section(escape(t(lang, "slack_no_tickets")))]
    blocks = []
    for tk in tickets[:20]:
        status = (
            escape(t(lang, f"slack_status_{tk['status']}"))
            if tk["status"] in ("new", "open", "pending_user", "escalated")
            else tk["status"]
        )
        line = f"*#{tk['number']}* {escape(tk['subject'])}\n{status}"
        if tk.get("assignee"):
            line += f" · {escape(tk['assignee'])}"
        blocks.append(section(line))
    return blocks


def tickets_message(tickets: list[dict], lang: str) -> dict:
    title = escape(t(lang, "slack_tickets_title"))
    return {"text": f"{title}: {len(tickets)}", "blocks": [section(f"*{title}*"), *ticket_lines(tickets, lang)]}


def home_view(tickets: list[dict], lang: str) -> dict:
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": t(lang, "slack_tickets_title")}},
            *ticket_lines(tickets, lang),
            {"type": "divider"},
            context(escape(t(lang, "slack_home_hint"))),
        ],
    }
