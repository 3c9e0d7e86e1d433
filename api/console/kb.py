"""Knowledge-base pages of the agent console: /console/kb (browse, open, edit with a live preview, publish /
archive, revisions with diffs, learned phrasings) and /console/kb/review (drafts proposed from resolutions).

Server-rendered shells like the rest of the console; api/static/console/kb.js fills them from the JSON API in
api/routes/kb_admin.py (+ /api/v1/kb/search) with the console's session cookie and X-CSRF-Token header.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.console.pages import TEXTS, _page
from core.i18n import ui_texts

router = APIRouter(include_in_schema=False)

KB_TEXTS: dict[str, dict[str, str]] = ui_texts("console_kb")
for _lang, _texts in KB_TEXTS.items():  # one texts table for the whole console (base.html's nav uses them)
    TEXTS[_lang].update(_texts)


@router.get("/console/kb")
def kb_page(request: Request) -> HTMLResponse:
    return _page(request, "console/kb.html", page="kb")


@router.get("/console/kb/review")
def kb_review_page(request: Request) -> HTMLResponse:
    return _page(request, "console/kb_review.html", page="kb-review")


@router.get("/console/kb/new")
def kb_new_page(request: Request) -> HTMLResponse:
    return _page(request, "console/kb_article.html", page="kb-article", article_id="")


@router.get("/console/kb/articles/{article_id}")
def kb_article_page(request: Request, article_id: str) -> HTMLResponse:
    return _page(request, "console/kb_article.html", page="kb-article", article_id=article_id)
