"""Where things are, for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
STACKFAQ = ROOT.parent / "shared" / "eval" / "stackfaq"
DATA = Path(__file__).resolve().parent / "data"  # sample KB files: FAQ, MediaWiki, Confluence exports
ARTIFACTS = ROOT / "tests" / "artifacts"  # screenshots of failed browser tests
