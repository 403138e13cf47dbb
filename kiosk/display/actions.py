"""The display's touch buttons as workflow events, handed to `Kiosk.dispatch` like any other event.

Each button builds the event the GPIO button would send; there is no second code path. A button
whose workflow event this build does not define yet (`EVENT_NAMES`) is reported unavailable, shown
disabled on screen, and answers 501: wiring it is naming the workflow's event class here.
"""
from __future__ import annotations

from datetime import datetime

from kiosk import workflow

# Button → name of the workflow event class it sends.
EVENT_NAMES = {
    "close": "CloseRequested",
    "undo": "UndoLast",
    "cancel": "CancelRequested",
    "sign-out": "SignOut",
    "check-mode": "SetCheckMode",
}

# Not a workflow event: prints the last slip again (kiosk/printer); available when a printer is set.
REPRINT = "reprint"

# Reasons a tube may be cancelled for, as offered on screen (stored in the record as the code).
CANCEL_REASONS = ("tube-damaged", "wrong-person", "sample-failed", "other")


class ActionError(ValueError):
    """The request named no known button or carried a bad parameter."""


class ActionUnavailable(LookupError):
    """The workflow of this build has no event for the button yet."""


def available() -> dict[str, bool]:
    return {name: hasattr(workflow, cls) for name, cls in EVENT_NAMES.items()}


def build_event(button: str, now: datetime, reason: str | None = None, on: bool | None = None):
    """The workflow event a button press sends; raises ActionError or ActionUnavailable.

    The check-mode button says which mode it wants (`on`), so a double tap cannot flip it twice.
    """
    if button not in EVENT_NAMES:
        raise ActionError("unknown button")
    if button == "cancel" and reason not in CANCEL_REASONS:
        raise ActionError("cancel needs one of the listed reasons")
    if button == "check-mode" and not isinstance(on, bool):
        raise ActionError("check-mode needs on: true or false")
    event_class = getattr(workflow, EVENT_NAMES[button], None)
    if event_class is None:
        raise ActionUnavailable(button)
    if button == "cancel":
        return event_class(now=now, reason=reason)
    if button == "check-mode":
        return event_class(on=on, now=now)
    return event_class(now=now)
