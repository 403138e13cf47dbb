"""Feedback to the staff for each workflow outcome: buzzer and LEDs via gpiozero, or log only.

`FeedbackSink.signal(kind, message, detail)` is how outcomes leave the workflow; the back-end is
chosen by `feedback.backend`. The GPIO back-end plays a distinct pattern per kind on a background
thread (a new signal cuts the previous pattern short, so the latest scan is always what you hear),
keeps amber lit while records wait to be forwarded, and turns the close button into a callback.
Tests drive it with gpiozero's MockFactory, as gpiozero tests itself.
"""
from __future__ import annotations

import collections
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger("kiosk.feedback")
# Their detail may name a person or carry a result.
PRIVATE_KINDS = ("accepted", "duplicate", "warning", "signed-in", "check-valid", "check-expired",
                 "check-no-result", "check-unavailable", "check-conflict", "check-see-staff")


class FeedbackSink:
    def signal(self, kind: str, message: str, detail: str = "") -> None:
        raise NotImplementedError

    def queue_waiting(self, waiting: bool) -> None:
        """Records have waited too long to be forwarded (amber light); default: nothing to show."""

    def on_close_button(self, callback: Callable[[], None]) -> None:
        """Call callback when the staff press the close button; default: there is no button."""

    def close(self) -> None:
        pass


class LogFeedback(FeedbackSink):
    """Writes each signal to the log (the kind and reason only: never a citizen's ID or phone)."""

    def __init__(self, keep: int = 1000):
        # The latest signals, for tests and the demo; bounded so a kiosk running for weeks stays small.
        self.history: collections.deque[tuple[str, str]] = collections.deque(maxlen=keep)

    def signal(self, kind: str, message: str, detail: str = "") -> None:
        self.history.append((kind, detail))
        log.debug("feedback %s %s", kind, "" if kind in PRIVATE_KINDS else detail)


@dataclass(frozen=True)
class Step:
    seconds: float
    green: bool = False
    red: bool = False
    amber: bool = False
    tone: float | None = None      # Hz for a tonal buzzer; any value = on for an active buzzer


HIGH, MID, LOW, TOP = 1320.0, 880.0, 440.0, 1760.0
PATTERNS: dict[str, tuple[Step, ...]] = {
    "accepted": (Step(0.12, green=True, tone=HIGH), Step(0.38, green=True)),
    "refused": (Step(0.5, red=True, tone=LOW), Step(0.3, red=True)),
    "duplicate": (Step(0.1, red=True, tone=MID), Step(0.1, red=True), Step(0.1, red=True, tone=MID),
                  Step(0.4, red=True)),
    "warning": (Step(0.1, green=True, amber=True, tone=MID), Step(0.1, amber=True),
                Step(0.1, green=True, amber=True, tone=HIGH), Step(0.5, amber=True)),
    "tube-opened": (Step(0.08, green=True, tone=MID), Step(0.08), Step(0.08, green=True, tone=HIGH)),
    "tube-closed": (Step(0.1, green=True, tone=MID), Step(0.1, green=True, tone=HIGH),
                    Step(0.3, green=True, tone=TOP), Step(0.5, green=True)),
    "tube-cancelled": (Step(0.15, amber=True, red=True, tone=MID),
                       Step(0.5, amber=True, red=True, tone=LOW), Step(0.4, amber=True)),
    "undone": (Step(0.15, amber=True, tone=MID),),
    "signed-in": (Step(0.1, green=True, tone=HIGH), Step(0.1), Step(0.1, green=True, tone=HIGH)),
    "signed-out": (Step(0.2, tone=MID),),
    "prompt": (Step(0.2, amber=True, tone=MID), Step(0.2), Step(0.2, amber=True, tone=MID)),
    "info": (Step(0.08, tone=MID),),
    # Check mode (kiosk/check.py) and the clock warning: the light is the answer's colour.
    # check-valid rises high→top, so it never sounds like "accepted" (one high beep).
    "check-valid": (Step(0.1, green=True, tone=HIGH), Step(0.1, green=True, tone=TOP),
                    Step(1.3, green=True)),
    "check-expired": (Step(0.3, red=True, tone=LOW), Step(0.1, red=True),
                      Step(0.3, red=True, tone=LOW), Step(1.2, red=True)),
    "check-no-result": (Step(0.15, amber=True, tone=MID), Step(0.1, amber=True),
                        Step(0.3, amber=True, tone=LOW), Step(1.2, amber=True)),
    # check-conflict: the expired pattern's red, three low beeps, so staff look at the screen.
    "check-conflict": (Step(0.3, red=True, tone=LOW), Step(0.1, red=True), Step(0.3, red=True, tone=LOW),
                       Step(0.1, red=True), Step(0.3, red=True, tone=LOW), Step(1.2, red=True)),
    # check-see-staff (a positive): long, short, long low beeps; never the green rising pair.
    "check-see-staff": (Step(0.3, red=True, tone=LOW), Step(0.1, red=True), Step(0.1, red=True, tone=LOW),
                        Step(0.1, red=True), Step(0.3, red=True, tone=LOW), Step(1.2, red=True)),
    "check-unavailable": (Step(0.15, red=True, amber=True, tone=LOW), Step(0.15),
                          Step(0.15, red=True, amber=True, tone=LOW), Step(1.0, red=True, amber=True)),
    "clock-unsynchronised": (Step(0.2, amber=True, tone=MID), Step(0.8, amber=True)),
    "error": tuple(s for _ in range(3) for s in (Step(0.15, red=True, tone=LOW), Step(0.15))) +
             (Step(0.6, red=True, tone=LOW),),
}


class GpioFeedback(FeedbackSink):
    """Buzzer (active or tonal), green/red/amber LEDs and a close button, on gpiozero devices.

    Pins are BCM numbers from config; 0 means not wired. pin_factory defaults to gpiozero's own
    choice (lgpio on a Pi 5; MockFactory under GPIOZERO_PIN_FACTORY=mock or in tests).
    """

    def __init__(self, buzzer_pin: int, green_pin: int, red_pin: int, amber_pin: int,
                 button_pin: int, tonal: bool = False, pin_factory=None):
        from gpiozero import LED, Button, Buzzer, TonalBuzzer
        from gpiozero.tones import Tone

        self._tone = Tone
        self.tonal = tonal
        made = []

        def device(cls, pin, **kw):
            if not pin:
                return None
            made.append(cls(pin, pin_factory=pin_factory, **kw))
            return made[-1]

        self.buzzer = device(TonalBuzzer if tonal else Buzzer, buzzer_pin,
                             **({"octaves": 2} if tonal else {}))
        self.green, self.red, self.amber = (device(LED, p) for p in (green_pin, red_pin, amber_pin))
        self.button = device(Button, button_pin, bounce_time=0.05)
        self._devices = made
        self._amber_idle = False
        self._queue: queue.Queue = queue.Queue()
        self._cut = threading.Event()
        self._thread = threading.Thread(target=self._play_forever, name="feedback", daemon=True)
        self._thread.start()

    def signal(self, kind: str, message: str, detail: str = "") -> None:
        log.debug("feedback %s %s", kind, "" if kind in PRIVATE_KINDS else detail)
        self._cut.set()                      # the newest outcome wins
        self._queue.put(PATTERNS.get(kind, PATTERNS["info"]))

    def queue_waiting(self, waiting: bool) -> None:
        self._amber_idle = waiting
        self._queue.put(())                  # an empty pattern just restores the idle lights

    def on_close_button(self, callback: Callable[[], None]) -> None:
        if self.button is not None:
            self.button.when_pressed = lambda *_: callback()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=2)
        for dev in self._devices:
            dev.close()

    def _play_forever(self) -> None:
        while True:
            pattern = self._queue.get()
            if pattern is None:
                return
            self._cut.clear()
            for step in pattern:
                self._show(step)
                if self._cut.wait(step.seconds):
                    break
            if self._queue.empty():
                self._show(Step(0, amber=self._amber_idle))

    def _show(self, step: Step) -> None:
        for led, on in ((self.green, step.green), (self.red, step.red), (self.amber, step.amber)):
            if led is not None:
                led.value = on
        if self.buzzer is None:
            return
        if not self.tonal:
            self.buzzer.value = step.tone is not None
        elif step.tone is None:
            self.buzzer.stop()
        else:
            self.buzzer.play(self._tone.from_frequency(step.tone))


def make_feedback(config, pin_factory=None) -> FeedbackSink:
    """The back-end named by feedback.backend ('none' = log only; 'mock' = gpiozero's MockFactory
    pins, for a device or test machine without the feedback board)."""
    fb = config.feedback
    if fb.backend == "none":
        return LogFeedback()
    if fb.backend == "mock" and pin_factory is None:
        from gpiozero.pins.mock import MockFactory, MockPWMPin
        pin_factory = MockFactory(pin_class=MockPWMPin if fb.tonal_buzzer else None)
    return GpioFeedback(fb.buzzer_pin, fb.green_pin, fb.red_pin, fb.amber_pin, fb.button_pin,
                        tonal=fb.tonal_buzzer, pin_factory=pin_factory)
