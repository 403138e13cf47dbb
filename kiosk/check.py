"""Check mode: a scanned person's result status from the central server, turned into what the screen shows.

`outcome()` is pure (the status answer in, the display text out); `StatusClient` is the thin edge
that asks `GET /api/v1/persons/status` with a short timeout. When the server cannot be reached the
kiosk says it cannot check: it never guesses from what it stored itself. The result value (and the
need for an individual test after a positive pool) is shown only while staff are signed in.
"""
from __future__ import annotations

import concurrent.futures
import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

import requests

from kiosk import messages
from kiosk.codes import PersonScan
from samplepoint import transport

log = logging.getLogger(__name__)

# Feedback kinds of check mode (display colour and buzzer pattern per kind).
CHECK_VALID, CHECK_EXPIRED, CHECK_NO_RESULT, CHECK_UNAVAILABLE, CHECK_CONFLICT, CHECK_SEE_STAFF = (
    "check-valid", "check-expired", "check-no-result", "check-unavailable", "check-conflict",
    "check-see-staff")
COLOURS = {CHECK_VALID: "green", CHECK_EXPIRED: "red", CHECK_NO_RESULT: "amber",
           CHECK_UNAVAILABLE: "grey", CHECK_CONFLICT: "red", CHECK_SEE_STAFF: "red"}

MSG_VALID = "CÒN HIỆU LỰC"
MSG_EXPIRED = "HẾT HIỆU LỰC"
MSG_NO_RESULT = "CHƯA CÓ KẾT QUẢ"
MSG_UNAVAILABLE = "KHÔNG KIỂM TRA ĐƯỢC"
MSG_CONFLICT = "CẦN XÉT NGHIỆM LẠI"
MSG_CONFLICT_LINE = "Kết quả mâu thuẫn — cần xét nghiệm lại"
MSG_SEE_STAFF = "MỜI GẶP NHÂN VIÊN Y TẾ"
MSG_SEE_STAFF_LINE = "Kết quả cần nhân viên y tế trao đổi trực tiếp"
MSG_OFFLINE = "Không kết nối được máy chủ — không thể kiểm tra lúc này"
MSG_MASKED = "Mã QR bị che số định danh — đề nghị mở mã QR đầy đủ trên ứng dụng"
MSG_TUBE_IN_CHECK = messages.TUBE_IN_CHECK
RESULT_WORDS = {"negative": "Âm tính", "positive": "Dương tính"}
RESULT_CODES = ("negative", "positive", "pool-positive")
_UNTIL = re.compile(r"[0-9]{2}:[0-9]{2} [0-9]{2}/[0-9]{2}/[0-9]{4}")
_BORN = re.compile(r"[0-9]{4}")
_MASKED = re.compile(r"\*{5}[0-9A-Za-z*]{1,4}")
MAX_NAME = 80
_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,%d}" % MAX_NAME)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MSG_POOL_POSITIVE = "Kết quả: Mẫu gộp dương tính"
MSG_INDIVIDUAL = "Cần xét nghiệm mẫu đơn (mẫu gộp dương tính)"


class CheckUnavailable(RuntimeError):
    """The central server could not answer; the reason is for logs (no personal data)."""


@dataclass(frozen=True)
class CheckOutcome:
    kind: str            # one of the CHECK_* kinds
    colour: str
    headline: str        # large type
    lines: tuple[str, ...] = ()
    until: str = ""      # valid-until time as shown ("HH:MM dd/mm/yyyy"), when there is one
    result: str = ""     # negative | positive | pool-positive, only for signed-in staff
    reason: str = ""     # why it could not check: offline | masked
    who: tuple[str, str, str] = ("", "", "")   # whose result: name, birth year, masked ID


    @property
    def message(self) -> str:
        return "\n".join((self.headline, *self.lines))

    @property
    def detail(self) -> str:
        """The outcome's facts for the display (which words them in its own language)."""
        name, born, masked = self.who
        return json.dumps({"until": self.until, "result": self.result, "reason": self.reason,
                           "name": name, "born": born, "masked": masked}, ensure_ascii=False)


def masked_id(id_number: str) -> str:
    """Only the last four characters of an ID number are ever shown: `*****9317`."""
    return "*****" + id_number[-4:] if id_number else ""


def for_person(result: CheckOutcome, person) -> CheckOutcome:
    """The outcome naming whose result it is (name, birth year, masked ID), so it cannot be misread."""
    dob = person.date_of_birth or ""
    born = dob[:4] if re.fullmatch(r"\d{4}-\d{2}-\d{2}", dob) else ""
    name = _CONTROL.sub("", person.full_name or "")[:MAX_NAME]
    return replace(result, who=(name, born, masked_id(person.id_number or "")))


def parse_detail(detail: str) -> dict[str, str]:
    """The facts `CheckOutcome.detail` carried; anything unexpected is dropped, never shown."""
    try:
        data = json.loads(detail) if isinstance(detail, str) and len(detail) < 300 else {}
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    allowed = {"until": _UNTIL, "result": RESULT_CODES, "reason": ("offline", "masked"),
               "born": _BORN, "masked": _MASKED, "name": _NAME}
    facts = {}
    for name, choices in allowed.items():
        value = data.get(name)
        if isinstance(value, str) and value and (
                choices.fullmatch(value) if isinstance(choices, re.Pattern) else value in choices):
            facts[name] = value
    return facts


def unavailable(reason_text: str = MSG_OFFLINE) -> CheckOutcome:
    reason = "masked" if reason_text == MSG_MASKED else "offline"
    return CheckOutcome(CHECK_UNAVAILABLE, COLOURS[CHECK_UNAVAILABLE], MSG_UNAVAILABLE, (reason_text,),
                        reason=reason)


def _moment(value, tz: tzinfo) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(tz) if moment.tzinfo else None
    except (ValueError, OverflowError):
        return None


def _when(moment: datetime) -> str:
    return moment.strftime("%H:%M %d/%m/%Y")


def outcome(answer, *, staff_signed_in: bool, tz: tzinfo) -> CheckOutcome:
    """The display for one status answer; an answer that does not make sense counts as no answer.
    Conflicting results (central.verdict) are shown to anyone, whatever else the answer says: the
    person needs a new test and has no valid result."""
    if not isinstance(answer, dict):
        return unavailable()
    state = answer.get("state")
    until = _moment(answer.get("valid_until"), tz)
    if state == "conflict" or answer.get("conflict") is True or answer.get("result") == "conflict":
        return CheckOutcome(CHECK_CONFLICT, COLOURS[CHECK_CONFLICT], MSG_CONFLICT, (MSG_CONFLICT_LINE,))
    if state == "no-result":
        result = CheckOutcome(CHECK_NO_RESULT, COLOURS[CHECK_NO_RESULT], MSG_NO_RESULT)
    elif state == "valid" and until is not None and _positive(answer):
        # Never the green "valid" for a positive: to anyone not signed in that reads as negative.
        result = CheckOutcome(CHECK_SEE_STAFF, COLOURS[CHECK_SEE_STAFF], MSG_SEE_STAFF,
                              (MSG_SEE_STAFF_LINE,), until=_when(until))
    elif state == "valid" and until is not None:
        result = CheckOutcome(CHECK_VALID, COLOURS[CHECK_VALID], MSG_VALID,
                              (f"Hiệu lực đến {_when(until)}",), until=_when(until))
    elif state == "expired" and until is not None:
        result = CheckOutcome(CHECK_EXPIRED, COLOURS[CHECK_EXPIRED], MSG_EXPIRED,
                              (f"Đã hết hiệu lực lúc {_when(until)}",), until=_when(until))
    else:
        return unavailable()
    if staff_signed_in and state != "no-result":
        extra, code = [], ""
        value = answer.get("result")
        word = RESULT_WORDS.get(value) if isinstance(value, str) else None
        if answer.get("needs_individual_test") is True:
            extra, code = [MSG_POOL_POSITIVE, MSG_INDIVIDUAL], "pool-positive"
        elif word:
            extra, code = [f"Kết quả: {word}"], answer["result"]
        result = replace(result, lines=result.lines + tuple(extra), result=code)
    return result


def _positive(answer: dict) -> bool:
    return answer.get("result") in ("positive", "pool-positive") \
        or answer.get("needs_individual_test") is True


def lookup_for(scan: PersonScan) -> dict[str, str] | None:
    """Query parameters that identify the person, or None when the code hides the ID (masked)."""
    if scan.person.qid:
        return {"qid": scan.person.qid}
    if "*" not in scan.person.id_number:
        return {"id_number": scan.person.id_number}
    return None


class StatusClient:
    """Asks the central server for a person's status with the device token; bounded by a timeout."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 3.0, ca_bundle: str = "",
                 allow_insecure_http: bool = False):
        self.url = base_url.rstrip("/") + "/api/v1/persons/status"
        self.timeout = timeout
        # Verified TLS (or loopback) only, redirects never followed: the answer decides what staff see.
        self.session = transport.SecureSession(transport.CENTRAL, base_url, ca_bundle=ca_bundle,
                                               allow_insecure=allow_insecure_http)
        self.refused = self.session.refused
        self.session.headers.update({"Authorization": f"Bearer {token}",
                                     "User-Agent": "samplepoint-kiosk/1"})
        # requests' timeout bounds each socket read, not the whole answer: a server dripping one
        # byte at a time could hold the scanning loop. One worker thread and a total deadline.
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="status-check")

    def status(self, params: dict[str, str]) -> dict:
        future = self._worker.submit(self._fetch, params)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise CheckUnavailable(f"no answer within {self.timeout:.0f} s") from None

    def _fetch(self, params: dict[str, str]) -> dict:
        try:
            response = self.session.get(self.url, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise CheckUnavailable(f"network: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise CheckUnavailable(f"HTTP {response.status_code}")
        try:
            return response.json()
        except (ValueError, RecursionError):
            raise CheckUnavailable("answer is not JSON") from None


class CheckMode:
    """What the kiosk does with a personal code while check mode is on."""

    def __init__(self, client: StatusClient, tz: tzinfo):
        self.client = client
        self.tz = tz

    def check(self, scan: PersonScan, *, staff_signed_in: bool) -> CheckOutcome:
        params = lookup_for(scan)
        if params is None:
            return unavailable(MSG_MASKED)
        try:
            answer = self.client.status(params)
            return outcome(answer, staff_signed_in=staff_signed_in, tz=self.tz)
        except CheckUnavailable:
            return unavailable()
        except Exception:          # a strange answer must never stop the kiosk
            log.exception("status answer could not be shown")
            return unavailable()
