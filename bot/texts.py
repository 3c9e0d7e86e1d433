"""Everything the bot says to users (the texts themselves: `core/locales/<lang>.json`, section `bot`)."""

from __future__ import annotations

from core.i18n import ui_texts

TEXTS: dict[str, dict[str, str]] = ui_texts("bot")


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
