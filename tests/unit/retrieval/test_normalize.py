"""Query repair: how employees really type (caps, the wrong keyboard layout, Russian in Latin letters, Latin
look-alikes), checked against the KB's own vocabulary so that plain English is never rewritten."""

from __future__ import annotations

import pytest

from retrieval.normalize import Vocabulary, repair

KB_TEXT = [
    "Пароль не подходит: как сбросить пароль учётной записи",
    "Компьютер тормозит и медленно работает",
    "Принтер не печатает, документы висят в очереди печати",
    "Как подключить сетевой принтер",
    "Нет звука в Teams: проверьте гарнитуру",
    "Printer is offline or jammed: clear the print queue",
    "Rutoken is not detected: reinstall the driver",
    "Ergonomic keyboards and mice are available from the IT office",
]


@pytest.fixture(scope="module")
def vocab():
    v = Vocabulary()
    for text in KB_TEXT:
        v.add(text)
    return v


@pytest.mark.parametrize(
    "typed, meant, fix",
    [
        ("parol ne podhodit", "пароль не подходит", "translit"),
        ("kompyuter tormozit", "компьютер тормозит", "translit"),
        ("ghbynth yt gtxfnftn", "принтер не печатает", "layout"),  # "принтер не печатает" on the English layout
        ("зкштеук ща", "printer of", "layout"),  # "printer of" on the Russian layout
        ("пapoль не подходит", "пароль не подходит", "lookalike"),  # Latin a, p, o inside a Russian word
        ("ПРИНТЕР НЕ ПЕЧАТАЕТ", "принтер не печатает", "caps"),
    ],
)
def test_what_was_meant_is_what_the_models_read(vocab, typed, meant, fix):
    r = repair(typed, vocab)
    assert fix in r.fixes
    assert r.text.split()[0] == meant.split()[0], r
    assert len(r.text.split()) == len(meant.split())


@pytest.mark.parametrize(
    "english",
    [
        "my printer won't print",
        "rutoken not detected, can't sign documents",
        "can I get an ergonomic keyboard and a vertical mouse",  # "ergonomic" is no transliteration of Russian
        "HELP cant login vpn error 7200",
        "how do I reset my password",
    ],
)
def test_english_is_left_as_it_was_typed(vocab, english):
    assert repair(english, vocab).text == english


def test_a_removed_article_takes_its_words_with_it(vocab):
    v = Vocabulary()
    v.add(KB_TEXT[1])
    assert repair("kompyuter tormozit", v).text == "компьютер тормозит"
    v.remove(KB_TEXT[1])
    assert repair("kompyuter tormozit", v).text == "kompyuter tormozit"


def test_an_empty_kb_still_lowers_caps():
    assert repair("VPN НЕ РАБОТАЕТ", Vocabulary()).text == "vpn не работает"


def test_english_words_stay_english_against_a_russian_kb():
    """A KB whose articles are Russian knows "монитор", not "monitor": English is still not transliteration."""
    v = Vocabulary()
    v.add("Монитор мигает или не включается: проверьте кабель")
    assert repair("monitor flickers", v).text == "monitor flickers"
    assert repair("monitor migaet", v).text == "monitor мигает"  # the Russian word typed in Latin letters is read
