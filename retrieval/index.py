"""A FAISS vector index keyed by our unit ids, persisted atomically in one self-checking file.

Exact inner-product search by default; HNSW once the index grows beyond `hnsw_threshold` vectors,
where exact search stops being cheap. The index is always derivable from the database, so a file that
fails its checksum is reported as `IndexCorrupt` and the caller rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any, Iterable

import faiss
import numpy as np

_MAGIC = b"FLIDX1\n"


class IndexCorrupt(Exception):
    """The index file is missing, truncated or does not match its checksum."""


class VectorIndex:
    def __init__(self, dim: int, hnsw_threshold: int = 50_000, hnsw_m: int = 32) -> None:
        self.dim = dim
        self.hnsw_threshold = hnsw_threshold
        self.hnsw_m = hnsw_m
        self._index = self._new_index(hnsw=False)

    # -- construction -------------------------------------------------------------------------
    def _new_index(self, hnsw: bool) -> faiss.IndexIDMap2:
        inner: faiss.Index
        if hnsw:
            inner = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = 80
            inner.hnsw.efSearch = 128
        else:
            inner = faiss.IndexFlatIP(self.dim)
        return faiss.IndexIDMap2(inner)

    @property
    def is_hnsw(self) -> bool:
        return isinstance(faiss.downcast_index(self._index.index), faiss.IndexHNSWFlat)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ids()
        if len(ids) == 0:
            return ids, np.zeros((0, self.dim), dtype=np.float32)
        return ids, self._index.index.reconstruct_n(0, len(ids))

    def _rebuild(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        index = self._new_index(hnsw=len(ids) >= self.hnsw_threshold)
        if len(ids):
            index.add_with_ids(vecs, ids)
        self._index = index

    # -- mutation -----------------------------------------------------------------------------
    def add(self, ids: Iterable[int], vectors: np.ndarray) -> None:
        ids = np.asarray(list(ids), dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        if len(ids) == 0:
            return
        self.remove(ids)  # re-adding a unit replaces it
        if not self.is_hnsw and len(self) + len(ids) >= self.hnsw_threshold:
            old_ids, old_vecs = self._all_vectors()
            self._rebuild(np.concatenate([old_ids, ids]), np.vstack([old_vecs, vectors]))
            return
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: Iterable[int]) -> int:
        ids = np.asarray(list(ids), dtype=np.int64)
        if len(ids) == 0 or len(self) == 0:
            return 0
        if self.is_hnsw:
            # HNSW graphs cannot drop nodes: rebuild from the stored vectors without them.
            all_ids, vecs = self._all_vectors()
            keep = ~np.isin(all_ids, ids)
            removed = int((~keep).sum())
            if removed:
                self._rebuild(all_ids[keep], vecs[keep])
            return removed
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    # -- search -------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query row; missing slots have id -1."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if len(self) == 0:
            n = queries.shape[0]
            return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
        return self._index.search(queries, min(k, len(self)))

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str | Path, meta: dict[str, Any] | None = None) -> None:
        """Write atomically: a temp file in the same folder, fsync, then rename over the old one."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = faiss.serialize_index(self._index).tobytes()
        header = json.dumps(
            {"dim": self.dim, "count": len(self), "sha256": hashlib.sha256(blob).hexdigest(), "meta": meta or {}}
        ).encode()
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_MAGIC + struct.pack("<Q", len(header)) + header + blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path, hnsw_threshold: int = 50_000) -> tuple[VectorIndex, dict[str, Any]]:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexCorrupt(f"cannot read {path}: {exc}") from exc
        try:
            if not data.startswith(_MAGIC):
                raise ValueError("bad magic")
            (hlen,) = struct.unpack_from("<Q", data, len(_MAGIC))
            start = len(_MAGIC) + 8
            header = json.loads(data[start : start + hlen])
            blob = data[start + hlen :]
            if hashlib.sha256(blob).hexdigest() != header["sha256"]:
                raise ValueError("checksum mismatch")
            faiss_index = faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8))
        except Exception as exc:  # any parse failure means: rebuild from the database
            raise IndexCorrupt(f"{path} is unusable ({exc})") from exc
        index = cls(int(header["dim"]), hnsw_threshold=hnsw_threshold)
        loaded = faiss.downcast_index(faiss_index) if not isinstance(faiss_index, faiss.IndexIDMap2) else faiss_index
        if not isinstance(loaded, faiss.IndexIDMap2):
            raise IndexCorrupt(f"{path} does not hold an id-mapped index")
        index._index = loaded
        return index, header.get("meta", {})
