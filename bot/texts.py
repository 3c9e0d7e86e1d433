"""Everything the bot says to users, in English and Russian."""
from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "answer_intro": "Here is what I found in “{title}”:",
        "answer_next": "Let me try another article: “{title}”:",
        "read_more": "Full article: {url}",
        "ask_feedback": "Did this help?",
        "helped_thanks": "Glad I could help! Ask me anything else any time.",
        "low_confidence": "I'm not sure I have the right answer to that, and I'd rather not guess.",
        "negative": "Sorry that didn't help.",
        "user_request": "Sure, I'll connect you with a person.",
        "bot_error": "Something went wrong on my side.",
        "handoff": "I've opened ticket #{number} and passed it to our service desk; a person will reply here. "
                   "You can keep writing: everything you send goes to the ticket.",
        "already_waiting": "You're already in the queue with ticket #{number}; a person will reply here.",
        "agent_joined": "{agent} from the service desk has joined the conversation.",
        "resolved": "Ticket #{number} is resolved: {resolution}",
        "resolved_footer": "If you need anything else, just write: I'm back to answer.",
        "handed_back": "The service desk has handed you back to me. Ask me anything.",
        "too_long": "Your message is too long ({length} characters; the limit is {limit}). "
                    "Please shorten it or split it into several messages.",
        "empty": "Your message is empty. Please type your question.",
        "nothing_to_rate": "There is no answer to rate right now: please ask your question.",
        "greeting": "Hi! I'm the IT help bot. Ask me a question, e.g. “how do I reset my password?”. "
                    "Type /human at any time to reach a person.",
        "unknown_command": "I don't know the command {command}. Try /help.",
        "action_helped": "Helped",
        "action_not_helped": "Didn't help",
        "action_human": "Talk to a human",
    },
    "ru": {
        "answer_intro": "Вот что я нашёл в статье «{title}»:",
        "answer_next": "Попробую другую статью: «{title}»:",
        "read_more": "Статья целиком: {url}",
        "ask_feedback": "Это помогло?",
        "helped_thanks": "Рад помочь! Спрашивайте, если понадобится что-то ещё.",
        "low_confidence": "Я не уверен, что знаю правильный ответ, и не хочу гадать.",
        "negative": "Жаль, что это не помогло.",
        "user_request": "Хорошо, подключаю сотрудника.",
        "bot_error": "У меня что-то сломалось.",
        "handoff": "Я создал заявку №{number} и передал её в службу поддержки; сотрудник ответит здесь. "
                   "Можете продолжать писать: всё, что вы отправите, попадёт в заявку.",
        "already_waiting": "Вы уже в очереди с заявкой №{number}; сотрудник ответит здесь.",
        "agent_joined": "К разговору подключился сотрудник поддержки {agent}.",
        "resolved": "Заявка №{number} решена: {resolution}",
        "resolved_footer": "Если понадобится что-то ещё — просто напишите, я снова на связи.",
        "handed_back": "Служба поддержки вернула разговор мне. Спрашивайте.",
        "too_long": "Сообщение слишком длинное ({length} символов, максимум {limit}). "
                    "Сократите его или разбейте на несколько сообщений.",
        "empty": "Сообщение пустое. Напишите ваш вопрос.",
        "nothing_to_rate": "Сейчас нечего оценивать: задайте ваш вопрос.",
        "greeting": "Здравствуйте! Я бот ИТ-поддержки. Задайте вопрос, например «как сбросить пароль?». "
                    "Команда /human в любой момент позовёт сотрудника.",
        "unknown_command": "Я не знаю команду {command}. Попробуйте /help.",
        "action_helped": "Помогло",
        "action_not_helped": "Не помогло",
        "action_human": "Позвать человека",
    },
}


def t(lang: str, key: str, **kwargs: object) -> str:
    table = TEXTS.get(lang, TEXTS["en"])
    return table.get(key, TEXTS["en"][key]).format(**kwargs)
