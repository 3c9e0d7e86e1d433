"""How the bot reads a message: language, "I want a person", small talk."""

import pytest

from bot.language import asks_for_human, detect_language, is_small_talk, locale_language


@pytest.mark.parametrize(
    "text,lang",
    [
        ("How do I reset my password?", "en"),
        ("Как сбросить пароль?", "ru"),
        ("не работает VPN GlobalProtect", "ru"),
        ("Outlook не синхронизирует почту", "ru"),
        ("ok", "en"),
    ],
)
def test_detects_language(text, lang):
    assert detect_language(text) == lang


def test_too_little_text_keeps_the_previous_language():
    assert detect_language("?", fallback="ru") == "ru"
    assert detect_language("👍", fallback="ru") == "ru"
    assert locale_language("ru-RU") == "ru" and locale_language("de-DE") is None


@pytest.mark.parametrize(
    "text",
    [
        "operator",
        "human",
        "talk to a human",
        "I want to speak to a person",
        "connect me with an agent",
        "позовите человека",
        "оператор",
        "хочу поговорить с сотрудником",
        "Живой человек нужен",
    ],
)
def test_requests_for_a_person(text):
    assert asks_for_human(text)


@pytest.mark.parametrize(
    "text",
    [
        "How do I change the user agent string in Chrome?",
        "My travel agent sent me an Outlook invite that I cannot open, what can I do about that?",
        "How do I add a person to a shared mailbox?",
        "reset password",
    ],
)
def test_questions_that_merely_mention_people_stay_questions(text):
    assert not asks_for_human(text)


def test_small_talk():
    assert is_small_talk("Hi!") and is_small_talk("спасибо") and is_small_talk("Добрый день")
    assert not is_small_talk("hi, my VPN is broken")
