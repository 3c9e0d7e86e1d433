"""The console's reports page (/console/reports, managers only): a period picker, charts drawn as inline
SVG by api/static/console/reports.js from /api/v1/reports/summary, tables under them, CSV / XLSX links."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api import console_auth
from api.console_views import TEXTS, _page, _render, _secret, _signed_in

router = APIRouter(include_in_schema=False)

REPORT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "reports": "Reports", "rp_period": "Period", "rp_week": "Week", "rp_month": "Month", "rp_year": "Year",
        "rp_custom": "Range", "rp_start": "From", "rp_end": "To", "rp_show": "Show", "rp_prev": "← Previous",
        "rp_next": "Next →", "rp_download": "Download", "rp_csv": "CSV", "rp_xlsx": "Excel (XLSX)",
        "rp_opened": "Opened", "rp_resolved": "Resolved", "rp_backlog": "Backlog (open at the end)",
        "rp_by_channel": "Tickets by channel", "rp_by_category": "Tickets by category",
        "rp_by_line": "Tickets by line", "rp_trend": "Opened, resolved and backlog over time",
        "rp_backlog_trend": "Backlog trend", "rp_reasons": "Handoff reasons", "rp_sla": "SLA compliance",
        "rp_times": "Response and resolution times", "rp_time_by_agent": "Time logged per agent",
        "rp_first_response": "First response", "rp_resolution": "Resolution", "rp_median": "Median",
        "rp_p90": "90th percentile", "rp_count": "Tickets", "rp_met": "Met", "rp_missed": "Missed",
        "rp_total": "Total", "rp_compliance": "Compliance", "rp_fcr": "First-contact resolution",
        "rp_escalation": "Escalation rate", "rp_deflection": "Bot deflection rate", "rp_minutes": "Minutes",
        "rp_agent": "Agent", "rp_reason": "Reason", "rp_bucket": "Period", "rp_none": "(none)",
        "rp_in_tz": "times in", "rp_loading": "Loading…", "rp_bad_range": "Pick a start and an end day.",
        "rp_fcr_help": "Resolved tickets with no escalation and never reopened ÷ resolved tickets.",
        "rp_esc_help": "Tickets opened in the period that were escalated ÷ tickets opened.",
        "rp_defl_help": "Conversations the bot handled alone (helped or answered) ÷ conversations with a question.",
        "rp_sla_help": "Targets met by their due time ÷ targets that were met or missed in the period.",
        "rp_min": "min", "rp_h": "h", "rp_d": "d", "rp_total_time": "Total",
        "rp_manager_only": "Reports are for managers.", "rp_backlog_now": "Backlog at the end",
        "rp_uncategorized": "(no category)", "rp_chart_table": "Table", "rp_category": "Category",
    },
    "ru": {
        "reports": "Отчёты", "rp_period": "Период", "rp_week": "Неделя", "rp_month": "Месяц", "rp_year": "Год",
        "rp_custom": "Диапазон", "rp_start": "С", "rp_end": "По", "rp_show": "Показать",
        "rp_prev": "← Предыдущий", "rp_next": "Следующий →", "rp_download": "Скачать", "rp_csv": "CSV",
        "rp_xlsx": "Excel (XLSX)", "rp_opened": "Открыто", "rp_resolved": "Решено",
        "rp_backlog": "Бэклог (открытые на конец)", "rp_by_channel": "Заявки по каналам",
        "rp_by_category": "Заявки по категориям", "rp_by_line": "Заявки по линиям",
        "rp_trend": "Открыто, решено и бэклог по времени", "rp_backlog_trend": "Динамика бэклога",
        "rp_reasons": "Причины передачи", "rp_sla": "Соблюдение SLA", "rp_times": "Время реакции и решения",
        "rp_time_by_agent": "Учтённое время по агентам", "rp_first_response": "Первый ответ",
        "rp_resolution": "Решение", "rp_median": "Медиана", "rp_p90": "90-й процентиль", "rp_count": "Заявок",
        "rp_met": "В срок", "rp_missed": "Просрочено", "rp_total": "Всего", "rp_compliance": "Соблюдение",
        "rp_fcr": "Решено с первого обращения", "rp_escalation": "Доля эскалаций",
        "rp_deflection": "Доля решённых ботом", "rp_minutes": "Минуты", "rp_agent": "Агент",
        "rp_reason": "Причина", "rp_bucket": "Период", "rp_none": "(нет)", "rp_in_tz": "время в поясе",
        "rp_loading": "Загрузка…", "rp_bad_range": "Выберите начальный и конечный день.",
        "rp_fcr_help": "Решённые заявки без эскалаций и повторных открытий ÷ решённые заявки.",
        "rp_esc_help": "Заявки периода, которые эскалировались ÷ открытые заявки.",
        "rp_defl_help": "Диалоги, с которыми бот справился сам (помогло или ответил) ÷ диалоги с вопросом.",
        "rp_sla_help": "Цели, выполненные в срок ÷ цели, выполненные или просроченные в периоде.",
        "rp_min": "мин", "rp_h": "ч", "rp_d": "д", "rp_total_time": "Всего",
        "rp_manager_only": "Отчёты доступны только руководителям.", "rp_backlog_now": "Бэклог на конец",
        "rp_uncategorized": "(без категории)", "rp_chart_table": "Таблица", "rp_category": "Категория",
    },
}
for _lang, _texts in REPORT_TEXTS.items():  # one texts table for the whole console (base.html's nav uses them)
    TEXTS[_lang].update(_texts)


@router.get("/console/reports")
def reports_page(request: Request) -> HTMLResponse:
    agent, _ = _signed_in(request)
    if agent is not None and agent.role != "manager":
        return _render(request, "console/reports.html", 403, agent=agent, page="reports", forbidden=True,
                       csrf=console_auth.csrf_token(_secret(request), request.cookies[console_auth.COOKIE]))
    return _page(request, "console/reports.html", page="reports",
                 timezone=request.app.state.runtime.settings.timezone)
