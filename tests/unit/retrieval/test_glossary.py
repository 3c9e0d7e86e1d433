"""The bilingual glossary: a Russian question's terms read in English, so MiniLM can match them to English articles.
Unit behaviour of the glossary, then a company's own glossary file through the retriever `firstline serve` builds."""

from __future__ import annotations

import pytest

from retrieval.glossary import GLOSSARY_PATH, Glossary


@pytest.fixture(scope="module")
def packaged():
    return Glossary.load(GLOSSARY_PATH)


def test_a_russian_question_is_glossed_by_word_stems_longest_phrase_first(packaged):
    g = packaged.translate("Как открыть общий ящик бухгалтерии?", "en")
    assert "shared mailbox" in g.text and "mailbox" not in g.text.replace("shared mailbox", "")
    assert g.coverage == 0.5  # "открыть" and "бухгалтерии" are not glossary words
    assert packaged.translate("принтер не печатает", "en").text == "printer print"  # inflected forms match


def test_names_in_latin_letters_stay_and_count_as_understood(packaged):
    g = packaged.translate("забыла пароль от SAP", "en")
    assert g.text == "forgot password sap"
    assert g.coverage == 1.0


def test_an_unknown_question_gets_no_gloss(packaged):
    g = packaged.translate("какая погода завтра в Казани", "en")
    assert g.text == "" and g.coverage == 0.0


def test_english_is_glossed_into_russian_too(packaged):
    assert packaged.translate("paper jam in the printer", "ru").text.split()[:2] == ["замятие", "бумаги"]


def test_a_malformed_company_glossary_names_its_line(tmp_path):
    bad = tmp_path / "ours.txt"
    bad.write_text("# our words\nledgerly | леджерли\nexpense claim авансовый отчёт\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ours\.txt:3"):
        Glossary.load(GLOSSARY_PATH, bad)


ARTICLES = {
    "fin-expenses": (
        "Submitting an expense claim in Ledgerly",
        "Open Ledgerly, choose New claim, attach photos of the receipts and send the claim to your "
        "manager. Claims are paid with the next salary.",
    ),
    "fin-timesheets": (
        "Filling in your timesheet",
        "Log your hours every Friday in the Hours tab. Missing weeks block your bonus.",
    ),
    "it-vpn": (
        "Connecting to the VPN from home",
        "Install the GlobalConnect client, sign in with your work account and approve the push.",
    ),
}


def _retriever(tmp_path, glossary=None):
    from api.runtime import build_retriever
    from core.db import make_engine, make_session_factory
    from core.migrate import upgrade
    from core.settings import Settings
    from kb_ingest.service import ingest_paths

    kb = tmp_path / "kb"
    kb.mkdir(exist_ok=True)
    for aid, (title, body) in ARTICLES.items():
        (kb / f"{aid}.md").write_text(f'---\nid: {aid}\ntitle: "{title}"\nlang: en\n---\n\n{body}\n', encoding="utf-8")
    folder = tmp_path / ("with" if glossary else "without")
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder / 'firstline.db'}")
    upgrade(engine)
    retriever = build_retriever(Settings(data_dir=folder, embedder="bilingual", glossary=glossary))
    ingest_paths(make_session_factory(engine), retriever, [kb], index_path=folder / "kb.faiss")
    return retriever, engine


def test_a_company_glossary_brings_its_own_words_to_english_articles(tmp_path):
    ours = tmp_path / "ours.txt"
    ours.write_text("expense claim; ledgerly | авансовый отчёт; авансовый отчет; авансовик\n", encoding="utf-8")
    question = "как сдать авансовый отчёт"
    plain, e1 = _retriever(tmp_path)
    glossed, e2 = _retriever(tmp_path, glossary=ours)
    try:
        before = {h.article_id: h.score for h in plain.answer(question).hits}
        after = glossed.answer(question)
        assert after.best.article_id == "fin-expenses"
        assert after.best.score > before["fin-expenses"] + 0.005  # the company's word carried it
    finally:
        e1.dispose()
        e2.dispose()
