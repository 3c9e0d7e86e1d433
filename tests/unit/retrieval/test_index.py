"""VectorIndex: search correctness, persistence, crash-safe saving, corruption recovery, HNSW."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from kb_ingest.indexer import load_retriever
from kb_ingest.service import ingest_paths
from retrieval import Retriever, VectorIndex
from retrieval.decision import policy_for
from retrieval.index import IndexCorrupt

DIM = 32


def unit_vectors(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def top_ids(index: VectorIndex, queries: np.ndarray, k: int = 1) -> np.ndarray:
    _, ids = index.search(queries, k)
    return ids


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- add / remove / search ------------------------------------------------------------------------
def test_search_finds_each_vector_under_its_own_id():
    vecs = unit_vectors(200)
    ids = np.arange(200, dtype=np.int64) * 7 + 1_000_003  # sparse, large ids: ours, not FAISS positions
    index = VectorIndex(DIM)
    index.add(ids, vecs)

    scores, found = index.search(vecs, 3)
    assert len(index) == 200
    assert (found[:, 0] == ids).all()
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)  # normalised vectors: inner product is cosine
    assert (scores[:, 0] >= scores[:, 1]).all() and (scores[:, 1] >= scores[:, 2]).all()
    assert sorted(index.ids().tolist()) == sorted(ids.tolist())


def test_empty_index_and_k_larger_than_index():
    index = VectorIndex(DIM)
    scores, ids = index.search(unit_vectors(2), 5)
    assert scores.shape == (2, 0) and ids.shape == (2, 0)
    index.add([1, 2, 3], unit_vectors(3))
    scores, ids = index.search(unit_vectors(1, seed=9), 10)
    assert ids.shape == (1, 3) and set(ids[0].tolist()) == {1, 2, 3}


def test_remove_and_replace():
    vecs = unit_vectors(50)
    index = VectorIndex(DIM)
    index.add(range(50), vecs)

    assert index.remove([3, 4, 999]) == 2  # unknown ids are ignored
    assert len(index) == 48
    assert 3 not in top_ids(index, vecs[3:4], k=48)[0]
    assert top_ids(index, vecs[5:6])[0, 0] == 5

    # re-adding an id replaces its vector instead of duplicating it
    new = unit_vectors(1, seed=42)
    index.add([7], new)
    assert len(index) == 48
    assert top_ids(index, new)[0, 0] == 7
    assert top_ids(index, vecs[7:8])[0, 0] != 7  # the old vector is gone
    assert index.remove([]) == 0


# -- persistence ----------------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    vecs = unit_vectors(300)
    index = VectorIndex(DIM)
    index.add(np.arange(300) + 10, vecs)
    index.remove([10, 11])
    path = tmp_path / "idx" / "minilm.faiss"
    index.save(path, {"kb_version": 7, "embedder": "test"})

    loaded, meta = VectorIndex.load(path)

    assert meta == {"kb_version": 7, "embedder": "test"}
    assert loaded.dim == DIM and len(loaded) == 298
    assert sorted(loaded.ids().tolist()) == sorted(index.ids().tolist())
    q = unit_vectors(20, seed=5)
    s1, i1 = index.search(q, 5)
    s2, i2 = loaded.search(q, 5)
    assert (i1 == i2).all() and np.allclose(s1, s2)
    assert leftovers(path.parent) == []
    # the loaded index is a working index, not a read-only snapshot
    loaded.add([5000], unit_vectors(1, seed=77))
    assert top_ids(loaded, unit_vectors(1, seed=77))[0, 0] == 5000


@pytest.mark.parametrize("fail_in", ["replace", "fsync"])
def test_crash_during_save_keeps_the_previous_file(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "minilm.faiss"
    index = VectorIndex(DIM)
    index.add(range(100), unit_vectors(100))
    index.save(path, {"kb_version": 1})
    before = path.read_bytes()

    index.add(range(100, 250), unit_vectors(150, seed=1))

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, fail_in, crash)
    with pytest.raises(OSError):
        index.save(path, {"kb_version": 2})
    monkeypatch.undo()

    assert path.read_bytes() == before
    old, meta = VectorIndex.load(path)
    assert meta == {"kb_version": 1} and len(old) == 100
    assert leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minilm.faiss"]


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage", "empty", "missing"])
def test_damaged_file_raises_index_corrupt(tmp_path, damage):
    path = tmp_path / "minilm.faiss"
    index = VectorIndex(DIM)
    index.add(range(100), unit_vectors(100))
    index.save(path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip_byte":
        b = bytearray(data)
        b[-100] ^= 0xFF
        path.write_bytes(bytes(b))
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(path)


ARTICLES = {
    "printer-jam.md": (
        "Paper jam in the office printer",
        "Open the front door, pull out the toner drawer and remove the stuck sheet of paper.",
    ),
    "guest-wifi.md": (
        "Guest Wi-Fi password for visitors",
        "Visitors join ExampleGuest; reception prints a voucher with the daily password.",
    ),
    "vpn.md": (
        "Connecting to the VPN from home",
        "Start GlobalProtect, enter vpn.example.com and approve the MFA push on your phone.",
    ),
}


def test_corrupt_index_file_is_rebuilt_from_the_database(sessions, embedder, tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    for name, (title, body) in ARTICLES.items():
        (kb / name).write_text(f"---\ntitle: {title}\n---\n\n{body}\n", encoding="utf-8")
    index_path = tmp_path / "index" / "minilm.faiss"
    ingest_paths(sessions, Retriever(embedder, policy_for("minilm")), [kb], index_path=index_path)

    fresh = Retriever(embedder, policy_for("minilm"))
    assert load_retriever(sessions, fresh, index_path) == "file"
    expected = len(fresh.index)

    data = index_path.read_bytes()
    index_path.write_bytes(data[: len(data) - 37])  # a torn write from some other tool
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(index_path)

    recovered = Retriever(embedder, policy_for("minilm"))
    assert load_retriever(sessions, recovered, index_path) == "rebuilt"
    assert len(recovered.index) == expected
    result = recovered.answer("paper is stuck in the printer")
    assert result.best.article_id == "printer-jam"
    assert result.decision.action == "answer"
    # the rebuilt file was written back and is good again
    assert load_retriever(sessions, Retriever(embedder, policy_for("minilm")), index_path) == "file"
    assert leftovers(index_path.parent) == []


# -- HNSW -----------------------------------------------------------------------------------------
def test_hnsw_past_the_threshold_add_remove_search(tmp_path):
    vecs = unit_vectors(120, seed=3)
    index = VectorIndex(DIM, hnsw_threshold=50)
    index.add(range(40), vecs[:40])
    assert not index.is_hnsw

    index.add(range(40, 120), vecs[40:])  # crosses the threshold: switches to HNSW, keeps everything
    assert index.is_hnsw and len(index) == 120
    assert (top_ids(index, vecs)[:, 0] == np.arange(120)).all()

    assert index.remove([0, 1, 2, 119]) == 4
    assert index.is_hnsw and len(index) == 116
    found = top_ids(index, vecs, k=5)
    assert not np.isin(found, [0, 1, 2, 119]).any()
    assert (found[3:119, 0] == np.arange(3, 119)).all()

    new = unit_vectors(1, seed=99)
    index.add([50], new)  # replace a vector inside an HNSW index
    assert len(index) == 116 and top_ids(index, new)[0, 0] == 50

    path = tmp_path / "hnsw.faiss"
    index.save(path)
    loaded, _ = VectorIndex.load(path, hnsw_threshold=50)
    assert loaded.is_hnsw and len(loaded) == 116
    assert (top_ids(loaded, vecs[3:119])[:, 0] == top_ids(index, vecs[3:119])[:, 0]).all()
    loaded.remove([3])
    assert 3 not in top_ids(loaded, vecs[3:4], k=5)[0]

    # shrinking well below the threshold goes back to exact search
    index.remove(range(3, 100))
    assert len(index) == 19 and not index.is_hnsw
    assert (top_ids(index, vecs[100:119])[:, 0] == np.arange(100, 119)).all()


def test_retriever_over_hnsw_index_answers(embedder):
    """End to end through Retriever with the HNSW path: real units among synthetic ones."""
    from retrieval import Unit

    retriever = Retriever(embedder, policy_for("minilm"), hnsw_threshold=50)
    real = [
        Unit(
            1,
            "printer-jam",
            "Paper jam in the office printer",
            "Paper jam in the office printer\nOpen the front door and remove the stuck sheet of paper.",
            "Open the front door and remove the stuck sheet of paper.",
        )
    ]
    retriever.add_units(real)
    filler = [Unit(100 + i, f"filler-{i}", "", "", "") for i in range(80)]
    retriever.add_units(filler, unit_vectors(80, seed=8, dim=embedder.dim))
    assert retriever.index.is_hnsw

    result = retriever.answer("paper stuck in the printer")
    assert result.best.article_id == "printer-jam" and result.decision.action == "answer"
    retriever.remove_units([1])
    assert retriever.answer("paper stuck in the printer").decision.action == "handoff"
