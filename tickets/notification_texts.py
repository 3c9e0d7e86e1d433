"""What ticket notifications say, in English and Russian: status notices for the user (posted in their
conversation) and notices for staff (sent to their linked Telegram / Slack account).

They live here rather than in bot/texts.py because tickets/ may not import bot/; the wording matches it.
"""

from __future__ import annotations

LANGS = ("en", "ru")

USER: dict[str, dict[str, str]] = {
    "en": {
        "escalated": "Ticket #{number} needs {target}, so I've passed it on. You keep your place: they will "
        "continue right here, no need to write again.",
        "to_L2": "our second-line engineers",
        "to_L3": "our third-line experts",
        "to_L1": "another specialist",
        "to_group": "the {group} team",
        "returned": "The engineers have finished their part of ticket #{number}; the service desk continues "
        "with it here.",
        "reopened": "Ticket #{number} has been reopened: the service desk will get back to you here.",
        "in_progress": "An agent is now working on ticket #{number}.",
        "requeued": "Ticket #{number} is back in the queue: the next free agent will reply here.",
        "waiting": "Ticket #{number} is waiting for your reply: please answer here so we can continue.",
        "resolved": "Ticket #{number} is resolved: {resolution}",
        "resolved_plain": "Ticket #{number} is resolved.",
        "resolved_footer": "If you need anything else, just write: I'm back to answer.",
        "closed_after_resolved": "Ticket #{number} is now closed. If the problem comes back, just write here.",
        "closed": "Ticket #{number} has been closed. If you still need help, just write here.",
    },
    "ru": {
        "escalated": "Для заявки №{number} нужны {target}, поэтому я передал её дальше. Ваша очередь "
        "сохраняется: ответ придёт сюда же, писать заново не нужно.",
        "to_L2": "инженеры второй линии",
        "to_L3": "эксперты третьей линии",
        "to_L1": "другие специалисты",
        "to_group": "специалисты группы «{group}»",
        "returned": "Инженеры закончили свою часть работы по заявке №{number}; служба поддержки продолжит здесь.",
        "reopened": "Заявка №{number} снова открыта: служба поддержки ответит вам здесь.",
        "in_progress": "Заявкой №{number} занимается сотрудник поддержки.",
        "requeued": "Заявка №{number} снова в очереди: ответит первый освободившийся сотрудник.",
        "waiting": "Заявка №{number} ждёт вашего ответа: ответьте, пожалуйста, здесь, чтобы мы могли продолжить.",
        "resolved": "Заявка №{number} решена: {resolution}",
        "resolved_plain": "Заявка №{number} решена.",
        "resolved_footer": "Если понадобится что-то ещё — просто напишите, я снова на связи.",
        "closed_after_resolved": "Заявка №{number} закрыта. Если проблема вернётся, просто напишите здесь.",
        "closed": "Заявка №{number} закрыта. Если помощь всё ещё нужна, просто напишите здесь.",
    },
}

STAFF: dict[str, dict[str, str]] = {
    "en": {
        "escalated": "⬆️ #{number} “{subject}” escalated {route} by {by}. Priority: {priority}.{note}",
        "escalated_note": "\nNote: {note}",
        "route_line": "{from_line} → {to_line}",
        "route_group": "{from_line} → {to_line}, group {group}",
        "by_system": "the system (SLA)",
        "first_response_risk": "⏳ #{number} “{subject}”: first response due {due} ({priority}, {line}, {who}).",
        "first_response_breach": "🚨 #{number} “{subject}”: first response is overdue since {due} "
        "({priority}, {line}, {who}).",
        "resolution_risk": "⏳ #{number} “{subject}”: resolution due {due} ({priority}, {line}, {who}).",
        "resolution_breach": "🚨 #{number} “{subject}”: resolution is overdue since {due} ({priority}, {line}, {who}).",
        "unassigned": "unassigned",
        "assigned": "assignee {agent}",
        "status_changed": "🔄 #{number} “{subject}”: {old} → {new} ({by}).",
        "returned": "↩️ #{number} “{subject}” is back with you from {line}. {by}: {answer}",
        "priority_changed": "❗ #{number} “{subject}”: priority {old} → {new} ({by}).",
        "digest": "📊 Service desk, {day}\nOpened: {opened} · resolved: {resolved} · SLA breaches: {breaches}\n"
        "Bot deflection: {deflection} ({conversations} conversations)\nOpen backlog: {backlog}",
        "digest_none": "no finished conversations",
        "st_new": "new",
        "st_open": "open",
        "st_pending_user": "waiting for user",
        "st_escalated": "escalated",
        "st_resolved": "resolved",
        "st_closed": "closed",
        "p_low": "low",
        "p_normal": "normal",
        "p_high": "high",
        "p_critical": "critical",
        "actor_system": "system",
        "actor_user": "the user",
    },
    "ru": {
        "escalated": "⬆️ №{number} «{subject}» эскалирована {route}, {by}. Приоритет: {priority}.{note}",
        "escalated_note": "\nКомментарий: {note}",
        "route_line": "{from_line} → {to_line}",
        "route_group": "{from_line} → {to_line}, группа {group}",
        "by_system": "система (SLA)",
        "first_response_risk": "⏳ №{number} «{subject}»: первый ответ нужен до {due} ({priority}, {line}, {who}).",
        "first_response_breach": "🚨 №{number} «{subject}»: первый ответ просрочен с {due} ({priority}, {line}, {who}).",
        "resolution_risk": "⏳ №{number} «{subject}»: решение нужно до {due} ({priority}, {line}, {who}).",
        "resolution_breach": "🚨 №{number} «{subject}»: решение просрочено с {due} ({priority}, {line}, {who}).",
        "unassigned": "не назначена",
        "assigned": "исполнитель {agent}",
        "status_changed": "🔄 №{number} «{subject}»: {old} → {new} ({by}).",
        "returned": "↩️ №{number} «{subject}» вернулась к вам с {line}. {by}: {answer}",
        "priority_changed": "❗ №{number} «{subject}»: приоритет {old} → {new} ({by}).",
        "digest": "📊 Служба поддержки, {day}\nОткрыто: {opened} · решено: {resolved} · нарушений SLA: {breaches}\n"
        "Решено ботом: {deflection} (диалогов: {conversations})\nОткрытые заявки: {backlog}",
        "digest_none": "нет завершённых диалогов",
        "st_new": "новая",
        "st_open": "в работе",
        "st_pending_user": "ждёт пользователя",
        "st_escalated": "эскалирована",
        "st_resolved": "решена",
        "st_closed": "закрыта",
        "p_low": "низкий",
        "p_normal": "обычный",
        "p_high": "высокий",
        "p_critical": "критический",
        "actor_system": "система",
        "actor_user": "пользователь",
    },
}


def _table(tables: dict[str, dict[str, str]], lang: str, key: str) -> str:
    return tables.get(lang, tables["en"]).get(key, tables["en"][key])


def user_text(lang: str, key: str, **kwargs: object) -> str:
    return _table(USER, lang, key).format(**kwargs)


def staff_text(lang: str, key: str, **kwargs: object) -> str:
    return _table(STAFF, lang, key).format(**kwargs)
