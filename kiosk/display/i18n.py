"""The display's message catalogs (gettext .po files in translations/): Vietnamese first, English second.

Source strings (msgids) are English; `vi.po` translates them. Templates call `_()`; strings the page
script needs (state words, refusal reasons, cancel reasons) go to it as one JSON catalog.
"""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LANGUAGES = ("vi", "en")
FOLDER = Path(__file__).resolve().parent / "translations"


def N_(text: str) -> str:
    """Marks a string for the catalog without translating it here."""
    return text


# What the page script shows, keyed by the codes the snapshot carries.
SCRIPT_STRINGS = {
    "kind.accepted": N_("ACCEPTED"),
    "kind.refused": N_("REFUSED"),
    "kind.warning": N_("ACCEPTED — NOTE"),
    "hint.warning": N_("Added; this person was sampled in another tube moments ago"),
    "kind.duplicate": N_("ALREADY IN TUBE"),
    "kind.tube-full": N_("TUBE FULL"),
    "kind.none": N_("READY"),
    "kind.store-fault": N_("NOT SAVING"),
    "hint.store-fault": N_("Stop sampling: write by hand and call IT"),
    "hint.ready-tube": N_("Tube open — scan the next person"),
    "hint.ready-no-tube": N_("Scan a tube barcode to open a tube"),
    "hint.sign-in": N_("Sign in first: scan your staff badge"),
    "more-people": N_("earlier"),
    "kind.undone": N_("REMOVED"),
    "kind.tube-cancelled": N_("TUBE CANCELLED"),
    "hint.undone": N_("The last person was removed from the tube — scan again if needed"),
    "hint.tube-cancelled": N_("The tube was cancelled and kept as cancelled — scan a new tube"),
    "hint.accepted": N_("Scan the next person"),
    "hint.duplicate": N_("This person is already in the open tube — scan the next person"),
    "hint.tube-full": N_("The tube is full and closed — scan a new tube"),
    "born": N_("born"),
    "no-tube": N_("No open tube — scan a tube barcode"),
    "link.online": N_("Online"),
    "link.sending": N_("Sending"),
    "link.offline": N_("Offline"),
    "pending": N_("waiting to send"),
    "oldest": N_("oldest waiting"),
    "last-delivery": N_("last sent"),
    "never": N_("never"),
    "ago": N_("ago"),
    "quarantined": N_("set aside, call IT"),
    "nobody": N_("nobody signed in"),
    "unavailable": N_("Not available on this device yet"),
    "failed": N_("Could not do that — try again"),
    "done": N_("Done"),
    "empty-slot": N_("empty"),
    "rt-pcr": N_("RT-PCR"),
    "rapid-antigen": N_("Rapid antigen"),
    "reconnecting": N_("Reconnecting to the kiosk…"),
    "kind.check-valid": N_("RESULT VALID"),
    "kind.check-expired": N_("RESULT EXPIRED"),
    "kind.check-no-result": N_("NO RESULT YET"),
    "kind.check-unavailable": N_("CANNOT CHECK"),
    "kind.check-conflict": N_("RETEST NEEDED"),
    "check.conflict": N_("Conflicting results — a new test is needed"),
    "kind.check-see-staff": N_("SEE THE MEDICAL STAFF"),
    "check.see-staff": N_("The medical staff must talk this result through in person"),
    "check.until": N_("Valid until"),
    "check.expired-at": N_("Expired at"),
    "check.offline": N_("Cannot reach the central server — cannot check now"),
    "check.masked": N_("The QR code hides the ID number — open the full QR code in the app"),
    "check.no-result": N_("No result has arrived for this person yet"),
    "result.negative": N_("Result: negative"),
    "result.positive": N_("Result: positive"),
    "result.pool-positive": N_("Result: pooled sample positive — needs an individual test"),
    "check.mode": N_("CHECK MODE"),
    "check.button-on": N_("Check results"),
    "check.button-off": N_("Back to sampling"),
    "check.hint": N_("Scan a personal QR code to see its result status"),
    "check.ready": N_("READY TO CHECK"),
    "check.whose": N_("Result of"),
    "printer.reprint": N_("Reprint"),
    "printer.ready": N_("Printer ready"),
    "printer.printing": N_("Printing"),
    "printer.offline": N_("Printer not reachable"),
    "printer.no-paper": N_("Printer out of paper"),
    "printer.cover-open": N_("Printer cover open"),
    "printer.waiting": N_("slips waiting"),
    "clock.unsynchronised": N_("Device clock not synchronised — check the network; times will be corrected"),
}

# Refusal reasons (the workflow's `detail` codes) in the staff's words: what happened, what to do.
REASONS = {
    "no-tube": N_("No tube open — scan the tube barcode first"),
    "tube-open": N_("Another tube is open — close it before scanning a new tube"),
    "tube-used": N_("This tube code was already used — take a new tube"),
    "empty-tube": N_("The tube has nobody yet — scan a personal QR code before closing"),
    "unknown-code": N_("Code not supported — show the personal QR code in the app, or scan a tube"),
    "too-long": N_("Code too long, not a personal QR — reopen the QR code in the app"),
    "binary": N_("Code holds strange data — reopen the QR code in the app"),
    "control-characters": N_("Code holds strange data — reopen the QR code in the app"),
    "check-mode": N_("Check mode is on — no tube is opened; switch check mode off to sample"),
    "check-tube-open": N_("A tube is open — close or cancel it before switching to check mode"),
}
_BAD_PERSONAL_QR = N_("Invalid QR code — reopen the QR code in the app")
REASONS.update({code: _BAD_PERSONAL_QR for code in (
    "field-count", "bad-id", "bad-name", "bad-date", "bad-kind", "bad-qid", "bad-extras",
    "bad-gender", "bad-phone")})

CANCEL_REASONS = {
    "tube-damaged": N_("Tube damaged or spilled"),
    "wrong-person": N_("Wrong person scanned"),
    "sample-failed": N_("Sample could not be taken"),
    "other": N_("Other reason"),
}


@lru_cache(maxsize=None)
def translations(language: str) -> NullTranslations:
    """The compiled catalog for a language; English is the source language."""
    if language == "en":
        return NullTranslations()
    with open(FOLDER / f"{language}.po", "rb") as po:
        catalog = read_po(po, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def script_catalog(language: str) -> dict:
    _ = translations(language).gettext
    return {"text": {k: _(v) for k, v in SCRIPT_STRINGS.items()},
            "reasons": {k: _(v) for k, v in REASONS.items()},
            "cancel": {k: _(v) for k, v in CANCEL_REASONS.items()}}


def pick(requested: str | None, default: str) -> str:
    return requested if requested in LANGUAGES else default
