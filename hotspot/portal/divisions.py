"""Vietnam's administrative units in force since 1 July 2025 (province → commune/ward), from the
`vietnam-provinces` package's shipped data set."""
from __future__ import annotations

import json
from functools import lru_cache

import vietnam_provinces


@lru_cache(maxsize=1)
def _data():
    with open(vietnam_provinces.NESTED_DIVISIONS_JSON_PATH, encoding="utf-8") as handle:
        raw = json.load(handle)
    provinces = {p["code"]: p["name"] for p in raw}
    wards = {p["code"]: {w["code"]: w["name"] for w in p["wards"]} for p in raw}
    return provinces, wards


def version() -> str:
    return f"vietnam-provinces {vietnam_provinces.__version__} (data {vietnam_provinces.__data_version__})"


def provinces() -> dict[int, str]:
    """{province code: name}, in the data set's order (34 units)."""
    return _data()[0]


def wards(province_code: int) -> dict[int, str]:
    """{ward code: name} of one province; empty for an unknown code."""
    return _data()[1].get(province_code, {})
