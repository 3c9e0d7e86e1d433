"""Knowledge-base pages of the agent console: /console/kb (browse, open, edit with a live preview, publish /
archive, revisions with diffs, learned phrasings) and /console/kb/review (drafts proposed from resolutions).

Server-rendered shells like the rest of the console; api/static/console/kb.js fills them from the JSON API in
api/kb_admin_views.py (+ /api/v1/kb/search) with the console's session cookie and X-CSRF-Token header.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.console_views import TEXTS, _page

router = APIRouter(include_in_schema=False)

KB_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "kb": "Knowledge base",
        "review": "Review",
        "kb_published": "Published",
        "kb_draft": "Drafts",
        "kb_archived": "Archived",
        "kb_filter": "Filter by title",
        "kb_filter_ph": "Part of a title",
        "kb_semantic": "Search by meaning",
        "kb_semantic_ph": "A user's question",
        "kb_find": "Find",
        "kb_new": "New article",
        "kb_none": "No articles.",
        "kb_back": "← Knowledge base",
        "kb_title": "Title",
        "kb_tags": "Tags (comma-separated)",
        "kb_body": "Text (Markdown)",
        "kb_preview": "Preview",
        "kb_save": "Save",
        "kb_publish": "Publish",
        "kb_archive": "Archive",
        "kb_saved": "Saved: a new revision was written.",
        "kb_revisions": "Revisions",
        "kb_diff": "Diff with previous",
        "kb_diff_h": "Changes",
        "kb_no_diff": "No changes.",
        "kb_phrasings": "Learned phrasings",
        "kb_phrasings_help": "Questions the bot learned to answer with this article, and questions users said it didn't help with (the article ranks lower for those). Delete one to undo the learning.",
        "kb_rejected_phrasing": "didn't help",
        "kb_undo": "Delete",
        "kb_no_phrasings": "Nothing learned yet.",
        "kb_id": "Article id (optional)",
        "kb_feedback": "Feedback",
        "kb_origin": "Origin",
        "kb_updated": "Updated",
        "kb_review_h": "Review queue",
        "kb_review_help": "Drafts proposed from resolved tickets. Approving publishes "
        "the article: the bot answers with it right away.",
        "kb_approve": "Approve",
        "kb_edit": "Edit",
        "kb_editor_only": "Publishing, archiving and changing published articles need the KB-editor permission: "
        "ask a manager. You can write drafts.",
        "kb_reject": "Reject",
        "kb_review_empty": "No drafts waiting for review.",
        "kb_approved": "Approved and published",
        "kb_rejected": "Rejected",
        "kb_confirm_reject": "Reject and delete this draft?",
        "kb_confirm_undo": "Delete this learned phrasing?",
        "kb_public": "Public page",
        "kb_score": "score",
        "kb_by": "by",
        "kb_st_published": "Published",
        "kb_st_draft": "Draft",
        "kb_st_archived": "Archived",
    },
    "ru": {
        "kb": "База знаний",
        "review": "На проверку",
        "kb_published": "Опубликованные",
        "kb_draft": "Черновики",
        "kb_archived": "В архиве",
        "kb_filter": "Фильтр по названию",
        "kb_filter_ph": "Часть названия",
        "kb_semantic": "Поиск по смыслу",
        "kb_semantic_ph": "Вопрос пользователя",
        "kb_find": "Найти",
        "kb_new": "Новая статья",
        "kb_none": "Статей нет.",
        "kb_back": "← База знаний",
        "kb_title": "Название",
        "kb_tags": "Теги (через запятую)",
        "kb_body": "Текст (Markdown)",
        "kb_preview": "Предпросмотр",
        "kb_save": "Сохранить",
        "kb_publish": "Опубликовать",
        "kb_archive": "В архив",
        "kb_saved": "Сохранено: записана новая редакция.",
        "kb_revisions": "Редакции",
        "kb_diff": "Сравнить с предыдущей",
        "kb_diff_h": "Изменения",
        "kb_no_diff": "Изменений нет.",
        "kb_phrasings": "Выученные формулировки",
        "kb_phrasings_help": "Вопросы, на которые бот научился отвечать этой статьёй, и вопросы, где она не помогла (для них статья ранжируется ниже). Удалите, чтобы отменить обучение.",
        "kb_rejected_phrasing": "не помогла",
        "kb_undo": "Удалить",
        "kb_no_phrasings": "Пока ничего не выучено.",
        "kb_id": "Id статьи (необязательно)",
        "kb_feedback": "Отзывы",
        "kb_origin": "Источник",
        "kb_updated": "Обновлена",
        "kb_review_h": "Очередь проверки",
        "kb_review_help": "Черновики, предложенные по решённым заявкам. "
        "Одобренная статья публикуется, и бот сразу отвечает ею.",
        "kb_approve": "Одобрить",
        "kb_edit": "Изменить",
        "kb_editor_only": "Публиковать, архивировать и менять опубликованные статьи может редактор базы знаний: "
        "обратитесь к менеджеру. Черновики вы можете писать.",
        "kb_reject": "Отклонить",
        "kb_review_empty": "Черновиков на проверку нет.",
        "kb_approved": "Одобрено и опубликовано",
        "kb_rejected": "Отклонено",
        "kb_confirm_reject": "Отклонить и удалить черновик?",
        "kb_confirm_undo": "Удалить эту выученную формулировку?",
        "kb_public": "Публичная страница",
        "kb_score": "оценка",
        "kb_by": "автор",
        "kb_st_published": "Опубликована",
        "kb_st_draft": "Черновик",
        "kb_st_archived": "В архиве",
    },
}
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
