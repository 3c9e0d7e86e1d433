"""Service-desk reports for a week / month / year or any range: JSON, CSV and XLSX (manager only).

The numbers come from tickets.reports (definitions in its docstring and docs/operations.md); this module
only picks the period in the desk's timezone (settings.timezone) and renders the format asked for.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Font

from api.deps import ReadSessionDep, RuntimeDep, ViewerDep, visible_organisation
from people.models import Organisation
from tickets import organisations, reports

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
FORMATS = ("json", "csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/summary", summary="Service-desk report for a week, month, year or any range of days")
def report_summary(
    session: ReadSessionDep,
    viewer: ViewerDep,
    rt: RuntimeDep,
    period: Annotated[
        str | None, Query(description="week | month | year (default week); ignored when end is given")
    ] = None,
    start: Annotated[
        str | None,
        Query(
            description="YYYY-MM-DD: a day in the wanted week/month/year (default today), or the first day of a range"
        ),
    ] = None,
    end: Annotated[str | None, Query(description="YYYY-MM-DD: last day of a range (inclusive)")] = None,
    format: Annotated[str, Query(description="json | csv | xlsx")] = "json",
    organisation: Annotated[
        str | None, Query(max_length=200, description="one client organisation, by id or name")
    ] = None,
) -> Response:
    """Tickets opened/resolved by channel, category and line; bot deflection and handoff reasons; first
    response and resolution times (median, p90); SLA compliance; first-contact resolution; escalation rate;
    time logged per agent; backlog trend. Period boundaries are local midnights in settings.timezone."""
    if format not in FORMATS:
        raise HTTPException(422, f"format must be one of {', '.join(FORMATS)} (got {format!r})")
    if viewer.role not in ("manager", "client_manager"):
        raise HTTPException(403, f"reports need the manager or client manager role (you are {viewer.role})")
    org_id = _organisation_id(session, organisation) if organisation else None
    scope = visible_organisation(viewer)
    if scope is not None:  # a client manager: their own organisation, whatever they asked for
        if org_id is not None and org_id != scope:
            raise HTTPException(403, "a client manager sees their own organisation's reports only")
        org_id = scope
    now = datetime.now(timezone.utc)
    try:
        p = reports.resolve_period(period, start, end, tz=rt.settings.timezone, now=now)
    except reports.ReportInputError as exc:
        raise HTTPException(422, str(exc)) from None
    report = reports.summary(session, p, now=now, organisation_id=org_id)
    if format == "json":
        return JSONResponse(report)
    name = f"firstline-report-{p.first_day.isoformat()}_{p.last_day.isoformat()}"
    if format == "csv":
        return Response(
            to_csv(reports.tables(report)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        to_xlsx(reports.tables(report)),
        media_type=XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


def _organisation_id(session, value: str) -> int:
    found = organisations.find(session, value)
    if found is None and value.strip().isdigit():
        found = session.get(Organisation, int(value))
    if found is None:
        raise HTTPException(422, f"no organisation {value!r} (give its id or its name)")
    return found.id


def to_csv(tables: list[reports.Table]) -> str:
    """One section per table: a "# name" line, the header row, the rows, then an empty line."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for t in tables:
        w.writerow([f"# {t.name}"])
        w.writerow(t.headers)
        w.writerows([["" if v is None else v for v in row] for row in t.rows])
        w.writerow([])
    return out.getvalue()


def to_xlsx(tables: list[reports.Table]) -> bytes:
    """One sheet per table; bar charts of opened/resolved (per channel, per bucket), a line chart of the
    backlog, a bar chart of handoff reasons."""
    wb = Workbook()
    wb.remove(wb.active)
    for t in tables:
        ws = wb.create_sheet(t.name[:31])
        ws.append(t.headers)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in t.rows:
            ws.append(row)
            for cell in ws[ws.max_row]:  # text like "=…" (a name, a slug) stays text, never a formula
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"
        ws.column_dimensions["A"].width = max(14, *(len(str(r[0])) + 2 for r in [t.headers, *t.rows]))
        n = len(t.rows)
        if not n:
            continue
        if t.name in ("by_channel", "trend"):
            first_col = 2 if t.name == "by_channel" else 3
            chart = BarChart()
            chart.title = "Opened / resolved" + (" per channel" if t.name == "by_channel" else "")
            chart.add_data(
                Reference(ws, min_col=first_col, max_col=first_col + 1, min_row=1, max_row=n + 1), titles_from_data=True
            )
            chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=n + 1))
            ws.add_chart(chart, "H2")
        if t.name == "trend":
            line = LineChart()
            line.title = "Backlog (open tickets at the end of each bucket)"
            line.add_data(Reference(ws, min_col=5, max_col=5, min_row=1, max_row=n + 1), titles_from_data=True)
            line.set_categories(Reference(ws, min_col=1, min_row=2, max_row=n + 1))
            ws.add_chart(line, "H20")
        if t.name == "handoff_reasons":
            chart = BarChart()
            chart.type, chart.title = "bar", "Handoff reasons"
            chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=n + 1), titles_from_data=True)
            chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=n + 1))
            ws.add_chart(chart, "E2")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
