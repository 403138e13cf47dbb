"""The portal's message catalogs (Vietnamese first, English second) and the language of a request."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("vi", "en")
DEFAULT = "vi"


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    path = Path(__file__).parent / "locale" / f"{lang}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def pick(requested: str | None) -> str:
    """The language asked for (?lang=), else Vietnamese: links carry it, no cookie needed."""
    return requested if requested in LANGUAGES else DEFAULT


def translator(lang: str):
    messages = catalog(lang)

    def t(key: str, **values) -> str:
        text = messages.get(key) or catalog(DEFAULT).get(key, key)
        return text.format(**values) if values else text
    return t
