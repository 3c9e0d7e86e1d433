"""The bundled sample KB on a first start, and `firstline kb remove-sample` (the real command line): the bot stops
answering with the samples, they stay in the history, and the next start does not load them again."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import func, select

from api.runtime import build_runtime
from core.settings import Settings
from kb_ingest.models import Article
from tests.support.paths import ROOT


def test_the_sample_kb_can_be_removed_for_good(tmp_path, embedder):
    settings = Settings(data_dir=tmp_path, secret_key="x")
    rt = build_runtime(settings)
    with rt.read_sessions() as s:
        samples = s.scalar(select(func.count()).select_from(Article).where(Article.status == "published"))
    assert samples >= 20 and rt.retriever.answer("how do I reset my password").decision.action == "answer"
    rt.close()

    env = {**os.environ, "FIRSTLINE_DATA_DIR": str(tmp_path), "FIRSTLINE_SECRET_KEY": "x"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "kb", "remove-sample"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and f"archived {samples} sample article(s)" in done.stdout, done.stderr

    rt = build_runtime(settings)  # the next start: still no samples in the answers, none loaded again
    with rt.read_sessions() as s:
        assert s.scalar(select(func.count()).select_from(Article).where(Article.status == "published")) == 0
        assert s.scalar(select(func.count()).select_from(Article)) == samples  # history kept (archived)
    assert rt.retriever.answer("how do I reset my password").decision.action != "answer"
    rt.close()
    again = subprocess.run(
        [sys.executable, "-m", "cli.main", "kb", "remove-sample"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert "archived 0 sample article(s)" in again.stdout
