"""GPIO feedback on gpiozero's MockFactory: pin states over time per outcome, the close button."""
import time

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from kiosk.feedback import PATTERNS, GpioFeedback, LogFeedback, make_feedback
from samplepoint.config import Config, FeedbackConfig

PINS = dict(buzzer_pin=17, green_pin=27, red_pin=22, amber_pin=23, button_pin=24)


@pytest.fixture(params=[False, True], ids=["active-buzzer", "tonal-buzzer"])
def gpio(request):
    factory = MockFactory(pin_class=MockPWMPin) if request.param else MockFactory()
    sink = GpioFeedback(**PINS, tonal=request.param, pin_factory=factory)
    yield sink, factory
    sink.close()
    factory.reset()


def lit(pin):
    """The on/off history of a pin after its initial state, as booleans."""
    return [bool(s.state) for s in pin.states[1:]]


def wait_idle(sink, seconds):
    time.sleep(seconds)
    deadline = time.monotonic() + 3
    while not sink._queue.empty() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)


def test_accepted_lights_green_and_beeps_once(gpio):
    sink, factory = gpio
    sink.signal("accepted", "NGUYEN VAN A (1/5)", "1/5")
    wait_idle(sink, 0.6)
    green, red, buzzer = factory.pin(27), factory.pin(22), factory.pin(17)
    assert lit(green)[0] is True and lit(green)[-1] is False and not any(lit(red))
    on = [s for s in buzzer.states[1:] if s.state]
    assert len(on) == 1
    # the green light stays on for the whole pattern (about 0.5 s), measured on the pin's own clock
    first_on = next(s.timestamp for s in green.states[1:] if s.state)
    last_off = [s.timestamp for s in green.states[1:] if not s.state][-1]
    assert 0.4 <= last_off - first_on <= 1.0


def test_refused_and_duplicate_are_red_and_distinct(gpio):
    sink, factory = gpio
    sink.signal("refused", "x", "bad-date")
    wait_idle(sink, 0.9)
    assert any(lit(factory.pin(22))) and not any(lit(factory.pin(27)))
    beeps_refused = sum(1 for s in factory.pin(17).states[1:] if s.state)
    factory.pin(17).clear_states()
    sink.signal("duplicate", "x", "duplicate")
    wait_idle(sink, 0.8)
    beeps_duplicate = sum(1 for s in factory.pin(17).states if s.state)
    assert beeps_refused == 1 and beeps_duplicate == 2


def test_every_kind_has_its_own_pattern():
    assert len(set(PATTERNS.values())) == len(PATTERNS)


def test_newest_signal_cuts_the_previous_pattern(gpio):
    sink, factory = gpio
    sink.signal("tube-closed", "x")
    time.sleep(0.05)
    sink.signal("refused", "x")
    wait_idle(sink, 0.9)
    assert factory.pin(22).state in (0, False) and any(lit(factory.pin(22)))


def test_amber_while_records_wait(gpio):
    sink, factory = gpio
    sink.queue_waiting(True)
    wait_idle(sink, 0.1)
    assert factory.pin(23).state
    sink.signal("accepted", "x")
    wait_idle(sink, 0.6)
    assert factory.pin(23).state                   # restored after the pattern
    sink.queue_waiting(False)
    wait_idle(sink, 0.1)
    assert not factory.pin(23).state


def test_button_calls_back(gpio):
    sink, factory = gpio
    pressed = []
    sink.on_close_button(lambda: pressed.append(1))
    pin = factory.pin(24)
    pin.drive_low()
    time.sleep(0.1)
    pin.drive_high()
    assert pressed == [1]


def test_unwired_pins_and_none_backend():
    factory = MockFactory()
    sink = GpioFeedback(buzzer_pin=0, green_pin=27, red_pin=0, amber_pin=0, button_pin=0,
                        pin_factory=factory)
    sink.signal("error", "x")
    sink.close()
    assert isinstance(make_feedback(Config(feedback=FeedbackConfig(backend="none"))), LogFeedback)
