"""The result panel goes back to 'ready' after display.result_clear_s, and never outlives a mode switch."""
from tests.kiosk.display.display_rig import people, qr, rig  # noqa: F401  (fixtures)
from kiosk import workflow


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_result_panel_clears_after_the_configured_seconds(rig, people):
    clock = Clock()
    rig.hub._monotonic = clock
    rig.hub.clear_after_s = 4.0
    rig.kiosk.on_code(b"DT00000001")
    rig.kiosk.on_code(qr(people[0]))
    assert rig.hub.snapshot()[1]["last"]["kind"] == "accepted"
    clock.now += 3.9
    rig.hub.publish()
    assert rig.hub.snapshot()[1]["last"]["kind"] == "accepted"
    clock.now += 0.2
    rig.hub.publish()
    assert rig.hub.snapshot()[1]["last"] is None
    assert 0 < rig.hub._next_wait() <= rig.hub.refresh_s


def test_the_refresher_wakes_when_the_panel_is_due(rig, people):
    clock = Clock()
    rig.hub._monotonic = clock
    rig.hub.clear_after_s = 1.0
    rig.hub.refresh_s = 30.0
    rig.kiosk.on_code(b"garbage")
    clock.now += 0.25
    assert 0.7 < rig.hub._next_wait() < 0.8          # not the 30 s refresh


def test_switching_check_mode_clears_the_panel(rig, people):
    rig.kiosk.on_code(b"DT00000001")
    rig.kiosk.on_code(qr(people[0]))
    rig.kiosk.dispatch(workflow.CloseRequested(rig.kiosk.clock()))
    rig.kiosk.dispatch(workflow.SetCheckMode(True, rig.kiosk.clock()))
    snapshot = rig.hub.snapshot()[1]
    assert snapshot["check_mode"] and snapshot["last"] is None
