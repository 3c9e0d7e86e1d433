"""A fake Telegram Bot API server on 127.0.0.1 for tests (aiohttp, in its own thread and event loop).

It speaks the Bot API's wire format: `/bot{token}/{method}` with form-encoded, multipart or JSON
parameters, answers `{"ok": true, "result": ...}` or `{"ok": false, "error_code", "description",
"parameters"}`; long-polling `getUpdates` from a queue the tests fill; `getFile` and
`/file/bot{token}/{path}` downloads. Like Telegram it refuses malformed HTML ("can't parse entities"),
texts over 4,096 characters, callback data over 64 bytes; it can be told that a user blocked the bot
(403) or to apply flood control once (429 with retry_after).

Everything the bot does is recorded; the test thread reads the records through the locked helpers.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Callable

from aiohttp import web

ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
}
_HTML_TOKEN = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>|&(#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);"
    r"|[<>&]"
)
JSON_FIELDS = {
    "reply_markup",
    "allowed_updates",
    "reply_parameters",
    "entities",
    "link_preview_options",
    "caption_entities",
}
INT_FIELDS = {"chat_id", "message_id", "message_thread_id", "offset", "limit", "timeout", "user_id"}
TEXT_LIMIT, CAPTION_LIMIT = 4096, 1024


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """Telegram's HTML parse mode: the visible text, or ApiError 400 like Telegram's own."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _HTML_TOKEN.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        offset = len(text[: m.start()].encode())
        if m.group(2):
            name = m.group(2).lower()
            if name not in ALLOWED_TAGS:
                raise ApiError(
                    400, f'Bad Request: can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
                )
            if m.group(1):
                if not stack or stack[-1] != name:
                    raise ApiError(
                        400,
                        f"Bad Request: can't parse entities: Unmatched end tag at byte offset "
                        f'{offset}, expected "</{stack[-1] if stack else ""}>", found "</{name}>"',
                    )
                stack.pop()
            else:
                stack.append(name)
        elif m.group(4):
            out.append(html.unescape(m.group(0)))
        else:
            raise ApiError(400, f"Bad Request: can't parse entities: Unexpected {m.group(0)!r} at byte offset {offset}")
    out.append(text[pos:])
    if stack:
        raise ApiError(
            400, f"Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return "".join(out)


class FakeTelegram:
    def __init__(self, token: str, *, username: str = "firstline_test_bot") -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user = {"id": self.bot_id, "is_bot": True, "first_name": "Firstline", "username": username}
        self._lock = threading.Lock()
        self.calls: list[dict] = []  # every API call: method, params, ok/error, time
        self.sent: list[dict] = []  # messages the bot sent successfully
        self.edits: list[dict] = []
        self.callback_answers: list[dict] = []
        self.topics: list[dict] = []
        self.rejected: list[dict] = []  # calls answered with an error
        self.webhook: dict | None = None
        self.blocked: set[int] = set()
        self.flood: dict[int, int] = {}  # chat id → retry_after for its next send
        self.outage: dict[int, int] = {}  # chat id → how many of its next sends fail with 502 Bad Gateway
        self.chats: dict[int, dict] = {}
        self.messages: dict[tuple[int, int], dict] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self._pending: list[tuple[dict, bool]] = []  # (update, forced redelivery)
        self._update_ids = itertools.count(5000)
        self._msg_ids: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1))
        self._file_ids = itertools.count(1)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._cond: asyncio.Condition | None = None
        self._closing = False
        self.base_url = ""

    # -- setup ------------------------------------------------------------------------------------------
    def add_group(self, chat_id: int, title: str = "IT agents", forum: bool = True) -> None:
        self.chats[chat_id] = {"id": chat_id, "type": "supergroup", "title": title, "is_forum": forum}

    def block(self, chat_id: int) -> None:
        with self._lock:
            self.blocked.add(chat_id)

    def flood_once(self, chat_id: int, retry_after: int) -> None:
        with self._lock:
            self.flood[chat_id] = retry_after

    def fail_sends(self, chat_id: int, count: int) -> None:
        """The next `count` sends to this chat fail the way Telegram does when it is down (502)."""
        with self._lock:
            self.outage[chat_id] = count

    def add_file(self, content: bytes, path: str) -> dict:
        n = next(self._file_ids)
        file_id = f"FILE{n}-{path.replace('/', '_')}"
        with self._lock:
            self.files[file_id] = (path, content)
        return {"file_id": file_id, "file_unique_id": f"U{n}", "file_size": len(content)}

    # -- the server -------------------------------------------------------------------------------------
    @contextmanager
    def running(self):
        started = threading.Event()
        stop: dict[str, Any] = {}

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self.loop = loop
            self._cond = asyncio.Condition()
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/bot{token}/{method}", self._api)
            app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._file)
            runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            port = runner.addresses[0][1]
            self.base_url = f"http://127.0.0.1:{port}"
            stop["event"] = asyncio.Event()
            started.set()
            loop.run_until_complete(stop["event"].wait())
            loop.run_until_complete(runner.cleanup())
            loop.close()

        thread = threading.Thread(target=serve, daemon=True, name="fake-telegram")
        thread.start()
        started.wait(10)
        try:
            yield self
        finally:

            async def shutdown() -> None:
                self._closing = True
                async with self._cond:
                    self._cond.notify_all()
                stop["event"].set()

            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
            thread.join(10)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        path = request.match_info["path"]
        with self._lock:
            for stored_path, content in self.files.values():
                if stored_path == path:
                    return web.Response(body=content, content_type="application/octet-stream")
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _params(self, request: web.Request) -> dict:
        data: dict[str, Any] = {}
        if request.content_type == "application/json":
            data = dict(await request.json())
        elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            post = await request.post()
            for key, value in post.items():
                if isinstance(value, web.FileField):
                    data[key] = {"filename": value.filename, "content": value.file.read()}
                else:
                    data[key] = value
        data.update({k: v for k, v in request.query.items() if k not in data})
        for key, value in list(data.items()):
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in data:
                data[key] = data.pop(value[9:])
            elif key in JSON_FIELDS and isinstance(value, str):
                data[key] = json.loads(value)
            elif key in INT_FIELDS and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
                data[key] = int(value)
            elif value in ("true", "false"):
                data[key] = value == "true"
        return data

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params = await self._params(request)
        record = {
            "method": method,
            "params": {k: v for k, v in params.items() if not isinstance(v, dict) or "content" not in v},
            "time": time.monotonic(),
        }
        with self._lock:
            self.calls.append(record)  # recorded on arrival: a long poll is visible while it waits
        handler = getattr(self, f"_m_{method.lower()}", None)
        try:
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(params)
        except ApiError as exc:
            record.update(ok=False, error_code=exc.code, description=exc.description)
            with self._lock:
                self.rejected.append(record)
            body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.retry_after is not None:
                body["parameters"] = {"retry_after": exc.retry_after}
            return web.json_response(body, status=exc.code)
        record["ok"] = True
        return web.json_response({"ok": True, "result": result})

    # -- helpers ------------------------------------------------------------------------------------------
    def _chat(self, chat_id: int) -> dict:
        if chat_id in self.chats:
            return {k: v for k, v in self.chats[chat_id].items()}
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"user{chat_id}"}
        raise ApiError(400, "Bad Request: chat not found")

    def _gate(self, chat_id: int) -> None:
        """403 for users who blocked the bot, 429 once when flood control was armed, 502 during an outage."""
        with self._lock:
            if chat_id in self.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            retry = self.flood.pop(chat_id, None)
            if self.outage.get(chat_id, 0) > 0:
                self.outage[chat_id] -= 1
                raise ApiError(502, "Bad Gateway")
        if retry is not None:
            raise ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)

    def _check_markup(self, markup: dict | None) -> None:
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")

    def _visible(self, text: str, parse_mode: str | None, limit: int, what: str = "message") -> str:
        if parse_mode and parse_mode.upper() == "HTML":
            visible = parse_html(text)
        elif parse_mode:
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode} in this fake")
        else:
            visible = text
        if not visible.strip() and what == "message":
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(visible) > limit:
            raise ApiError(400, f"Bad Request: {what} is too long")
        return visible

    def _new_message(self, chat_id: int, p: dict, **content: Any) -> dict:
        msg: dict[str, Any] = {
            "message_id": next(self._msg_ids[chat_id]),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": self.bot_user,
            **content,
        }
        thread = p.get("message_thread_id")
        if thread:
            msg["message_thread_id"] = thread
            msg["is_topic_message"] = True
        if p.get("reply_markup"):
            msg["reply_markup"] = p["reply_markup"]
        reply_to = (p.get("reply_parameters") or {}).get("message_id")
        if reply_to and (chat_id, reply_to) in self.messages:
            msg["reply_to_message"] = {
                k: v for k, v in self.messages[(chat_id, reply_to)].items() if k != "reply_to_message"
            }
        self.messages[(chat_id, msg["message_id"])] = msg
        return msg

    def _record_sent(self, method: str, chat_id: int, msg: dict, p: dict, **extra: Any) -> None:
        with self._lock:
            self.sent.append(
                {
                    "method": method,
                    "chat_id": chat_id,
                    "message_id": msg["message_id"],
                    "text": msg.get("text") or msg.get("caption") or "",
                    "html": p.get("text") or p.get("caption") or "",
                    "parse_mode": p.get("parse_mode"),
                    "thread_id": p.get("message_thread_id"),
                    "reply_to": (p.get("reply_parameters") or {}).get("message_id"),
                    "markup": p.get("reply_markup"),
                    "time": time.monotonic(),
                    **extra,
                }
            )

    # -- methods ------------------------------------------------------------------------------------------
    async def _m_getme(self, p: dict) -> dict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": True,
            "supports_inline_queries": False,
        }

    async def _m_deletewebhook(self, p: dict) -> bool:
        self.webhook = None
        return True

    async def _m_setwebhook(self, p: dict) -> bool:
        if not str(p.get("url", "")).startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {
            "url": p["url"],
            "secret_token": p.get("secret_token"),
            "allowed_updates": p.get("allowed_updates"),
        }
        return True

    async def _m_getwebhookinfo(self, p: dict) -> dict:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    async def _m_getchat(self, p: dict) -> dict:
        chat = self._chat(p["chat_id"])
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _m_getupdates(self, p: dict) -> list[dict]:
        offset, limit = p.get("offset"), int(p.get("limit") or 100)
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        async with self._cond:
            while True:
                if offset is not None:
                    self._pending = [(u, f) for u, f in self._pending if f or u["update_id"] >= offset]
                batch = self._pending[:limit]
                if batch or self._closing:
                    self._pending = [(u, f) for u, f in self._pending if not (f and (u, f) in batch)]
                    return [u for u, _ in batch]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                try:
                    await asyncio.wait_for(self._cond.wait(), remaining)
                except asyncio.TimeoutError:
                    return []

    async def _m_sendmessage(self, p: dict) -> dict:
        chat_id = p["chat_id"]
        self._chat(chat_id)
        self._gate(chat_id)
        visible = self._visible(p.get("text", ""), p.get("parse_mode"), TEXT_LIMIT)
        self._check_markup(p.get("reply_markup"))
        msg = self._new_message(chat_id, p, text=visible)
        self._record_sent("sendMessage", chat_id, msg, p)
        return msg

    async def _m_senddocument(self, p: dict) -> dict:
        chat_id = p["chat_id"]
        self._chat(chat_id)
        self._gate(chat_id)
        doc = p.get("document")
        if not isinstance(doc, dict):
            raise ApiError(400, "Bad Request: there is no document in the request")
        caption = self._visible(p.get("caption", ""), p.get("parse_mode"), CAPTION_LIMIT, "message caption")
        n = next(self._file_ids)
        msg = self._new_message(
            chat_id,
            p,
            caption=caption,
            document={
                "file_id": f"SENT{n}",
                "file_unique_id": f"S{n}",
                "file_name": doc["filename"],
                "file_size": len(doc["content"]),
            },
        )
        self._record_sent("sendDocument", chat_id, msg, p, filename=doc["filename"], content=doc["content"])
        return msg

    async def _m_createforumtopic(self, p: dict) -> dict:
        chat_id = p["chat_id"]
        chat = self._chat(chat_id)
        self._gate(chat_id)
        if not chat.get("is_forum"):
            raise ApiError(400, "Bad Request: the chat is not a forum")
        name = p.get("name", "")
        if not 1 <= len(name) <= 128:
            raise ApiError(400, "Bad Request: TOPIC_TITLE_EMPTY" if not name else "Bad Request: topic name is too long")
        topic_id = next(self._msg_ids[chat_id])
        self.messages[(chat_id, topic_id)] = {
            "message_id": topic_id,
            "date": int(time.time()),
            "chat": chat,
            "from": self.bot_user,
            "message_thread_id": topic_id,
            "forum_topic_created": {"name": name, "icon_color": 7322096},
        }
        with self._lock:
            self.topics.append({"chat_id": chat_id, "name": name, "message_thread_id": topic_id})
        return {"message_thread_id": topic_id, "name": name, "icon_color": 7322096}

    async def _edit(self, p: dict, text: str | None) -> dict:
        chat_id, message_id = p.get("chat_id"), p.get("message_id")
        msg = self.messages.get((chat_id, message_id))
        if msg is None or msg.get("from", {}).get("id") != self.bot_id:
            raise ApiError(400, "Bad Request: message to edit not found")
        self._check_markup(p.get("reply_markup"))
        new = dict(msg)
        if text is not None:
            new["text"] = text
        new.pop("reply_markup", None)
        if p.get("reply_markup"):
            new["reply_markup"] = p["reply_markup"]
        if new == msg:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        self.messages[(chat_id, message_id)] = new
        with self._lock:
            self.edits.append(
                {
                    "chat_id": chat_id,
                    "message_id": message_id,
                    "text": new.get("text"),
                    "markup": new.get("reply_markup"),
                    "time": time.monotonic(),
                }
            )
        return new

    async def _m_editmessagetext(self, p: dict) -> dict:
        return await self._edit(p, self._visible(p.get("text", ""), p.get("parse_mode"), TEXT_LIMIT))

    async def _m_editmessagereplymarkup(self, p: dict) -> dict:
        return await self._edit(p, None)

    async def _m_answercallbackquery(self, p: dict) -> bool:
        text = p.get("text") or ""
        if len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        with self._lock:
            self.callback_answers.append(
                {
                    "id": p.get("callback_query_id"),
                    "text": text,
                    "show_alert": bool(p.get("show_alert")),
                    "time": time.monotonic(),
                }
            )
        return True

    async def _m_getfile(self, p: dict) -> dict:
        with self._lock:
            stored = self.files.get(p.get("file_id", ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, content = stored
        return {
            "file_id": p["file_id"],
            "file_unique_id": "U" + p["file_id"],
            "file_size": len(content),
            "file_path": path,
        }

    # -- updates from "Telegram" --------------------------------------------------------------------------
    def push(self, update: dict, *, redeliver: bool = False) -> dict:
        """Queue an update for getUpdates. `redeliver` hands it out again regardless of the bot's
        offset, as Telegram does with unconfirmed updates after the bot restarts."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))

        async def add() -> None:
            async with self._cond:
                self._pending.append((update, redeliver))
                self._cond.notify_all()

        asyncio.run_coroutine_threadsafe(add(), self.loop).result(5)
        return update

    def new_update_id(self) -> int:
        return next(self._update_ids)

    def user_message(
        self, chat: dict, sender: dict, *, thread_id: int | None = None, reply_to: int | None = None, **content: Any
    ) -> dict:
        """An incoming message (what a Telegram client would send), stored so the bot can reply to it."""
        chat_id = chat["id"]
        msg: dict[str, Any] = {
            "message_id": next(self._msg_ids[chat_id]),
            "date": int(time.time()),
            "chat": chat,
            "from": sender,
            **content,
        }
        text = content.get("text") or ""
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if thread_id:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        target = reply_to or thread_id
        if target and (chat_id, target) in self.messages:
            msg["reply_to_message"] = {
                k: v for k, v in self.messages[(chat_id, target)].items() if k != "reply_to_message"
            }
        self.messages[(chat_id, msg["message_id"])] = msg
        return {"update_id": next(self._update_ids), "message": msg}

    def callback(self, sender: dict, sent: dict, data: str) -> dict:
        msg = self.messages[(sent["chat_id"], sent["message_id"])]
        n = next(self._update_ids)
        return {
            "update_id": n,
            "callback_query": {"id": f"cb{n}", "from": sender, "chat_instance": "ci", "message": msg, "data": data},
        }

    # -- reading the records (test thread) ------------------------------------------------------------------
    def mark(self) -> int:
        with self._lock:
            return len(self.sent)

    def sent_to(self, chat_id: int, since: int = 0) -> list[dict]:
        with self._lock:
            return [m for m in self.sent[since:] if m["chat_id"] == chat_id]

    def wait(self, check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; sent: "
                    f"{[(m['chat_id'], m['text'][:80]) for m in self.sent[-10:]]}; "
                    f"rejected: {self.rejected[-5:]}"
                )
            time.sleep(0.05)

    def wait_sent(
        self,
        chat_id: int,
        since: int,
        count: int = 1,
        timeout: float = 20.0,
        match: Callable[[dict], bool] | None = None,
    ) -> list[dict]:
        def check() -> list[dict] | None:
            got = [m for m in self.sent_to(chat_id, since) if match is None or match(m)]
            return got if len(got) >= count else None

        return self.wait(check, timeout, f"{count} message(s) to chat {chat_id}")


def buttons(record: dict) -> list[dict]:
    return [b for row in (record.get("markup") or {}).get("inline_keyboard", []) for b in row]


class TgUser:
    """A Telegram user with a private chat with the bot."""

    def __init__(
        self, fake: FakeTelegram, user_id: int, first_name: str, language_code: str = "en", username: str | None = None
    ) -> None:
        self.fake = fake
        self.id = user_id
        self.user = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}
        if username:
            self.user["username"] = username
        self.chat = {"id": user_id, "type": "private", "first_name": first_name}

    def update(self, **content: Any) -> dict:
        return self.fake.user_message(self.chat, self.user, **content)

    def say(self, text: str) -> dict:
        return self.fake.push(self.update(text=text))

    def send(self, **content: Any) -> dict:
        return self.fake.push(self.update(**content))

    def press(self, record: dict, label: str) -> dict:
        [button] = [b for b in buttons(record) if b["text"] == label]
        return self.fake.push(self.fake.callback(self.user, record, button["callback_data"]))

    def inbox(self, since: int = 0) -> list[dict]:
        return self.fake.sent_to(self.id, since)
