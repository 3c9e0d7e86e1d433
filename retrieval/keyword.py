"""BM25 keyword search over the same units (rank_bm25), for exact terms dense vectors blur:
error codes, product names, file names."""

from __future__ import annotations

import re

import numpy as np
from rank_bm25 import BM25Okapi

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class KeywordIndex:
    def __init__(self) -> None:
        self._docs: dict[int, list[str]] = {}
        self._bm25: BM25Okapi | None = None
        self._ids: np.ndarray = np.zeros(0, dtype=np.int64)

    def set(self, unit_id: int, text: str) -> None:
        self._docs[unit_id] = tokenize(text)
        self._bm25 = None

    def remove(self, unit_id: int) -> None:
        if self._docs.pop(unit_id, None) is not None:
            self._bm25 = None

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        if not self._docs:
            return []
        if self._bm25 is None:  # rebuilt lazily: BM25 statistics are corpus-wide
            self._ids = np.fromiter(self._docs.keys(), dtype=np.int64)
            self._bm25 = BM25Okapi([self._docs[int(i)] or [""] for i in self._ids])
        scores = self._bm25.get_scores(tokenize(query))
        top = np.argsort(-scores)[:k]
        return [(int(self._ids[i]), float(scores[i])) for i in top if scores[i] > 0]
