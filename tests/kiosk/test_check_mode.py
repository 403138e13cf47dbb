"""Check mode as workflow state (button event and check badge) and the clock warning, without a browser."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from tests.kiosk.display.display_rig import people, qr, rig  # noqa: F401  (fixtures)
from tests.kiosk.test_workflow import T0, kinds, person, run, settings, signed_in
from kiosk import check, messages, workflow as wf
from kiosk.codes import StaffBadge, Tube, classify
from kiosk.display import actions, view
from kiosk.display.app import BUTTON_HEADER, create_app
from kiosk.feedback import FeedbackSink
from kiosk.staff import badge_code
from samplepoint import signed_codes
from samplepoint.clock import ClockEvidence

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


# --- the pure state machine -------------------------------------------------------------------

def test_set_check_mode_on_and_off_and_idempotent():
    state, out = run([wf.SetCheckMode(True, T0), wf.SetCheckMode(True, T0),
                      wf.SetCheckMode(False, T0), wf.SetCheckMode(False, T0)], state=signed_in())
    assert [kinds(e) for e in out] == [[wf.CHECK_ON], [], [wf.CHECK_OFF], []]
    assert state.check_mode is False


def test_check_mode_refused_while_a_tube_is_open():
    state, out = run([wf.Scanned(Tube("DT00000001"), T0), wf.SetCheckMode(True, T0)],
                     state=signed_in())
    assert kinds(out[1]) == [wf.REFUSED] and out[1][0].detail == "check-tube-open"
    assert "DT00000001" in out[1][0].message and state.check_mode is False


def test_in_check_mode_people_are_checked_and_tubes_refused():
    state, out = run([wf.SetCheckMode(True, T0), wf.Scanned(person(0), T0),
                      wf.Scanned(Tube("DT00000001"), T0)], state=signed_in())
    effect = out[1][0]
    assert isinstance(effect, wf.CheckStatus) and effect.scan == person(0) and effect.staff_signed_in
    assert kinds(out[2]) == [wf.REFUSED] and out[2][0].message == messages.TUBE_IN_CHECK
    assert state.tube is None and state.check_mode


def test_check_needs_no_sign_in_and_then_hides_the_result():
    s = settings(require_sign_in=True)
    _, out = run([wf.SetCheckMode(True, T0), wf.Scanned(person(1), T0)], s=s)
    assert out[1] == [wf.CheckStatus(person(1), False)]


def test_check_mode_survives_sign_out_and_returns_to_sampling_when_off():
    state, out = run([wf.SetCheckMode(True, T0), wf.SignOut(T0), wf.SetCheckMode(False, T0),
                      wf.Scanned(StaffBadge("NV01"), T0), wf.Scanned(Tube("DT00000002"), T0)],
                     state=signed_in())
    assert kinds(out[4])[0] == "OpenTube" and state.tube.tube_code == "DT00000002"


def test_check_badge_signs_in_and_toggles():
    badge = StaffBadge("NV09", "Hoa", check=True)
    state, out = run([wf.Scanned(badge, T0)])
    assert kinds(out[0]) == [wf.SIGNED_IN, wf.CHECK_ON] and state.check_mode
    assert state.staff_id == "NV09"
    state, out = run([wf.Scanned(badge, T0)], state=state)
    assert kinds(out[0]) == [wf.SIGNED_IN, wf.CHECK_OFF] and not state.check_mode


def test_plain_badge_does_not_touch_check_mode():
    state, _ = run([wf.SetCheckMode(True, T0), wf.Scanned(StaffBadge("NV01"), T0)])
    assert state.check_mode is True


@given(st.one_of(st.none(), st.integers(), st.text(max_size=5)))
def test_set_check_mode_with_a_non_boolean_is_refused(value):
    state, out = run([wf.SetCheckMode(value, T0)])
    assert kinds(out[0]) == [wf.REFUSED] and state.check_mode is False


# --- the signed check badge ---------------------------------------------------------------------

def test_check_badge_round_trip():
    scan = classify(badge_code("NV09", "Lê Thị Hoa", KEY, check=True).encode(), r"DT\d{8}", KEY)
    assert scan == StaffBadge("NV09", "Lê Thị Hoa", check=True)
    plain = classify(badge_code("NV09", "Lê Thị Hoa", KEY).encode(), r"DT\d{8}", KEY)
    assert plain == StaffBadge("NV09", "Lê Thị Hoa", check=False)


def test_forged_check_badges_are_refused():
    signed = badge_code("NV09", "", KEY, check=True)
    assert classify(badge_code("NV09", "", OTHER_KEY, check=True).encode(), r"DT\d{8}", KEY).reason \
        == "signed-bad-signature"
    # A plain badge altered to carry the check mode keeps its old signature: refused.
    plain = signed_codes.make_code("staff", {"name": "", "staff_id": "NV09"}, KEY, version=1)
    _, kind, _, mac = plain.split(".")
    payload = signed_codes._b64(json.dumps({"mode": "check", "name": "", "staff_id": "NV09"},
                                           separators=(",", ":")).encode())
    altered = f"SP1.{kind}.{payload}.{mac}"
    assert classify(altered.encode(), r"DT\d{8}", KEY).reason == "signed-bad-signature"
    # A genuinely signed badge with an unknown mode is not a check badge.
    odd = signed_codes.make_code("staff", {"staff_id": "NV09", "mode": "admin"}, KEY)
    assert classify(odd.encode(), r"DT\d{8}", KEY).reason == "bad-badge"
    assert classify(signed.encode(), r"DT\d{8}", None).reason == "no-code-key"


def test_staff_cli_prints_a_check_badge(tmp_path, capsys):
    from samplepoint.cli import main
    key_file = tmp_path / "code.key"
    key_file.write_text(KEY.hex() + "\n")
    assert main(["staff", "check-badge", "NV09", "--name", "Hoa", "--key-file", str(key_file)]) == 0
    code = capsys.readouterr().out.strip()
    badge = classify(code.encode(), r"DT\d{8}", KEY)
    assert badge == StaffBadge("NV09", "Hoa", check=True, badge_id=badge.badge_id)
    assert len(badge.badge_id) == 12, "every badge gets an id, so it can be revoked"


# --- the kiosk: check effect and clock transitions -------------------------------------------

class Recorder(FeedbackSink):
    def __init__(self):
        self.signals = []

    def signal(self, kind, message, detail=""):
        self.signals.append((kind, message, detail))


def test_kiosk_without_a_checker_says_it_cannot_check(rig, people):
    recorder = Recorder()
    rig.kiosk.feedback = recorder
    rig.kiosk.dispatch(wf.SetCheckMode(True, rig.kiosk.clock()))
    rig.kiosk.on_code(qr(people[0]))
    kind, message, detail = recorder.signals[-1]
    assert kind == check.CHECK_UNAVAILABLE and check.MSG_OFFLINE in message
    facts = check.parse_detail(detail)
    assert facts["reason"] == "offline" and "until" not in facts
    assert facts["name"] == people[0].full_name and facts["masked"] == "*****" + people[0].id_number[-4:]
    assert people[0].id_number not in detail
    assert not rig.store.all_record_ids()


def test_clock_warning_then_all_clear_once_each(rig):
    recorder = Recorder()
    rig.kiosk.feedback = recorder
    for synced in (True, False, False, None, True, True):
        rig.kiosk.note_clock(ClockEvidence(synced, 1.0, "boot"))
    assert [k for k, _, _ in recorder.signals] == ["clock-unsynchronised", "clock-synchronised"]


def test_kiosk_looks_at_the_clock_again_while_running(rig):
    from kiosk.pipeline import CLOCK_EVERY_TICKS, TICK_EVERY_FRAMES
    import numpy as np
    synced = [False]
    rig.kiosk.evidence = lambda: ClockEvidence(synced[0], 1.0, "boot")
    rig.kiosk.note_clock(rig.kiosk.evidence())
    assert rig.hub.build()["clock_unsynchronised"] is True
    synced[0] = True
    grey = np.zeros((48, 64), dtype=np.uint8)
    for _ in range(TICK_EVERY_FRAMES * CLOCK_EVERY_TICKS):
        rig.kiosk.on_frame(grey)
    assert rig.hub.build()["clock_unsynchronised"] is False


# --- the display: snapshot, buttons, outcome facts --------------------------------------------

def test_snapshot_carries_check_mode_and_the_check_panel(rig):
    rig.hub.press("check-mode", on=True)
    assert rig.hub.build()["check_mode"] is True
    outcome = check.outcome({"state": "valid", "valid_until": "2021-08-23T02:00:00+00:00",
                             "result": "negative"}, staff_signed_in=True,
                            tz=timezone(timedelta(hours=7)))
    rig.hub.signal(outcome.kind, outcome.message, outcome.detail)
    last = rig.hub.build()["last"]
    assert last["kind"] == "check-valid" and last["person"] is None
    assert last["check"] == {"until": "09:00 23/08/2021", "result": "negative"}


def test_check_button_through_the_app(rig):
    c = create_app(rig.hub).test_client()
    env, headers = {"REMOTE_ADDR": "127.0.0.1"}, {BUTTON_HEADER: "1"}
    assert c.post("/action/check-mode", json={"on": True}, headers=headers,
                  environ_base=env).status_code == 200
    assert rig.kiosk.state.check_mode is True
    assert c.post("/action/check-mode", json={"on": "yes"}, headers=headers,
                  environ_base=env).status_code == 400
    assert c.post("/action/check-mode", json={"on": True}, environ_base=env).status_code == 403
    assert c.post("/action/check-mode", json={"on": False}, headers=headers,
                  environ_base=env).status_code == 200
    assert rig.kiosk.state.check_mode is False


def test_check_mode_button_needs_a_boolean():
    now = datetime(2021, 8, 20, tzinfo=timezone.utc)
    assert actions.build_event("check-mode", now, on=True) == wf.SetCheckMode(True, now)
    with pytest.raises(actions.ActionError):
        actions.build_event("check-mode", now)


@given(st.one_of(st.text(max_size=400), st.binary(max_size=50).map(repr)))
def test_hostile_check_details_show_nothing_unexpected(detail):
    facts = check.parse_detail(detail)
    assert set(facts) <= {"until", "result", "reason"}
    panel = view.last_scan("check-valid", "x", detail, T0, 1)
    assert panel["check"] == facts


def test_parse_detail_keeps_only_known_values():
    detail = json.dumps({"until": "<b>", "result": "negative<script>", "reason": "masked", "x": 1})
    assert check.parse_detail(detail) == {"reason": "masked"}


def test_staff_cli_prints_a_badge_with_expiry_and_id(tmp_path, capsys):
    from datetime import date

    from samplepoint.cli import main
    key_file = tmp_path / "code.key"
    key_file.write_text(KEY.hex() + "\n")
    assert main(["staff", "badge", "NV07", "--name", "Lan", "--expires", "2026-12-31", "--badge-id",
                 "000042", "--key-file", str(key_file)]) == 0
    code = capsys.readouterr().out.strip()
    assert code.startswith("SP2.")
    assert classify(code.encode(), r"DT\d{8}", KEY, now=date(2026, 12, 31)) == StaffBadge(
        "NV07", "Lan", badge_id="000042", expires="2026-12-31")
    assert classify(code.encode(), r"DT\d{8}", KEY, now=date(2027, 1, 1)).reason == "signed-expired"
