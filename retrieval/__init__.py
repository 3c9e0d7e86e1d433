"""Semantic retrieval over knowledge-base units: embedders, FAISS index, BM25, answer decision.

Depends on nothing else of Firstline's: callers hand it units (id, article id, title, text) and vectors.
"""

from retrieval.decision import Decision, DecisionPolicy
from retrieval.embedders import Embedder, make_embedder
from retrieval.index import VectorIndex
from retrieval.retriever import ArticleHit, RetrievalResult, Retriever, Unit

__all__ = [
    "ArticleHit",
    "Decision",
    "DecisionPolicy",
    "Embedder",
    "Retriever",
    "RetrievalResult",
    "Unit",
    "VectorIndex",
    "make_embedder",
]
