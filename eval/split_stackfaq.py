"""Split the StackFAQ dev queries for `firstline eval --learn` without leakage.

Each KB article has 5 paraphrased dev queries. In file order, an article's 1st, 3rd and 5th queries go
to `stackfaq.learn.jsonl` (fed as resolved conversations) and its 2nd and 4th to `stackfaq.heldout.jsonl`
(evaluated), together with all out-of-KB queries (`relevant: []`), which are never learned from.

    .venv/bin/python eval/split_stackfaq.py [../shared/eval/stackfaq/queries.dev.jsonl]
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(src: Path) -> None:
    seen: dict[str, int] = defaultdict(int)
    learn, heldout = [], []
    for line in src.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        if not q["relevant"]:
            heldout.append(q)
            continue
        n = seen[q["relevant"][0]]
        seen[q["relevant"][0]] += 1
        (learn if n % 2 == 0 else heldout).append(q)
    for name, rows in (("stackfaq.learn.jsonl", learn), ("stackfaq.heldout.jsonl", heldout)):
        (HERE / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{name}: {len(rows)} queries ({sum(1 for r in rows if not r['relevant'])} out-of-KB)")


if __name__ == "__main__":
    main(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else HERE.parent.parent / "shared" / "eval" / "stackfaq" / "queries.dev.jsonl"
    )
