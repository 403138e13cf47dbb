"""The console's message catalogs (Vietnamese first, English second) and each request's language."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("vi", "en")


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    return json.loads((Path(__file__).parent / "locale" / f"{lang}.json").read_text(encoding="utf-8"))


def translator(lang: str):
    """t(key, **values): the text in `lang`, else Vietnamese, else the key itself."""
    messages = catalog(lang)

    def t(key: str, **values) -> str:
        text = messages.get(key) or catalog("vi").get(key, key)
        return text.format(**values) if values else text
    return t


def problem_text(problem: str, lang: str) -> str:
    """An importer problem (English, for logs and the CLI) as the console user reads it; problems
    with numbers in them stay as they are."""
    return catalog(lang).get("problem." + problem, problem)
