"""A bilingual glossary that carries a question's key terms into the other language.

multilingual-e5-small matches a question best to text in the question's own language: "аутлук всё время просит
пароль" found the Russian password article before the English Outlook one. Glossing the question's terms into
English ("outlook password") gives the retriever a second reading that MiniLM, the better English model, compares
with English articles (retrieval.embedders.BilingualEmbedder). `translate` also glosses English into Russian;
the retriever does not use that direction (docs/retrieval.md says why).

Entries come from `data/glossary_en_ru.txt` (helpdesk vocabulary) plus the file a company names in the
`glossary` setting (its product names, its jargon). Words match by Snowball stem, so "печатает" finds
"печатать"; the longest phrase wins ("общий ящик" before "ящик").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from retrieval.normalize import EN_FUNCTION, RU_FUNCTION, stem

GLOSSARY_PATH = Path(__file__).parent / "data" / "glossary_en_ru.txt"
_TOKEN = re.compile(r"\w+", re.UNICODE)
_CYR = re.compile(r"[а-яёА-ЯЁ]")


@dataclass(frozen=True)
class Gloss:
    text: str  # the question's terms in the other language ("" when none were found)
    coverage: float  # share of the question's content words the glossary translated


def _stems(phrase: str) -> tuple[str, ...]:
    return tuple(stem(t) for t in _TOKEN.findall(phrase.lower()))


class Glossary:
    def __init__(self, entries: Iterable[tuple[list[str], list[str]]]) -> None:
        # to[lang]: first stem → [(stems of a source phrase, its translation)], longest phrase first
        self.to: dict[str, dict[str, list[tuple[tuple[str, ...], str]]]] = {"en": {}, "ru": {}}
        for english, russian in entries:
            for sources, target, lang in ((russian, english[0], "en"), (english, russian[0], "ru")):
                for source in sources:
                    stems = _stems(source)
                    if stems:
                        self.to[lang].setdefault(stems[0], []).append((stems, target))
        for table in self.to.values():
            for options in table.values():
                options.sort(key=lambda o: -len(o[0]))

    @classmethod
    def load(cls, *paths: Path) -> "Glossary":
        entries = []
        for path in paths:
            for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                if line.count("|") != 1:
                    raise ValueError(f"{path}:{n}: expected 'english forms | russian forms'")
                english, russian = ([f.strip() for f in side.split(";") if f.strip()] for side in line.split("|"))
                if english and russian:
                    entries.append((english, russian))
        return cls(entries)

    def translate(self, text: str, to: str) -> Gloss:
        """`to` "en": a Russian question's terms in English (its Latin words — product names — kept as they are);
        "ru": an English question's terms in Russian."""
        words = _TOKEN.findall(text.lower())
        stems = [stem(w) for w in words]
        function = RU_FUNCTION | EN_FUNCTION
        out: list[str] = []
        content = covered = 0
        i = 0
        while i < len(words):
            match = next((o for o in self.to[to].get(stems[i], ()) if tuple(stems[i : i + len(o[0])]) == o[0]), None)
            if match is not None:
                span = words[i : i + len(match[0])]
                n = sum(w not in function for w in span) or 1
                content, covered = content + n, covered + n
                if match[1] not in out:
                    out.append(match[1])
                i += len(match[0])
                continue
            word = words[i]
            if word not in function and not word.isdigit():
                content += 1
                # An untranslated Latin word in a Russian question is usually a name (Outlook, SAP): keep it.
                if to == "en" and not _CYR.search(word):
                    out.append(word)
                    covered += 1
            i += 1
        return Gloss(" ".join(out), covered / content if content else 0.0)
