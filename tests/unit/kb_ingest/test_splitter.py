"""Articles become retrievable units: the title, and each section/answer carrying the title."""

from kb_ingest.splitter import MAX_UNIT_CHARS, split_article


def test_sections_and_rules_become_units_that_carry_the_title():
    body = (
        "# VPN\n\nIntro text.\n\n## Steps\n1. Open the client.\n\n## If it fails\nCall 4357.\n\n---\n\nSecond answer."
    )
    units = split_article("VPN", body)
    assert units[0].kind == "title" and units[0].text == "VPN"
    texts = [u.text for u in units[1:]]
    assert texts[0] == "VPN\nIntro text."
    assert texts[1] == "VPN — Steps\n1. Open the client."
    assert texts[2] == "VPN — If it fails\nCall 4357."
    assert texts[3] == "VPN\nSecond answer."
    # The title unit shows the article's opening, so a title match still reads as an answer.
    assert "Intro text." in units[0].passage and "Open the client" in units[0].passage


def test_long_sections_are_chunked_at_paragraphs():
    para = "word " * 200
    units = split_article("Long", "\n\n".join([para] * 5))
    assert all(len(u.text) <= MAX_UNIT_CHARS + len("Long\n") for u in units)
    assert len(units) > 3
