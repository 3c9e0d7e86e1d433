"""The conversation engine: one incoming user message in, the bot's replies out.

Channel adapters (web chat, Telegram, Slack, email) turn platform events into `Incoming` and render
`Reply`s; every rule about when the bot answers, asks for feedback or hands off to a person lives here.
The engine never imports a web or chat framework.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Callable, Literal, get_args

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.language import (
    asks_for_human,
    detect_language,
    human_command_text,
    is_meaningless,
    is_safety_issue,
    is_small_talk,
    locale_language,
)
from bot.texts import t
from core.inputs import clean_text, normalize_ref
from kb_ingest.learning import Learner
from kb_ingest.service import article_tags
from people import link_codes
from people.identify import identity_kind, person_by_email
from retrieval import RetrievalResult, Retriever
from tickets import conversations, requesters, service
from tickets.models import Conversation, ConversationState, HandoffReason, Message, Outcome, Ticket

log = logging.getLogger(__name__)

# The one spelling of what a user's button can send; the tuples below are read from it.
Action = Literal["helped", "not_helped", "human", "choose_1", "choose_2", "choose_3"]
ACTIONS: tuple[str, ...] = get_args(Action)
FEEDBACK_ACTIONS: tuple[str, ...] = ACTIONS[:3]  # under an answer
CHOICE_ACTIONS: tuple[str, ...] = ACTIONS[3:]  # "did you mean": the user picks article n
MAX_OFFERS = 2  # the first answer, then "didn't help" gets the next best article once
# Where `/link` hands out a code: chats whose identity alone says nothing about who the person is.
LINK_CODE_CHANNELS = ("telegram", "slack")


class InputError(ValueError):
    """The user's message cannot be processed as sent; `user_text` tells them why, in their language."""

    def __init__(self, code: str, user_text: str) -> None:
        super().__init__(user_text)
        self.code = code
        self.user_text = user_text


@dataclass
class Incoming:
    channel: str
    user_ref: str
    text: str = ""
    thread_ref: str = ""
    action: Action | None = None
    platform_msg_id: str | None = None  # platform message/update id: a redelivery is processed once
    locale: str | None = None
    user_name: str | None = None
    # An address the platform vouches for (Slack profile, signed embed, SSO): links the sender to that person.
    email: str | None = None
    attachments: list[dict] = field(default_factory=list)
    refused_attachments: list[dict] = field(default_factory=list)  # files bot/attachments.py turned away


@dataclass
class Reply:
    message_id: int
    text: str
    kind: str  # answer | choices | info | handoff | error
    article: dict | None = None
    actions: list[str] = field(default_factory=list)
    # kind "choices": the articles to pick from, [{"action": "choose_<n>", "article_id", "title"}]
    choices: list[dict] = field(default_factory=list)


@dataclass
class HandleResult:
    conversation_id: int
    state: str
    lang: str
    user_message_id: int
    replies: list[Reply]
    ticket_number: int | None = None
    new_ticket: bool = False
    duplicate: bool = False


@dataclass
class EngineConfig:
    max_chars: int = 4000
    idle_after: timedelta = timedelta(minutes=60)
    # Channels whose conversations live longer between messages (an email thread: days, not minutes).
    channel_idle_after: dict[str, timedelta] = field(default_factory=dict)
    article_url: Callable[[str], str] = lambda article_id: f"/kb/{article_id}"
    # `/link <address>` mails a code to a directory person's address (needs outbound mail: FIRSTLINE_SMTP_RELAY).
    link_codes_by_email: bool = False


def reply_from(msg: Message) -> Reply:
    p = msg.payload or {}
    return Reply(
        msg.id,
        msg.text,
        p.get("kind", "info"),
        p.get("article"),
        list(p.get("actions", [])),
        list(p.get("choices", [])),
    )


class Engine:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        retriever: Retriever,
        config: EngineConfig | None = None,
        agent_channels: tuple[str, ...] = (),
        learner: Learner | None = None,
    ) -> None:
        self.sessions = sessions
        self.learner = learner  # Helped / Didn't help feed the knowledge base (kb_ingest.learning)
        self.retriever = retriever
        self.config = config or EngineConfig()
        # Agents' sides (Telegram group, Slack channel) that hear of handoffs and user messages on tickets,
        # through the outbox, in the same transaction as the change.
        self.agent_channels = agent_channels

    # -- entry point ------------------------------------------------------------------------
    def validate(self, msg: Incoming) -> Incoming:
        """The message in its canonical, storable form, or InputError (nothing stored): look-alike ids are one user,
        and text a platform delivered with a stray surrogate or NUL is kept (cleaned), never lost to a DB error."""
        msg = replace(
            msg,
            user_ref=normalize_ref(msg.channel, msg.user_ref),
            text=clean_text(msg.text or ""),
            user_name=clean_text(msg.user_name) if msg.user_name else msg.user_name,
        )
        text = msg.text.strip()
        lang_hint = locale_language(msg.locale) or "en"
        if msg.action is not None and msg.action not in ACTIONS:
            raise InputError("unknown_action", f"unknown action {msg.action!r}: use one of {', '.join(ACTIONS)}")
        if len(text) > self.config.max_chars:
            lang = detect_language(text, lang_hint)
            raise InputError("too_long", t(lang, "too_long", length=len(text), limit=self.config.max_chars))
        if not text and msg.action is None and not msg.attachments:
            raise InputError("empty", t(lang_hint, "empty"))
        return msg

    def handle(self, msg: Incoming) -> HandleResult:
        msg = self.validate(msg)
        text = msg.text.strip()
        lang_hint = locale_language(msg.locale) or "en"

        # Retrieval runs before the write transaction: encoding must not hold the database lock.
        pre: RetrievalResult | Exception | None = None
        if (
            msg.action is None
            and text
            and not asks_for_human(text)
            and not is_small_talk(text)
            and not link_codes.command_in(text)
            and not is_meaningless(text)
            and not is_safety_issue(text)
            and human_command_text(text) is None
        ):
            try:
                pre = self.retriever.answer(text)
            except Exception as exc:  # any bot failure becomes a handoff, never silence
                log.exception("retrieval failed")
                pre = exc
        try:
            result = self._handle_in_transaction(msg, text, lang_hint, pre)
        except IntegrityError:
            # A concurrent redelivery of the same platform message won the insert: answer as a duplicate.
            if not msg.platform_msg_id:
                raise
            result = self._handle_in_transaction(msg, text, lang_hint, pre)
        return result

    def _handle_in_transaction(
        self, msg: Incoming, text: str, lang_hint: str, pre: RetrievalResult | Exception | None
    ) -> HandleResult:
        with self.sessions.begin() as s:
            if msg.platform_msg_id:
                dup = conversations.find_platform_message(s, msg.channel, msg.user_ref, msg.platform_msg_id)
                if dup is not None:
                    conv = s.get(Conversation, dup.conversation_id)
                    ticket = service.ticket_for_conversation(s, conv.id)
                    return HandleResult(
                        conv.id,
                        conv.state,
                        conv.lang,
                        dup.id,
                        [reply_from(m) for m in conversations.replies_to(s, dup.id)],
                        ticket.id if ticket else None,
                        duplicate=True,
                    )
            conv = conversations.get_or_start_conversation(
                s,
                msg.channel,
                msg.user_ref,
                msg.thread_ref,
                lang=lang_hint,
                user_name=msg.user_name,
                idle_after=self.config.channel_idle_after.get(msg.channel, self.config.idle_after),
                email=msg.email,
            )
            if text:
                # The question as the retriever read it: "ghbdtn" typed on the wrong layout is Russian.
                read_as = pre.extra.get("understood_as", text) if isinstance(pre, RetrievalResult) else text
                conv.lang = detect_language(read_as, conv.lang or lang_hint)
            payload = {"action": msg.action} if msg.action else {}
            if msg.attachments:
                payload["attachments"] = msg.attachments
            if msg.refused_attachments:
                payload["refused_attachments"] = msg.refused_attachments
            user_msg = conversations.add_message(
                s,
                conv,
                "user",
                text or f"[{msg.action or 'attachment'}]",
                payload=payload,
                platform_msg_id=msg.platform_msg_id,
            )
            turn = _Turn(self, s, conv, user_msg)
            turn.route(msg, text, pre)
            ticket = turn.ticket or service.ticket_for_conversation(s, conv.id)
            return HandleResult(
                conv.id,
                conv.state,
                conv.lang,
                user_msg.id,
                turn.replies,
                ticket.id if ticket and conv.state != ConversationState.bot.value else None,
                new_ticket=turn.new_ticket,
            )


class _Turn:
    """One user message being processed inside one transaction."""

    def __init__(self, engine: Engine, session: Session, conv: Conversation, user_msg: Message) -> None:
        self.engine, self.s, self.conv, self.user_msg = engine, session, conv, user_msg
        self.replies: list[Reply] = []
        self.ticket: Ticket | None = None
        self.new_ticket = False

    @property
    def lang(self) -> str:
        return self.conv.lang

    def say(
        self,
        text: str,
        kind: str = "info",
        article: dict | None = None,
        actions: list[str] | tuple[str, ...] | None = None,
        choices: list[dict] | None = None,
    ) -> None:
        payload = {"kind": kind, "actions": list(actions or ())}
        if article:
            payload["article"] = article
        if choices:
            payload["choices"] = choices
        m = conversations.add_message(self.s, self.conv, "bot", text, payload=payload, reply_to_id=self.user_msg.id)
        self.replies.append(reply_from(m))

    # -- routing ------------------------------------------------------------------------------
    def route(self, msg: Incoming, text: str, pre: RetrievalResult | Exception | None) -> None:
        link = link_codes.command_in(text) if msg.action is None and text else None
        if link is not None:  # "/link CODE": a bot command in any state, never a question or a ticket message
            self.link(msg, link.group(1))
            return
        state = self.conv.state
        if state in (ConversationState.waiting_for_agent.value, ConversationState.with_agent.value):
            # A person holds (or is about to hold) this conversation: the bot stays silent and the
            # message goes to the ticket. Only an explicit repeat request for a human gets a reminder.
            ticket = service.user_message_on_ticket(self.s, self.conv, self.user_msg)
            self.ticket = ticket
            if ticket is not None:
                service.notify_agents(self.s, self.engine.agent_channels, ticket, "user_message", self.user_msg.id)
            if (
                ticket is not None
                and state == ConversationState.waiting_for_agent.value
                and (msg.action == "human" or (text and asks_for_human(text)))
            ):
                self.say(t(self.lang, "already_waiting", number=ticket.id), "info")
            return
        if msg.action is None and text:
            described = human_command_text(text)
            if described:  # "/human my keyboard types wrong letters": a person, with that as the question
                self.handoff(HandoffReason.user_request, question=described)
                return
            if is_safety_issue(text):  # what to do now first, then a person at once, critical
                self.say(t(self.lang, "safety_advice"), "safety")
                self.handoff(HandoffReason.safety, question=text, priority="critical")
                return
            if is_meaningless(text):
                if self.prompted_to_describe():  # asked once already: a user who insists gets a person
                    self.handoff(HandoffReason.user_request, question=self.conv.last_question or text)
                else:
                    self.say(t(self.lang, "describe_first"), "describe", actions=("human",))
                return
        if msg.action == "human" or (msg.action is None and text and asks_for_human(text)):
            # "None of these" after "did you mean" choices: the bot could not find the answer (the KB reports count
            # it as unanswered), not a user who wanted a person from the start.
            reason = HandoffReason.low_confidence if self.conv.choices else HandoffReason.user_request
            # "talk to a person" says nothing about the problem: the ticket waits for the user's next words.
            bare = not text or asks_for_human(text) or human_command_text(text) == ""
            question = self.conv.last_question or ("" if bare else text)
            self.handoff(reason, question=question, ask_to_describe=not question)
            return
        if msg.action == "helped":
            if not self.conv.offered:
                self.say(t(self.lang, "nothing_to_rate"))
                return
            self.say(t(self.lang, "helped_thanks"))
            learner, last = self.engine.learner, self.conv.offered[-1]
            if learner is not None:
                # The question that found this article becomes a learned phrasing of it. Encoding one short
                # sentence here (inside the write transaction) costs a few milliseconds.
                learner.record_feedback(
                    self.s,
                    last["article_id"],
                    helped=True,
                    question=self.conv.last_question,
                    origin=f"helped:conversation:{self.conv.id}",
                )
            conversations.close_conversation(self.s, self.conv, Outcome.helped)
            return
        if msg.action == "not_helped":
            self.not_helped()
            return
        picked = _picked_choice(msg.action, text, len(self.conv.choices or []))
        if picked is not None:
            self.choose(picked)
            return
        if msg.action in CHOICE_ACTIONS:  # a button of choices that were replaced by a newer question
            self.say(t(self.lang, "choice_gone"))
            return
        if not text:  # an attachment with no words: a person has to look at it
            self.handoff(HandoffReason.user_request, question="(attachment)")
            return
        if is_small_talk(text):
            self.say(t(self.lang, "greeting"))
            return
        self.question(text, pre)

    def link(self, msg: Incoming, arg: str | None) -> None:
        """`/link` in a chat platform: a code for this identity, to send from where the person is known.
        `/link <address>` in a chat platform: a code mailed to that directory person's address, to send back here.
        `/link CODE`: the identity the code was issued for joins this sender's person (tickets.requesters)."""
        if arg is not None and "@" in arg:
            self.mail_link_code(msg, arg)
            return
        if arg is None:
            if msg.channel in LINK_CODE_CHANNELS:
                kind = identity_kind(msg.channel)
                self.say(t(self.lang, "link_code", code=link_codes.issue(self.s, kind, msg.user_ref)))
            else:
                self.say(t(self.lang, "link_usage"))
            return
        outcome = requesters.redeem_link_code(self.s, self.conv.person_id, arg)
        self.say(t(self.lang, f"link_{outcome}"))

    def mail_link_code(self, msg: Incoming, address: str) -> None:
        """Prove an address by reading its mail. Only a known, active person's address gets a mail (the bot is no
        way to send mail to strangers), and the answer is the same either way (nor a way to test who is known)."""
        if msg.channel not in LINK_CODE_CHANNELS or not self.engine.config.link_codes_by_email:
            self.say(t(self.lang, "link_usage"))
            return
        person = person_by_email(self.s, address)
        if person is not None and person.active and person.email:
            code = link_codes.issue(self.s, "email", person.email)
            mail = conversations.get_or_start_conversation(
                self.s, "email", person.email, f"link:{self.user_msg.id}", lang=self.lang
            )
            conversations.add_message(self.s, mail, "system", t(self.lang, "link_mail", code=code))
            # Not a question episode: closed at once, it never counts in the bot's reports.
            conversations.close_conversation(self.s, mail, Outcome.abandoned)
        self.say(t(self.lang, "link_mailed"))

    def question(self, text: str, pre: RetrievalResult | Exception | None) -> None:
        self.conv.last_question = text
        self.conv.offered = []
        self.conv.choices = []
        if isinstance(pre, Exception) or pre is None:
            self.handoff(HandoffReason.bot_error, question=text)
            return
        if pre.decision.action != "answer" and len(pre.choices) >= 2:
            self.offer_choices(pre)
            return
        if pre.decision.action != "answer" or pre.best is None:
            lead = "unsupported_language" if pre.decision.reason == "unsupported_language" else None
            self.handoff(HandoffReason.low_confidence, question=text, tried=pre, lead=lead)
            return
        self.offer(pre, first=True)

    def offer(self, result: RetrievalResult, first: bool) -> None:
        hit = result.best
        self.offer_article(hit.article_id, hit.title, hit.passage, hit.score, first)

    def offer_article(self, article_id: str, title: str, passage: str, score: float, first: bool) -> None:
        article = {
            "id": article_id,
            "title": title,
            "url": self.engine.config.article_url(article_id),
            "score": round(score, 4),
        }
        intro = t(self.lang, "answer_intro" if first else "answer_next", title=title)
        body = f"{intro}\n\n{passage}\n\n{t(self.lang, 'read_more', url=article['url'])}"
        self.conv.offered = [*self.conv.offered, {"article_id": article_id, "title": title, "score": round(score, 4)}]
        self.say(body, "answer", article=article, actions=FEEDBACK_ACTIONS)

    def offer_choices(self, result: RetrievalResult) -> None:
        """ "Did you mean": the competing articles, numbered, as buttons (or a number to reply with), and a person."""
        self.conv.choices = [
            {"article_id": h.article_id, "title": h.title, "score": round(h.score, 4), "passage": h.passage}
            for h in result.choices
        ]
        lines = [t(self.lang, "choices_intro"), ""]
        lines += [f"{n}. {h.title}" for n, h in enumerate(result.choices, 1)]
        lines += ["", t(self.lang, "choices_reply")]
        buttons = [
            {"action": f"choose_{n}", "article_id": h.article_id, "title": h.title}
            for n, h in enumerate(result.choices, 1)
        ]
        self.say("\n".join(lines), "choices", actions=[b["action"] for b in buttons] + ["human"], choices=buttons)

    def choose(self, n: int) -> None:
        """The user picked article n of the choices: it is answered as if it had been the bot's first answer, with
        the usual feedback (Helped teaches the KB this phrasing; Didn't help hands off)."""
        picked = self.conv.choices[n - 1]
        self.conv.choices = []
        self.offer_article(picked["article_id"], picked["title"], picked["passage"], picked["score"], first=True)

    def not_helped(self) -> None:
        offered = list(self.conv.offered or [])
        if not offered:
            self.say(t(self.lang, "nothing_to_rate"))
            return
        question = self.conv.last_question or ""
        if self.engine.learner is not None:
            # The question is remembered against the article: it ranks lower for that phrasing from now on.
            self.engine.learner.record_feedback(
                self.s,
                offered[-1]["article_id"],
                helped=False,
                question=question,
                origin=f"not_helped:conversation:{self.conv.id}",
            )
        if len(offered) < MAX_OFFERS and question:
            try:
                nxt = self.engine.retriever.answer(question, exclude=[o["article_id"] for o in offered])
            except Exception:
                log.exception("retrieval failed")
                self.handoff(HandoffReason.bot_error, question=question)
                return
            if nxt.decision.action == "answer" and nxt.best is not None:
                self.offer(nxt, first=False)
                return
        self.handoff(HandoffReason.negative_feedback, question=question)

    def prompted_to_describe(self) -> bool:
        """Was the bot's last word in this conversation "describe it in one line"?"""
        last = self.s.scalar(
            select(Message)
            .where(Message.conversation_id == self.conv.id, Message.author == "bot")
            .order_by(Message.id.desc())
            .limit(1)
        )
        return last is not None and (last.payload or {}).get("kind") == "describe"

    def handoff(
        self,
        reason: HandoffReason,
        question: str,
        tried: RetrievalResult | None = None,
        lead: str | None = None,
        priority: str = "normal",
        ask_to_describe: bool = False,
    ) -> None:
        bot_tried = list(self.conv.offered or []) or [
            {"article_id": c["article_id"], "title": c["title"], "score": c["score"], "offered": False}
            for c in self.conv.choices or []
        ]
        self.conv.choices = []
        if tried is not None and not bot_tried:
            bot_tried = [
                {"article_id": h.article_id, "title": h.title, "score": round(h.score, 4), "offered": False}
                for h in tried.hits[:3]
            ]
        # The tried articles' tags route the ticket to a category (and its line, group, SLA) when one fits.
        tags = article_tags(self.s, [str(b["article_id"]) for b in bot_tried if b.get("article_id")])
        self.ticket = service.open_ticket(
            self.s,
            self.conv,
            reason=reason.value,
            question=question,
            bot_tried=bot_tried,
            article_tags=tags,
            priority=priority,
        )
        self.new_ticket = True
        service.notify_agents(self.s, self.engine.agent_channels, self.ticket, "ticket_opened")
        lead = (
            lead
            or {
                "low_confidence": "low_confidence",
                "negative_feedback": "negative",
                "user_request": "user_request",
                "bot_error": "bot_error",
                "safety": "safety_handoff",
            }[reason.value]
        )
        text = f"{t(self.lang, lead)} {t(self.lang, 'handoff', number=self.ticket.id)}"
        due = service.first_response_due_local(self.s, self.ticket)
        if due:  # what the SLA promises, in the requester's (or the desk's) time zone
            text += " " + t(self.lang, "first_response_due", due=due)
        if ask_to_describe:  # one message, not two: the handoff says what the person needs from the user
            text += "\n\n" + t(self.lang, "describe_for_agent")
        self.say(text, "handoff")


def _picked_choice(action: str | None, text: str, open_choices: int) -> int | None:
    """Which of the open choices the user picked: a button (choose_<n>) or, where there are no buttons (email, SMS),
    a reply that is just the number."""
    if not open_choices:
        return None
    if action in CHOICE_ACTIONS:
        n = int(action.removeprefix("choose_"))
    elif action is None and text.strip().rstrip(".)").isdigit():
        n = int(text.strip().rstrip(".)"))
    else:
        return None
    return n if 1 <= n <= open_choices else None
