"""The console's reports page (/console/reports, managers and client managers): a period picker, charts drawn as inline
SVG by api/static/console/reports.js from /api/v1/reports/summary, tables under them, CSV / XLSX links."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.console import auth as console_auth
from api.console.pages import TEXTS, _page, _render, _secret, _signed_in
from core.i18n import ui_texts

router = APIRouter(include_in_schema=False)

REPORT_TEXTS: dict[str, dict[str, str]] = ui_texts("console_reports")
for _lang, _texts in REPORT_TEXTS.items():  # one texts table for the whole console (base.html's nav uses them)
    TEXTS[_lang].update(_texts)


@router.get("/console/reports")
def reports_page(request: Request) -> HTMLResponse:
    agent, _ = _signed_in(request)
    # Managers, and a client's manager (their organisation's numbers only: the API scopes them).
    if agent is not None and agent.role not in ("manager", "client_manager"):
        return _render(
            request,
            "console/reports.html",
            403,
            agent=agent,
            page="reports",
            forbidden=True,
            csrf=console_auth.csrf_token(_secret(request), request.cookies[console_auth.COOKIE]),
        )
    return _page(request, "console/reports.html", page="reports", timezone=request.app.state.runtime.settings.timezone)
