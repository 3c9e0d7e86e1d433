"""Knowledge-base articles, their retrievable units (with stored vectors) and revisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_status", "status"),)

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # Example questions the KB owner listed (front matter `questions:`): each is indexed as a unit of its own.
    questions: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    lang: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default="published")  # draft | published | archived
    source: Mapped[str | None] = mapped_column(String(1000))  # file it was ingested from
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Where an article not ingested from a file came from: "ticket:<n>" (a proposed draft), "agent:<id>".
    origin: Mapped[str | None] = mapped_column(String(200), default=None)
    # Bot feedback: how often users pressed Helped / Didn't help on this article.
    helped: Mapped[int] = mapped_column(default=0, server_default="0")
    not_helped: Mapped[int] = mapped_column(default=0, server_default="0")


# Units that come from users' questions rather than the article's text; an edit of the article keeps them.
LEARNED_KINDS = ("phrasing", "rejected")


class ArticleUnit(Base):
    """A retrievable piece of an article. Its vector is stored so the FAISS index can always be
    rebuilt from the database without re-encoding."""

    __tablename__ = "article_units"
    __table_args__ = (Index("ix_article_units_article", "article_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    # title | section | question (listed by the KB owner) | phrasing (a question the article answered) |
    # rejected (a question it did not: "Didn't help")
    kind: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(default=0)
    text: Mapped[str] = mapped_column(Text)
    passage: Mapped[str] = mapped_column(Text)
    embedder: Mapped[str] = mapped_column(String(200))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    # Learned units (phrasing, rejected) only: where it was learned ("ticket:<n>", "helped:<conversation>", "eval")
    # and when.
    origin: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime | None] = mapped_column(default=utcnow)


class ArticleRevision(Base):
    __tablename__ = "article_revisions"
    __table_args__ = (Index("ix_article_revisions_article", "article_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[str] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))  # "ingest:<path>" or "agent:<id>"
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KBState(Base):
    """A single row whose version bumps on every KB change, so processes know when their index is stale."""

    __tablename__ = "kb_state"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    version: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
