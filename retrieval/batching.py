"""A micro-batching wrapper for an embedder: concurrent query encodings from many threads become one batch.

On CPU, encoding 32 short questions as one batch costs a few times one question, not 32 times; one at a
time (the model is locked: its tokenizer is not thread-safe) a burst of users queues behind each other.
Callers block on their own request; one worker thread encodes whatever is waiting as one batch. Under load
the queue fills while a batch encodes, so batches form without any deliberate wait; `max_wait_ms` lets a
batch linger a moment for stragglers only when the previous batch was already a batch (a burst is on), so a
lone user pays nothing. Measured with `firstline bench --concurrency 1,10,100` (docs/scaling.md).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from retrieval.embedders import Embedder


@dataclass
class _Request:
    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


class BatchingEmbedder:
    def __init__(
        self, inner: Embedder, *, max_batch: int = 64, max_wait_ms: float = 2.0, passage_cache_size: int = 4096
    ) -> None:
        self.inner = inner
        self.name, self.dim = inner.name, inner.dim
        self.scripts = getattr(inner, "scripts", None)
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self._cv = threading.Condition()
        self._queue: list[_Request] = []
        self._closed = False
        self._last_batch = 1
        self._encoding = False  # a batch or an inline encode is running
        self.batches = 0  # counters for benchmarks and /healthz
        self.encoded = 0
        # Passages already encoded in this process (the same article re-ingested, a test's sample KB loaded again):
        # encoding is where ingest spends its time, a lookup costs nothing. Bounded: oldest out first.
        self._passages: OrderedDict[str, np.ndarray] = OrderedDict()
        self._passages_lock = threading.Lock()
        self.passage_cache_size = passage_cache_size
        self._worker = threading.Thread(target=self._run, name="query-encoder", daemon=True)
        self._worker.start()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        req = _Request(list(texts))
        with self._cv:
            if self._closed:
                raise RuntimeError("the query encoder is closed")
            # No burst on (the last batch was a single request, nothing waiting, nothing encoding): encode on
            # the caller's thread — the hand-off to the worker costs a lone user a few milliseconds. In a burst
            # every request goes to the worker, so batches are never split by inline encodes.
            inline = self._last_batch == 1 and not self._queue and not self._encoding
            if inline:
                self._encoding = True
            else:
                self._queue.append(req)
                self._cv.notify()
        if inline:
            try:
                vecs = self.inner.encode_queries(req.texts)
            finally:
                with self._cv:
                    self._encoding = False
                    self._cv.notify()
            self.batches += 1
            self.encoded += len(req.texts)
            return vecs
        req.done.wait()
        if req.error is not None:
            raise req.error
        assert req.result is not None
        return req.result

    def encode_passages(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """The inner model's batches (ingest, learning), for the passages this process has not encoded yet."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._passages_lock:
            missing = [i for i, t in enumerate(texts) if t not in self._passages]
            for i, t in enumerate(texts):
                if t in self._passages:
                    out[i] = self._passages[t]
                    self._passages.move_to_end(t)
        if missing:
            fresh = self.inner.encode_passages([texts[i] for i in missing], batch_size=batch_size)
            out[missing] = fresh
            with self._passages_lock:
                for i, vec in zip(missing, fresh):
                    self._passages[texts[i]] = vec
                while len(self._passages) > self.passage_cache_size:
                    self._passages.popitem(last=False)
        return out

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._worker.join(5)

    def _take(self) -> list[_Request]:
        with self._cv:
            while (not self._queue or self._encoding) and not self._closed:
                self._cv.wait()
            if self._closed and not self._queue:
                return []
            if self._last_batch > 1 and self.max_wait > 0:
                deadline = time.monotonic() + self.max_wait
                while len(self._queue) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                    self._cv.wait(left)
            batch: list[_Request] = []
            size = 0
            while self._queue and (not batch or size + len(self._queue[0].texts) <= self.max_batch):
                req = self._queue.pop(0)
                batch.append(req)
                size += len(req.texts)
            self._encoding = bool(batch)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            self._last_batch = len(batch)
            texts = [t for r in batch for t in r.texts]
            try:
                vecs = self.inner.encode_queries(texts)
            except BaseException as exc:  # every waiting caller gets the error, none hangs
                with self._cv:
                    self._encoding = False
                for r in batch:
                    r.error = exc
                    r.done.set()
                continue
            with self._cv:
                self._encoding = False
                self.batches += 1
                self.encoded += len(texts)
            start = 0
            for r in batch:
                r.result = vecs[start : start + len(r.texts)]
                start += len(r.texts)
                r.done.set()
