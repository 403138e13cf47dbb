"""Feedback to the staff for each workflow outcome; back-ends are chosen by config (log-only here)."""
from __future__ import annotations

import logging

log = logging.getLogger("kiosk.feedback")


class FeedbackSink:
    def signal(self, kind: str, message: str, detail: str = "") -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class LogFeedback(FeedbackSink):
    """Writes each signal to the log (the kind and reason only: never a citizen's ID or phone)."""

    def __init__(self):
        self.history: list[tuple[str, str]] = []

    def signal(self, kind: str, message: str, detail: str = "") -> None:
        self.history.append((kind, detail))
        log.debug("feedback %s %s", kind, detail if kind not in ("accepted", "duplicate") else "")
