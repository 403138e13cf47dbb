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
