"""Engine text → Telegram messages: HTML escaping, splitting at Telegram's 4,096-character limit,
inline keyboards, and the agents' group notices. Pure functions, no network."""

from __future__ import annotations

import html
import re

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import TEXTS, action_label, t

PARSE_MODE = "HTML"  # every dynamic string is escaped with esc(); KB Markdown arrives as plain text
TEXT_LIMIT = 4096  # sendMessage text, after entity parsing
CAPTION_LIMIT = 1024
TOPIC_NAME_LIMIT = 128
NOTICE_QUESTION_CHARS = 1500  # the full question is in the transcript


def esc(text: object) -> str:
    """Escape for Telegram's HTML parse mode: only <, > and & are special outside attributes."""
    return html.escape(str(text), quote=False)


def _cost(text: str) -> int:
    # Telegram counts UTF-16 code units; the escaped length is an upper bound of the visible one.
    return len(esc(text).encode("utf-16-le")) // 2


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split plain text into chunks whose escaped form fits `limit`, cutting at a paragraph, line,
    sentence or word boundary when there is one in the second half of the chunk."""
    text = text.strip()
    chunks: list[str] = []
    while text:
        if _cost(text) <= limit:
            chunks.append(text)
            break
        used, cut = 0, 0
        for i, ch in enumerate(text):
            used += _cost(ch)
            if used > limit:
                break
            cut = i + 1
        window = text[:cut]
        for sep in ("\n\n", "\n", ". ", " "):
            at = window.rfind(sep)
            if at >= cut // 2:
                cut = at + len(sep)
                break
        piece, text = text[:cut].strip(), text[cut:].strip()
        if piece:
            chunks.append(piece)
    return chunks or [""]


_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*(?=\S)([^\n]+?)(?<=\S)\*\*")


def md_inline(escaped: str) -> str:
    """KB articles are Markdown: render `code` and **bold** on text that is already escaped (so nothing
    else can become markup); anything unpaired, e.g. cut by a split, stays literal."""
    out = []
    for i, part in enumerate(_CODE.split(escaped)):
        out.append(f"<code>{part}</code>" if i % 2 else _BOLD.sub(r"<b>\1</b>", part))
    return "".join(out)


def compose(header_html: str, body: str, limit: int = TEXT_LIMIT, markdown: bool = False) -> list[str]:
    """An HTML header (already escaped) followed by plain `body`, as one or more messages."""
    room = limit - len(header_html.encode("utf-16-le")) // 2
    parts = split_text(body, max(room, 200)) if body.strip() else []
    if not parts:
        return [header_html.rstrip()]
    render = md_inline if markdown else (lambda x: x)
    return [header_html + render(esc(parts[0])), *(render(esc(p)) for p in parts[1:])]


def pack(lines_html: list[str], limit: int = TEXT_LIMIT) -> list[str]:
    """Join already-rendered lines into as few messages as fit; each line must fit on its own."""
    out: list[str] = []
    current = ""
    for line in lines_html:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode("utf-16-le")) // 2 > limit and current:
            out.append(current)
            candidate = line
        current = candidate
    if current:
        out.append(current)
    return out


def clip(text: str, chars: int) -> str:
    text = str(text).strip()
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


# -- keyboards ------------------------------------------------------------------------------------
def feedback_keyboard(lang: str, actions: list[str], choices: list[dict] | None = None) -> InlineKeyboardMarkup | None:
    if not actions:
        return None
    buttons = [InlineKeyboardButton(text=action_label(lang, a, choices), callback_data=f"fb:{a}") for a in actions]
    if choices:  # "did you mean": one article title a row, then "talk to a human"
        return InlineKeyboardMarkup(inline_keyboard=[[b] for b in buttons])
    rows = [buttons[:2], buttons[2:]] if len(buttons) > 2 else [buttons]
    return InlineKeyboardMarkup(inline_keyboard=[r for r in rows if r])


def take_keyboard(lang: str, number: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t(lang, "tg_take", number=number), callback_data=f"take:{number}")]]
    )


# -- the agents' group ----------------------------------------------------------------------------
def requester_label(conversation: dict | None, ticket: dict) -> str:
    conv = conversation or {}
    name = ticket.get("requester_name") or conv.get("user_name") or ticket.get("requester") or "?"
    org = f" ({ticket['requester_org']})" if ticket.get("requester_org") else ""
    return f"{name}{org} · {ticket.get('channel') or conv.get('channel') or '?'}"


def topic_name(ticket: dict) -> str:
    return clip(f"#{ticket['number']} {ticket.get('subject') or ''}", TOPIC_NAME_LIMIT)


def notice(lang: str, ticket: dict, conversation: dict | None, taken_by: str | None = None) -> str:
    n = ticket["number"]
    reason = ticket.get("handoff_reason") or ""
    reason_text = t(lang, f"tg_reason_{reason}") if f"tg_reason_{reason}" in TEXTS["en"] else reason
    tried = [o.get("title") or o.get("article_id") for o in (ticket.get("bot_tried") or []) if o.get("offered", True)]
    question = clip(ticket.get("question") or "", NOTICE_QUESTION_CHARS)
    parts = [
        f"🆕 <b>{esc(t(lang, 'tg_notice_title', number=n))}</b> · {esc(requester_label(conversation, ticket))}",
        f"<b>{esc(t(lang, 'tg_notice_question'))}:</b> {esc(question)}",
        f"<b>{esc(t(lang, 'tg_notice_reason'))}:</b> {esc(reason_text)}",
    ]
    if tried:
        parts.append(f"<b>{esc(t(lang, 'tg_notice_tried'))}:</b> {esc('; '.join(map(str, tried)))}")
    if taken_by:
        parts.append(f"✅ {esc(t(lang, 'tg_taken_by', agent=taken_by))}")
    else:
        parts.append(f"<i>{esc(t(lang, 'tg_notice_hint'))}</i>")
    return "\n".join(parts)


def message_lines(m: dict, user_label: str, number: int | None = None, lang: str = "en") -> list[str]:
    """One stored conversation message as transcript/relay line(s) for the agents."""
    tag = f"#{number} · " if number is not None else ""
    author = m.get("author")
    payload = m.get("payload") or {}
    text = m.get("text") or ""
    if author == "user":
        head = f"👤 {esc(tag)}<b>{esc(user_label)}</b>: "
        files = [a.get("name") or "file" for a in payload.get("attachments") or []]
        if payload.get("action"):
            action = f"action_{payload['action']}"
            text = f"[{t(lang, action) if action in TEXTS['en'] else payload['action']}]"
        elif files and text.startswith("[attachment"):
            text = ""
        if files:
            text = (text + " " if text else "") + " ".join(f"📎 {f}" for f in files)
        return compose(head, text)
    if author == "bot":
        article = payload.get("article")
        if payload.get("kind") == "answer" and article:
            return [f"🤖 {esc(tag)}offered “{esc(article.get('title'))}” ({esc(article.get('id'))})"]
        return compose(f"🤖 {esc(tag)}", clip(text, 400))
    if author == "agent":
        return compose(f"🧑‍💼 {esc(tag)}<b>{esc(m.get('agent') or 'agent')}</b>: ", text)
    return compose(f"ℹ️ {esc(tag)}", clip(text, 600))
