"""Reads the technician's CSV of sites into validated device settings, one row per device.

Columns (header row required, any order): device_id, site_id, site_name, hotspot_ssid, pool_size,
test_type, central_url, and optionally hostname. Every problem names its row and column. The file is
UTF-8 with or without a BOM, separated by `,` or `;` (Excel writes `;` where `,` is the decimal mark,
as in Vietnamese settings); UTF-16 and legacy encodings are refused with how to save it right.
"""
from __future__ import annotations

import copy
import csv
import io
import re
from dataclasses import dataclass

from samplepoint import config as config_module
from samplepoint import transport

REQUIRED = ("device_id", "site_id", "site_name", "hotspot_ssid", "pool_size", "test_type",
            "central_url")
OPTIONAL = ("hostname",)
MAX_BYTES = 1_000_000
MAX_ROWS = 5000
HOSTNAME_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class SitesError(ValueError):
    """The CSV cannot be used; the message names the row and column to fix."""


@dataclass(frozen=True)
class DeviceRow:
    device_id: str
    site_id: str
    site_name: str
    hotspot_ssid: str
    pool_size: int
    test_type: str
    central_url: str
    hostname: str


def _clean_text(value: str, where: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise SitesError(f"{where} is empty")
    if len(value) > limit or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise SitesError(f"{where} must be at most {limit} characters without control characters")
    return value


def _row(raw: dict, line: int, allow_insecure_http: bool = False) -> DeviceRow:
    def cell(name):
        value = raw.get(name)
        return "" if value is None else value

    where = lambda name: f"row {line}, column {name}"     # noqa: E731
    values = {}
    for name in ("device_id", "site_id"):
        value = cell(name).strip()
        problem = config_module.identifier(value)
        if problem:
            raise SitesError(f"{where(name)} {problem}")
        values[name] = value
    values["site_name"] = _clean_text(cell("site_name"), where("site_name"), 200)
    ssid = _clean_text(cell("hotspot_ssid"), where("hotspot_ssid"), 32)
    if len(ssid.encode("utf-8")) > 32:
        raise SitesError(f"{where('hotspot_ssid')} is longer than 32 bytes (Wi-Fi limit)")
    values["hotspot_ssid"] = ssid
    pool = cell("pool_size").strip()
    if not re.fullmatch(r"[0-9]{1,3}", pool) or not 1 <= int(pool) <= 50:
        raise SitesError(f"{where('pool_size')} must be a whole number from 1 to 50")
    values["pool_size"] = int(pool)
    test_type = cell("test_type").strip()
    if test_type not in config_module.TEST_TYPES:
        raise SitesError(f"{where('test_type')} must be one of: {', '.join(config_module.TEST_TYPES)}")
    values["test_type"] = test_type
    url = cell("central_url").strip()
    problem = config_module.base_url(url)
    if problem:
        raise SitesError(f"{where('central_url')} {problem}")
    refusal = transport.CENTRAL.named(where("central_url")).refusal(url, allow_insecure_http)
    if refusal:
        raise SitesError(refusal)
    values["central_url"] = url
    hostname = cell("hostname").strip().lower() or values["device_id"].lower().replace("_", "-").replace(".", "-")
    if not HOSTNAME_RE.fullmatch(hostname):
        raise SitesError(f"{where('hostname')} must be letters, digits and '-', at most 63")
    values["hostname"] = hostname
    return DeviceRow(**values)


def decode_csv(data: bytes) -> str:
    """The CSV file's text; refuses the encodings a spreadsheet may save in by mistake."""
    save_as = 'in Excel use Save As, "CSV UTF-8 (Comma delimited) (*.csv)"'
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SitesError(f"the CSV is saved as UTF-16 (Excel's \"Unicode Text\"); {save_as}")
    if len(data) > MAX_BYTES:
        raise SitesError("the CSV is larger than 1 MB; split it by campaign")
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SitesError(f"the CSV is not UTF-8 (line {line}; Windows-1258 or another legacy "
                         f"encoding?); {save_as}") from None


def _delimiter(header: str) -> str:
    """`;` when the header row is separated by semicolons, else `,`."""
    return ";" if header.count(";") > header.count(",") else ","


def parse_sites(text: str, allow_insecure_http: bool = False) -> list[DeviceRow]:
    """Every row of the CSV as a DeviceRow; raises SitesError for the first problem found.
    `allow_insecure_http`: the base config's central.allow_insecure_http (plain http:// central_url)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SitesError("the CSV is larger than 1 MB; split it by campaign")
    if "\0" in text:
        raise SitesError("the CSV contains NUL bytes; save it again as UTF-8 CSV")
    text = text.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text), delimiter=_delimiter(text.split("\n", 1)[0]))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise SitesError(f"header row lacks column(s): {', '.join(missing)}")
    reader.fieldnames = header
    rows, seen = [], set()
    try:
        for line, raw in enumerate(reader, start=2):
            if line - 1 > MAX_ROWS:
                raise SitesError(f"more than {MAX_ROWS} rows; split the CSV")
            if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
                continue
            row = _row(raw, line, allow_insecure_http)
            if row.device_id in seen:
                raise SitesError(f"row {line}: device_id {row.device_id} appears twice")
            seen.add(row.device_id)
            rows.append(row)
    except csv.Error as exc:
        raise SitesError(f"not a readable CSV ({exc})") from None
    if not rows:
        raise SitesError("the CSV has no device rows")
    return rows


def device_config(row: DeviceRow, base: dict | None = None) -> config_module.Config:
    """The device's configuration: the campaign's base config (a parsed TOML dict) with this row's
    values over it, validated by the one config schema."""
    raw = copy.deepcopy(base or {})
    row_values = {"site": {"id": row.site_id, "name": row.site_name, "pool_size": row.pool_size,
                           "test_type": row.test_type},
                  "device": {"id": row.device_id},
                  "central": {"url": row.central_url},
                  "hotspot": {"ssid": row.hotspot_ssid}}
    for section, values in row_values.items():
        if not isinstance(raw.setdefault(section, {}), dict):
            raise SitesError(f"the base config's {section} must be a [{section}] table")
        raw[section].update(values)
    return config_module.from_dict(raw, f"sites row {row.device_id}")


def config_toml(config: config_module.Config) -> str:
    """TOML text for the sections that differ from the defaults' sections (site, device, central...)."""
    import dataclasses
    lines = ["# Written by samplepoint prepare-sd. Every other key keeps its default.", ""]
    for name, cls in config_module.sections().items():
        section = getattr(config, name)
        changed = [(f.name, getattr(section, f.name)) for f in dataclasses.fields(cls)
                   if getattr(section, f.name) != getattr(cls(), f.name)]
        if changed:
            lines.append(f"[{name}]")
            lines += [f"{key} = {config_module._toml_value(value)}" for key, value in changed]
            lines.append("")
    return "\n".join(lines)
