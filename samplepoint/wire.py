"""Sample record wire format, version 1: the JSON that devices send and the central server stores.

The one definition shared by the device and the central server (see docs/protocol.md). Readers
ignore fields they do not know, so later versions can add fields without breaking old servers.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

WIRE_VERSION = 1
TEST_TYPES = ("rt-pcr", "rapid-antigen")
SOURCES = ("personal-qr", "cccd", "declaration")
GENDERS = ("male", "female", "unknown")
STATUSES = ("closed", "cancelled")
MAX_PERSONS = 50
MAX_TEXT = 200
MAX_TUBE_CODE = 64
MIN_YEAR, MAX_YEAR = 1970, 2199     # 1970: an unset clock's time, still stored (and flagged)
# Clock evidence the forwarder sends with each delivery, and the server's answer header
# (docs/results-and-retention.md).
HEADER_OFFSET = "Samplepoint-Clock-Offset"        # central minus device clock, seconds
HEADER_DEVICE_TIME = "Samplepoint-Device-Time"    # device wall clock when the request was built
HEADER_MONOTONIC = "Samplepoint-Monotonic"        # device monotonic clock at that same moment
HEADER_BOOT_ID = "Samplepoint-Boot-Id"
SERVER_TIME_HEADER = "Samplepoint-Server-Time"    # on every central answer, with milliseconds
OPTIONAL_CLOCK_FIELDS = ("clock_synchronised", "monotonic_s", "boot_id")
MAX_MONOTONIC_S = 10 ** 10               # ~300 years of uptime: anything larger is garbage
MAX_DEPTH = 32                           # a record is 4 levels deep; unknown fields get room to grow


def rekey_advice(device_id: str = "DEVICE-ID", site_id: str = "SITE-ID") -> str:
    """What to do when the central server refuses a device's token or its id is already enrolled:
    `samplepoint doctor`, `samplepoint enrol`, the forwarder and docs/central.md all say this."""
    return (f"ask the central server's operator to run `samplepoint central add-device --rekey "
            f"--device-id {device_id} --site-id {site_id}` and write the printed token into the "
            f"device's central.token_file (mode 0600)")


class WireError(ValueError):
    """A record that does not follow the wire format; `field` names the offending field."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Person:
    source: str
    id_number: str
    full_name: str
    date_of_birth: str | None = None      # YYYY-MM-DD
    gender: str = "unknown"
    phone: str | None = None
    qid: str | None = None
    declared_on_behalf: bool = False
    declarer_qid: str | None = None


@dataclass(frozen=True)
class SampleRecord:
    record_id: str
    tube_code: str
    pool_size: int
    test_type: str
    sample_type: str
    collected_at: str                     # ISO 8601 with offset
    site_id: str
    device_id: str
    staff_id: str
    persons: tuple[Person, ...] = field(default_factory=tuple)
    status: str = "closed"
    cancel_reason: str | None = None
    # Optional clock evidence (docs/results-and-retention.md): omitted from the body when unknown,
    # so records without it keep the exact bytes older devices send.
    clock_synchronised: bool | None = None     # was the system clock NTP-synchronised at collection?
    monotonic_s: float | None = None           # seconds since boot at collection (CLOCK_MONOTONIC)
    boot_id: str | None = None                 # which boot monotonic_s counts from

    def to_json(self) -> dict:
        body = asdict(self)
        body["persons"] = [asdict(p) for p in self.persons]
        for name in OPTIONAL_CLOCK_FIELDS:
            if body[name] is None:
                del body[name]
        return {"version": WIRE_VERSION, **body}


def canonical(body: dict) -> str:
    """The byte-stable JSON text of a body: what idempotency compares.

    Raises WireError for a body nested deeper than MAX_DEPTH (json.dumps would recurse until
    RecursionError on a few hundred levels) or holding text that cannot be encoded.
    """
    if nesting_depth(body) > MAX_DEPTH:
        raise WireError("(body)", f"is nested deeper than {MAX_DEPTH} levels")
    try:
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        raise WireError("(body)", f"is nested deeper than {MAX_DEPTH} levels") from None


def nesting_depth(value, limit: int = MAX_DEPTH) -> int:
    """How deep lists and objects nest in decoded JSON (a scalar is 0), counted without recursion;
    stops counting once past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            return deepest
        stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return deepest


def new_record_id() -> str:
    return str(uuid.uuid4())


# --- reading -------------------------------------------------------------------------------------

# Characters no field may hold: C0/C1 controls, DEL, zero-width and bidi overrides (which can
# disguise a name on screen or in a spreadsheet), the BOM, and lone surrogates (not encodable).
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff"
                           "\ud800-\udfff]")


def _text(obj: dict, name: str, where: str, *, required=True, max_len=MAX_TEXT) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise WireError(where + name, "is required")
        return None
    if not isinstance(value, str):
        raise WireError(where + name, "must be a string")
    if required and not value.strip():
        raise WireError(where + name, "must not be empty")
    if len(value) > max_len:
        raise WireError(where + name, f"is longer than {max_len} characters")
    if CONTROL_CHARS.search(value):
        raise WireError(where + name, "contains control or invisible characters")
    return value


def _choice(obj: dict, name: str, choices, where: str, default=None) -> str:
    value = obj.get(name, default)
    if value not in choices:
        raise WireError(where + name, "must be one of " + ", ".join(choices))
    return value


def _parse_person(obj, index: int) -> Person:
    where = f"persons[{index}]."
    if not isinstance(obj, dict):
        raise WireError(f"persons[{index}]", "must be an object")
    dob = _text(obj, "date_of_birth", where, required=False, max_len=10)
    if dob is not None:
        try:
            date.fromisoformat(dob)
        except ValueError:
            raise WireError(where + "date_of_birth", "must be a date YYYY-MM-DD") from None
    on_behalf = obj.get("declared_on_behalf", False)
    if not isinstance(on_behalf, bool):
        raise WireError(where + "declared_on_behalf", "must be true or false")
    return Person(
        source=_choice(obj, "source", SOURCES, where),
        id_number=_text(obj, "id_number", where, max_len=40),
        full_name=_text(obj, "full_name", where),
        date_of_birth=dob,
        gender=_choice(obj, "gender", GENDERS, where, default="unknown"),
        phone=_text(obj, "phone", where, required=False, max_len=20),
        qid=_text(obj, "qid", where, required=False, max_len=40),
        declared_on_behalf=on_behalf,
        declarer_qid=_text(obj, "declarer_qid", where, required=False, max_len=40),
    )


def parse_record(obj) -> SampleRecord:
    """Validate a decoded JSON body into a SampleRecord, or raise WireError naming the field."""
    if not isinstance(obj, dict):
        raise WireError("(body)", "must be a JSON object")
    try:
        canonical(obj).encode("utf-8")      # unknown fields are kept verbatim: they must encode too
    except UnicodeEncodeError:
        raise WireError("(body)", "holds text that is not valid Unicode (a lone surrogate)") from None
    version = obj.get("version", WIRE_VERSION)
    if version != WIRE_VERSION:
        raise WireError("version", f"unsupported version {version!r}; this reader speaks {WIRE_VERSION}")
    record_id = _text(obj, "record_id", "", max_len=36)
    try:
        if str(uuid.UUID(record_id)) != record_id:
            raise ValueError
    except ValueError:
        raise WireError("record_id", "must be a lower-case UUID") from None
    pool_size = obj.get("pool_size")
    if not isinstance(pool_size, int) or isinstance(pool_size, bool) or not 1 <= pool_size <= MAX_PERSONS:
        raise WireError("pool_size", f"must be an integer from 1 to {MAX_PERSONS}")
    collected_at = _text(obj, "collected_at", "", max_len=40)
    try:
        moment = datetime.fromisoformat(collected_at)
        if moment.utcoffset() is None:
            raise ValueError
    except ValueError:
        raise WireError("collected_at", "must be ISO 8601 with a UTC offset, e.g. "
                                        "2021-08-20T09:15:00+07:00") from None
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise WireError("collected_at", f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    persons = obj.get("persons")
    if not isinstance(persons, list):
        raise WireError("persons", "must be a list")
    if len(persons) > pool_size:
        raise WireError("persons", f"has {len(persons)} people but pool_size is {pool_size}")
    status = _choice(obj, "status", STATUSES, "", default="closed")
    if status == "closed" and not persons:
        raise WireError("persons", "a closed tube must hold at least one person")
    return SampleRecord(
        record_id=record_id,
        tube_code=_text(obj, "tube_code", "", max_len=MAX_TUBE_CODE),
        pool_size=pool_size,
        test_type=_choice(obj, "test_type", TEST_TYPES, ""),
        sample_type=_text(obj, "sample_type", "", max_len=64),
        collected_at=collected_at,
        site_id=_text(obj, "site_id", "", max_len=64),
        device_id=_text(obj, "device_id", "", max_len=64),
        staff_id=_text(obj, "staff_id", "", max_len=64),
        persons=tuple(_parse_person(p, i) for i, p in enumerate(persons)),
        status=status,
        cancel_reason=_text(obj, "cancel_reason", "", required=status == "cancelled"),
        **_clock_fields(obj),
    )


def _clock_fields(obj: dict) -> dict:
    """The optional clock evidence: absent is fine, present must be well-formed."""
    synced = obj.get("clock_synchronised")
    if synced is not None and not isinstance(synced, bool):
        raise WireError("clock_synchronised", "must be true or false")
    mono = obj.get("monotonic_s")
    if mono is not None:
        if (not isinstance(mono, (int, float)) or isinstance(mono, bool)
                or not 0 <= mono < MAX_MONOTONIC_S):      # also refuses NaN and infinities
            raise WireError("monotonic_s", "must be a number of seconds since boot")
        mono = float(mono)
    boot_id = _text(obj, "boot_id", "", required=False, max_len=64)
    return {"clock_synchronised": synced, "monotonic_s": mono, "boot_id": boot_id}
