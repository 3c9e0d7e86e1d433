"""Repair how people type before a question is encoded.

Employees write "ПРИНТЕР НЕ ПЕЧАТАЕТ", forget to switch the keyboard ("ghbynth yt gtxfnftn"), type Russian in Latin
letters ("parol ne podhodit") or slip a Latin look-alike into a Russian word ("пapoль"). The embedders read none of
these well (multilingual-e5 is case-sensitive; both models see transliteration as noise).

Every rewrite is checked against the knowledge base's own vocabulary (`Vocabulary`: word stems of every indexed
unit): a word is rewritten only when it is not a word the KB uses and its rewritten form is. So an English word is
never "repaired" into Russian just because it could be read as transliteration, and the repair follows the KB as it
grows. Stems come from the Snowball stemmers (PyStemmer) for Russian and English.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import Stemmer

from retrieval.packaged import default_minilm_path

_RU = Stemmer.Stemmer("russian")
_EN = Stemmer.Stemmer("english")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_CYR = re.compile(r"[а-яё]")

# Function words carry no topic, so they never prove a rewrite on their own, but once a content word of the same
# question was rewritten they follow it ("parol ne podhodit": "ne" → "не").
RU_FUNCTION = frozenset(
    "а без в во вы где да для до его ее её если же за и из или им как какой ко когда кто ли мне мой моя мы на "
    "не нет ни но ну о об он она они от по под при с со так там то тоже у уже что чтобы это я".split()
)
EN_FUNCTION = frozenset(
    "a about after all am an and any are as at be because been but by can cant could did do does dont for from "
    "get got had has have how i if in into is it its me my no not of on or our so than that the their them then "
    "there this to too up was we were what when where which who why will with won't would you your".split()
)

_QWERTY = "`qwertyuiop[]asdfghjkl;'zxcvbnm,."
_JCUKEN = "ёйцукенгшщзхъфывапролджэячсмитьбю"
_TO_RU = str.maketrans(_QWERTY + _QWERTY.upper().replace("`", "~"), _JCUKEN + _JCUKEN.upper())
_TO_EN = str.maketrans(_JCUKEN + _JCUKEN.upper(), _QWERTY + _QWERTY.upper().replace("`", "~"))
# A word typed in the wrong layout may hold the keys of ж э х ъ б ю ё: ; ' [ ] , . `
_LAYOUT_TOKEN = re.compile(r"[A-Za-z`;'\[\],.~]*[A-Za-z][A-Za-z`;'\[\],.~]*")

# Russian in Latin letters, as people type it (a mix of the common schemes); longest sequences first.
_TRANSLIT = [
    ("shch", ["щ"]),
    ("sch", ["щ"]),
    ("zh", ["ж"]),
    ("kh", ["х"]),
    ("ch", ["ч"]),
    ("sh", ["ш"]),
    ("ts", ["ц"]),
    ("yu", ["ю"]),
    ("ju", ["ю"]),
    ("ya", ["я"]),
    ("ja", ["я"]),
    ("yo", ["ё"]),
    ("jo", ["ё"]),
    ("ye", ["е"]),
    ("iy", ["ий"]),
    ("yy", ["ый"]),
    ("ey", ["ей"]),
    ("'", ["ь"]),
    ("a", ["а"]),
    ("b", ["б"]),
    ("c", ["к", "ц"]),
    ("d", ["д"]),
    ("e", ["е", "э"]),
    ("f", ["ф"]),
    ("g", ["г"]),
    ("h", ["х"]),
    ("i", ["и", "й"]),
    ("j", ["й"]),
    ("k", ["к"]),
    ("l", ["л"]),
    ("m", ["м"]),
    ("n", ["н"]),
    ("o", ["о"]),
    ("p", ["п"]),
    ("q", ["к"]),
    ("r", ["р"]),
    ("s", ["с"]),
    ("t", ["т"]),
    ("u", ["у"]),
    ("v", ["в"]),
    ("w", ["в"]),
    ("x", ["кс"]),
    ("y", ["ы", "й"]),
    ("z", ["з"]),
]
_MAX_VARIANTS = 32
# Latin letters that look like Cyrillic ones: "пapoль" typed with a Latin a, p and o.
_LOOKALIKE = str.maketrans("aceopxyABCEHKMOPTXY", "асеорхуАВСЕНКМОРТХУ")


@functools.lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole English words of 4+ letters from the packaged English model's vocabulary (~20k): "printer" or "monitor"
    typed to a KB whose articles are Russian is English, not transliterated Russian."""
    try:
        words = (default_minilm_path() / "vocab.txt").read_text(encoding="utf-8").split()
    except Exception:  # the package is missing or changed: repair still works from the KB's own words
        return frozenset()
    return frozenset(w for w in words if len(w) >= 4 and w.isascii() and w.isalpha())


def stem(word: str) -> str:
    word = word.lower().replace("ё", "е")
    stemmed: str = _RU.stemWord(word) if _CYR.search(word) else _EN.stemWord(word)
    return stemmed


def _key(word: str) -> str:
    # Transliteration drops soft and hard signs ("kompyuter" for "компьютер"): the lookup ignores them.
    return stem(word).replace("ь", "").replace("ъ", "")


class Vocabulary:
    """Word stems of the indexed units with the surface forms the KB writes them in, counted so that removing a
    unit removes only its share."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._forms: dict[str, Counter[str]] = {}

    def add(self, text: str) -> None:
        for word in set(w.lower() for w in _WORD.findall(text)):
            key = _key(word)
            self._counts[key] += 1
            forms = self._forms.get(key)
            if forms is None:  # not setdefault: that would build a Counter for every word of every unit
                forms = self._forms[key] = Counter()
            forms[word] += 1

    def remove(self, text: str) -> None:
        for word in set(w.lower() for w in _WORD.findall(text)):
            key = _key(word)
            forms = self._forms.get(key)
            if forms is None:
                continue
            self._counts[key] -= 1
            forms[word] -= 1
            if self._counts[key] <= 0:
                del self._counts[key], self._forms[key]
            elif forms[word] <= 0:
                del forms[word]

    def knows(self, word: str) -> bool:
        return _key(word) in self._counts

    def spelling(self, word: str) -> str:
        """The KB's own spelling of a word it knows by its stem ("parol" read as "парол" → "пароль")."""
        forms = self._forms.get(_key(word))
        if not forms or word in forms:
            return word
        for form in (word + "ь", word + "й"):
            if form in forms:
                return form
        return forms.most_common(1)[0][0]

    def __len__(self) -> int:
        return len(self._counts)


@dataclass(frozen=True)
class Repaired:
    text: str  # what the models read
    fixes: tuple[str, ...] = ()  # "caps", "layout", "translit", "lookalike": what was repaired


def _translit_variants(word: str) -> list[str]:
    parts: list[list[str]] = []
    i, low = 0, word.lower()
    while i < len(low):
        for latin, cyrillic in _TRANSLIT:
            if low.startswith(latin, i):
                parts.append(cyrillic)
                i += len(latin)
                break
        else:
            return []  # a character no scheme maps: not transliteration
    return ["".join(p) for p in itertools.islice(itertools.product(*parts), _MAX_VARIANTS)]


def _is_mostly_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 4 and sum(c.isupper() for c in letters) / len(letters) >= 0.6


def _touches_letter(text: str, start: int, end: int) -> bool:
    return (start > 0 and text[start - 1].isalpha()) or (end < len(text) and text[end].isalpha())


@dataclass
class _Reading:
    """One way to read the Latin-script words of a question as Russian: the rewrites, and how many of them are
    content words the KB uses (the evidence that this is how the question was typed)."""

    kind: str  # "layout" | "translit"
    rewrites: dict[tuple[int, int], str]
    proven: int = 0


def _read_latin_as_russian(text: str, vocab: Vocabulary, known: Callable[[str], bool]) -> tuple[_Reading | None, int]:
    layout, translit = _Reading("layout", {}), _Reading("translit", {})
    latin_words = 0
    for m in _LAYOUT_TOKEN.finditer(text):
        if _touches_letter(text, m.start(), m.end()):
            continue  # Latin letters inside a Russian word: the look-alike case
        word = m.group().rstrip(",.;")
        if not word:
            continue
        latin_words += 1
        if word.isalpha() and known(word):
            continue
        span = (m.start(), m.start() + len(word))
        cand = word.translate(_TO_RU).lower()
        if _WORD.fullmatch(cand):
            layout.rewrites[span] = vocab.spelling(cand)
            layout.proven += _proves(cand, vocab)
        variants = _translit_variants(word) if word.isalpha() else []
        hit = next((v for v in variants if vocab.knows(v) or v in RU_FUNCTION), None)
        if hit is not None or variants:
            translit.rewrites[span] = vocab.spelling(hit) if hit is not None else variants[0]
            translit.proven += hit is not None and _proves(hit, vocab)
    best = max((translit, layout), key=lambda r: r.proven)  # a tie: transliteration, the commoner habit
    return (best if best.proven else None), latin_words


def _proves(word: str, vocab: Vocabulary) -> bool:
    # A short word matches some KB stem by chance too often ("ne" on the Russian layout is "ту").
    return len(word) >= 4 and word not in RU_FUNCTION and vocab.knows(word)


def repair(text: str, vocab: Vocabulary) -> Repaired:
    text = unicodedata.normalize("NFKC", text)
    fixes: list[str] = []
    if _is_mostly_caps(text):
        text = text.lower()
        fixes.append("caps")
    if not len(vocab):
        return Repaired(text, tuple(fixes))

    english = english_words()

    def known(word: str) -> bool:
        w = word.lower()
        return w in RU_FUNCTION or w in EN_FUNCTION or w in english or vocab.knows(w)

    rewrites: dict[tuple[int, int], str] = {}
    reading, latin_words = _read_latin_as_russian(text, vocab, known)
    if reading is not None and 2 * len(reading.rewrites) >= latin_words:
        # The question was typed this way (at least half of its Latin-script words are no English the KB or the
        # function-word list knows): rewrite all of them. "rutoken not detected…" stays English.
        rewrites.update(reading.rewrites)
        fixes.append(reading.kind)
    for m in _WORD.finditer(text):
        word = m.group()
        if not _CYR.search(word.lower()) or known(word):
            continue
        if re.search(r"[A-Za-z]", word):  # a Latin look-alike inside a Russian word
            cand = word.translate(_LOOKALIKE)
            if vocab.knows(cand):
                rewrites[(m.start(), m.end())] = cand
                fixes.append("lookalike")
            continue
        cand = word.translate(_TO_EN).lower()  # English typed on the Russian layout: "зкштеук" → "printer"
        if cand.isalpha() and len(cand) >= 4 and vocab.knows(cand):
            rewrites[(m.start(), m.end())] = cand
            fixes.append("layout")
    if not rewrites:
        return Repaired(text, tuple(fixes))
    out, pos = [], 0
    for (start, end), cand in sorted(rewrites.items()):
        out += [text[pos:start], cand]
        pos = end
    out.append(text[pos:])
    return Repaired("".join(out), tuple(dict.fromkeys(fixes)))
