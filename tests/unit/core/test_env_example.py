"""Every setting is documented where an operator looks first: `.env.example` names each one (so a new setting
without a line there fails here), and the README points to it."""

from __future__ import annotations

from core.settings import Settings
from tests.support.paths import ROOT


def env_names() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        names.append(alias or f"FIRSTLINE_{name.upper()}")
    return names


def test_every_setting_has_a_line_in_env_example():
    text = (ROOT / ".env.example").read_text()
    missing = [n for n in env_names() if f"# {n}=" not in text]
    assert not missing, f"add these to .env.example: {missing}"
    assert ".env.example" in (ROOT / "README.md").read_text()
