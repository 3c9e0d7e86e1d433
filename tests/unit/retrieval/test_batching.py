"""The micro-batching query encoder: concurrent callers each get exactly their own vectors, encoded in shared
batches; a failing encode reaches every waiting caller instead of hanging them."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from retrieval.batching import BatchingEmbedder

QUESTIONS = [
    "my vpn keeps dropping",
    "the printer is jammed",
    "how do I reset my password",
    "teams has no sound",
    "outlook stopped syncing",
    "wifi password for guests",
    "new laptop please",
    "I clicked a phishing link",
]


def test_concurrent_callers_get_their_own_vectors_in_shared_batches(embedder):
    batched = BatchingEmbedder(embedder, max_wait_ms=20)
    try:
        expected = embedder.encode_queries(QUESTIONS)
        results: dict[int, np.ndarray] = {}
        start = threading.Barrier(len(QUESTIONS) * 4)

        def ask(i: int) -> None:
            start.wait()
            results[i] = batched.encode_queries([QUESTIONS[i % len(QUESTIONS)]])

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(QUESTIONS) * 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == len(threads)
        for i, vec in results.items():
            assert vec.shape == (1, embedder.dim)
            np.testing.assert_allclose(vec[0], expected[i % len(QUESTIONS)], atol=1e-4)
        assert batched.encoded == len(threads) and batched.batches < len(threads)  # some were batched together
        # A caller with several texts gets them back in order.
        np.testing.assert_allclose(batched.encode_queries(QUESTIONS[:3]), expected[:3], atol=1e-4)
    finally:
        batched.close()


class Broken:
    name, dim, scripts = "broken", 4, None

    def encode_queries(self, texts):
        raise RuntimeError("model crashed")

    def encode_passages(self, texts, batch_size=64):
        raise RuntimeError("model crashed")


def test_an_encoder_failure_reaches_every_caller():
    batched = BatchingEmbedder(Broken())
    errors: list[str] = []

    def ask() -> None:
        try:
            batched.encode_queries(["x"])
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == ["model crashed"] * 5
    batched.close()
    with pytest.raises(RuntimeError, match="closed"):
        batched.encode_queries(["x"])
