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
        "unsupported_language": "I can't search the knowledge base in this language yet, so a person will help you.",
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
        "choices_intro": "I found a few articles that may fit. Which one is about your problem?",
        "choices_reply": "Reply with its number, or “human” to reach a person.",
        "choice_gone": "That choice is no longer open: please ask your question again.",
        # Telegram: the user's side
        "tg_help": "Ask me an IT question in your own words, e.g. “the VPN keeps disconnecting”, and I'll answer "
        "from our knowledge base. You can also send a screenshot or a document.\n\n"
        "/human: talk to a person\n/ticket: the status of your open tickets\n"
        "/cancel: withdraw your request\n/help: this message",
        "tg_my_tickets": "Your open tickets:",
        "tg_no_open_tickets": "You have no open tickets. Ask me a question any time.",
        "tg_status_new": "waiting for an agent",
        "tg_status_open": "an agent is on it",
        "tg_status_pending_user": "waiting for your reply",
        "tg_status_escalated": "escalated",
        "tg_cancel_nothing": "There's nothing to cancel. Ask me a question any time.",
        "tg_cancel_ticket": "I've told the service desk that you no longer need help with ticket #{number}.",
        "tg_cancel_note": "I no longer need help with this; the request can be closed. (/cancel)",
        "tg_sticker": "Nice sticker! I can only read text, photos and documents, though: please type your question.",
        "tg_unsupported": "I can't read this kind of message. Please type your question, or send a photo or a document.",
        "tg_file_too_large": "That file is too large for me to receive ({size} MB; the limit is {limit} MB). "
        "Please send a smaller file or a screenshot.",
        "tg_file_failed": "I couldn't receive your file. Please try sending it again.",
        # files refused by bot/attachments.py (reason codes)
        "file_refused_executable": "I can't accept {name}: programs and scripts are not allowed. "
        "Please send a screenshot or a document instead.",
        "file_refused_not_allowed": "I can't accept {name}: that file type is not allowed. Please send an image, "
        "PDF, office document, text/log/CSV file or a zip archive.",
        "file_refused_mismatch": "I can't accept {name}: its content does not match its file type.",
        "file_refused_empty": "I can't accept {name}: the file is empty.",
        "file_refused_too_large": "I can't accept {name}: it is larger than the {limit} MB limit.",
        # Telegram: the agents' group
        "tg_take": "Take #{number}",
        "tg_notice_title": "Ticket #{number}",
        "tg_notice_question": "Question",
        "tg_notice_reason": "Why",
        "tg_notice_tried": "Bot tried",
        "tg_notice_hint": "Press Take to handle it, then write here: the user gets your messages. "
        "/resolve <what fixed it> or /handback when done.",
        "tg_reason_low_confidence": "the bot wasn't sure",
        "tg_reason_negative_feedback": "the answers didn't help",
        "tg_reason_user_request": "asked for a person",
        "tg_reason_bot_error": "the bot failed",
        "tg_taken_by": "Taken by {agent}.",
        "tg_transcript": "#{number} taken by {agent}. The conversation so far:",
        "tg_take_done": "Ticket #{number} is yours. Write in its thread; /resolve <text> or /handback when done.",
        "tg_take_conflict": "Ticket #{number} is already taken by {agent}.",
        "tg_take_closed": "Ticket #{number} is {status}: nothing to take.",
        "tg_not_linked": "Your Telegram account (id {user_id}) isn't linked to a Firstline agent, so nothing was "
        "done. An admin can link it: firstline agents link NAME --telegram {user_id}",
        "tg_not_sent": "Not sent to the user: {reason}",
        "tg_resolve_usage": "Usage: /resolve <what fixed it>",
        "tg_thread_only": "Use this in a ticket's topic, or as a reply to the ticket's message.",
        "tg_resolved": "#{number} resolved by {agent}: {resolution}",
        "tg_handed_back": "#{number} handed back to the bot by {agent}.",
        "tg_to_user": "{agent} to the user",
        "tg_agent_help": "In a ticket's thread: whatever you write goes to the user. /resolve <what fixed it> "
        "resolves the ticket, /handback [note] returns the user to the bot. Press Take first.",
        "tg_text_only": "only text is relayed to the user",
        # Slack
        "slack_answer_in_dm": "I'll answer you in our direct messages.",
        "slack_help": "Ask me an IT question: `/it how do I reset my password?`. `/it tickets` lists your open tickets.",
        "slack_tickets_title": "Your open IT tickets",
        "slack_no_tickets": "You have no open tickets.",
        "slack_status_new": "waiting for an agent",
        "slack_status_open": "an agent is on it",
        "slack_status_pending_user": "waiting for your reply",
        "slack_status_escalated": "escalated",
        "slack_home_hint": "Write to me in this app's Messages tab, mention me in a channel, "
        "or type `/it <question>` anywhere.",
        "slack_not_yours": "These buttons belong to <@{owner}>'s question.",
        "slack_you_chose": "You answered: {choice}",
        "slack_agent_says": "*{agent}*, IT service desk:",
    },
    "ru": {
        "answer_intro": "Вот что я нашёл в статье «{title}»:",
        "answer_next": "Попробую другую статью: «{title}»:",
        "read_more": "Статья целиком: {url}",
        "ask_feedback": "Это помогло?",
        "helped_thanks": "Рад помочь! Спрашивайте, если понадобится что-то ещё.",
        "low_confidence": "Я не уверен, что знаю правильный ответ, и не хочу гадать.",
        "unsupported_language": "Я пока не умею искать по базе знаний на этом языке, поэтому вам поможет сотрудник.",
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
        "choices_intro": "Нашлось несколько статей, которые могут подойти. Какая из них о вашей проблеме?",
        "choices_reply": "Ответьте её номером или напишите «человек», чтобы позвать специалиста.",
        "choice_gone": "Этот выбор уже неактуален: задайте вопрос ещё раз.",
        # Telegram: пользователь
        "tg_help": "Задайте вопрос об ИТ своими словами, например «VPN постоянно отключается», и я отвечу "
        "по базе знаний. Можно прислать скриншот или документ.\n\n"
        "/human — позвать сотрудника\n/ticket — статус ваших открытых заявок\n"
        "/cancel — отозвать запрос\n/help — эта справка",
        "tg_my_tickets": "Ваши открытые заявки:",
        "tg_no_open_tickets": "У вас нет открытых заявок. Задавайте вопросы в любое время.",
        "tg_status_new": "ждёт сотрудника",
        "tg_status_open": "сотрудник занимается",
        "tg_status_pending_user": "ждёт вашего ответа",
        "tg_status_escalated": "передана дальше",
        "tg_cancel_nothing": "Отменять нечего. Задавайте вопросы в любое время.",
        "tg_cancel_ticket": "Я сообщил службе поддержки, что помощь по заявке №{number} вам больше не нужна.",
        "tg_cancel_note": "Помощь по этому вопросу больше не нужна, заявку можно закрыть. (/cancel)",
        "tg_sticker": "Отличный стикер! Но я понимаю только текст, фото и документы: напишите, пожалуйста, вопрос.",
        "tg_unsupported": "Я не могу прочитать такое сообщение. Напишите вопрос текстом или пришлите фото или документ.",
        "tg_file_too_large": "Файл слишком большой ({size} МБ, максимум {limit} МБ). "
        "Пришлите файл поменьше или скриншот.",
        "tg_file_failed": "Не получилось принять файл. Попробуйте отправить его ещё раз.",
        "file_refused_executable": "Не могу принять {name}: программы и скрипты не принимаются. "
        "Пришлите скриншот или документ.",
        "file_refused_not_allowed": "Не могу принять {name}: такой тип файла не принимается. Пришлите изображение, "
        "PDF, офисный документ, текстовый файл (лог, CSV) или zip-архив.",
        "file_refused_mismatch": "Не могу принять {name}: содержимое файла не соответствует его типу.",
        "file_refused_empty": "Не могу принять {name}: файл пустой.",
        "file_refused_too_large": "Не могу принять {name}: он больше {limit} МБ.",
        # Telegram: группа сотрудников
        "tg_take": "Взять №{number}",
        "tg_notice_title": "Заявка №{number}",
        "tg_notice_question": "Вопрос",
        "tg_notice_reason": "Причина",
        "tg_notice_tried": "Бот предлагал",
        "tg_notice_hint": "Нажмите «Взять», затем пишите здесь: пользователь получит ваши сообщения. "
        "/resolve <решение> или /handback по завершении.",
        "tg_reason_low_confidence": "бот не уверен в ответе",
        "tg_reason_negative_feedback": "ответы не помогли",
        "tg_reason_user_request": "пользователь попросил сотрудника",
        "tg_reason_bot_error": "ошибка бота",
        "tg_taken_by": "Взял(а) {agent}.",
        "tg_transcript": "№{number} взял(а) {agent}. Разговор до этого:",
        "tg_take_done": "Заявка №{number} ваша. Пишите в её ветке; /resolve <текст> или /handback по завершении.",
        "tg_take_conflict": "Заявку №{number} уже взял(а) {agent}.",
        "tg_take_closed": "Заявка №{number} в статусе {status}: брать нечего.",
        "tg_not_linked": "Ваш аккаунт Telegram (id {user_id}) не привязан к сотруднику Firstline, ничего не "
        "сделано. Администратор может привязать: firstline agents link ИМЯ --telegram {user_id}",
        "tg_not_sent": "Пользователю не отправлено: {reason}",
        "tg_resolve_usage": "Использование: /resolve <что помогло>",
        "tg_thread_only": "Используйте это в теме заявки или ответом на сообщение заявки.",
        "tg_resolved": "№{number} решена, {agent}: {resolution}",
        "tg_handed_back": "№{number} возвращена боту, {agent}.",
        "tg_to_user": "{agent} пользователю",
        "tg_agent_help": "В ветке заявки всё, что вы пишете, получает пользователь. /resolve <что помогло> "
        "решает заявку, /handback [заметка] возвращает пользователя боту. Сначала нажмите «Взять».",
        "tg_text_only": "пользователю передаётся только текст",
        # Slack
        "slack_answer_in_dm": "Отвечу вам в личных сообщениях.",
        "slack_help": "Задайте вопрос: `/it как сбросить пароль?`. `/it tickets` покажет ваши открытые заявки.",
        "slack_tickets_title": "Ваши открытые заявки",
        "slack_no_tickets": "У вас нет открытых заявок.",
        "slack_status_new": "ждёт сотрудника",
        "slack_status_open": "сотрудник занимается",
        "slack_status_pending_user": "ждёт вашего ответа",
        "slack_status_escalated": "передана выше",
        "slack_home_hint": "Пишите мне во вкладке «Сообщения» этого приложения, упомяните меня в канале "
        "или наберите `/it <вопрос>` где угодно.",
        "slack_not_yours": "Эти кнопки относятся к вопросу <@{owner}>.",
        "slack_you_chose": "Ваш ответ: {choice}",
        "slack_agent_says": "*{agent}*, служба ИТ-поддержки:",
    },
}


def t(lang: str, key: str, **kwargs: object) -> str:
    table = TEXTS.get(lang, TEXTS["en"])
    return table.get(key, TEXTS["en"][key]).format(**kwargs)


CHOICE_LABEL_CHARS = 60  # a Telegram button shows ~30-60 characters; Slack allows 75


def action_label(lang: str, action: str, choices: list[dict] | None = None) -> str:
    """A button's text: "1. <article title>" for a "did you mean" choice, else the action's name in the language."""
    if action.startswith("choose_") and choices:
        n = int(action.removeprefix("choose_"))
        title = str(choices[n - 1].get("title", "")) if 0 < n <= len(choices) else ""
        label = f"{n}. {title}"
        return label if len(label) <= CHOICE_LABEL_CHARS else label[: CHOICE_LABEL_CHARS - 1].rstrip() + "…"
    return t(lang, f"action_{action}")
