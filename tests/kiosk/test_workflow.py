"""The pure staff workflow: every transition, events in, effects out."""
from datetime import datetime, timedelta, timezone

from kiosk import workflow as wf
from kiosk.codes import PersonScan, Refused, StaffBadge, Tube
from kiosk.staff import parse_pin_entries, pin_entry
from samplepoint import wire

T0 = datetime(2021, 8, 20, 9, 0, tzinfo=timezone(timedelta(hours=7)))


PINS = parse_pin_entries([pin_entry("NV02", "432198", salt=b"s" * 16)])     # argon2id: made once


def settings(**kw):
    ids = iter(f"id-{i}" for i in range(100))
    base = dict(pool_size=2, test_type="rt-pcr", require_sign_in=True, pins=PINS,
                open_prompt=timedelta(minutes=15), new_id=lambda: next(ids))
    base.update(kw)
    return wf.Settings(**base)


def person(n):
    p = wire.Person(source="personal-qr", id_number=f"00109302931{n}", full_name=f"NGUYEN VAN {'ABCDE'[n]}")
    return PersonScan(p, f"id:{p.id_number}")


def run(events, s=None, state=None):
    s, state, out = s or settings(), state or wf.State(), []
    for e in events:
        state, effects = wf.handle(state, e, s)
        out.append(effects)
    return state, out


def kinds(effects):
    return [e.kind if isinstance(e, wf.Feedback) else type(e).__name__ for e in effects]


def signed_in():
    return run([wf.Scanned(StaffBadge("NV01", "Hoa"), T0)])[0]


def test_sign_in_required_then_badge():
    state, out = run([wf.Scanned(Tube("DT1"), T0), wf.Scanned(StaffBadge("NV01", "Hoa"), T0)])
    assert kinds(out[0]) == ["refused"] and out[0][0].detail == "not-signed-in"
    assert state.staff_id == "NV01" and kinds(out[1]) == ["signed-in"]


def test_pin_sign_in_wrong_pin_and_lockout():
    state, out = run([wf.PinEntered("NV02", "432198", T0)])
    assert state.staff_id == "NV02"
    state, out = run([wf.PinEntered("NV02", "000000", T0)] * 5 + [wf.PinEntered("NV02", "432198", T0)])
    assert state.staff_id is None and out[-1][0].detail == "pin-locked"
    state, _ = run([wf.PinEntered("NV02", "432198", T0 + timedelta(minutes=2))], state=state)
    assert state.staff_id == "NV02"
    assert run([wf.PinEntered("NOBODY", "432198", T0)])[0].staff_id is None


def test_sign_out():
    state, out = run([wf.SignOut(T0), wf.Scanned(Tube("DT1"), T0)], state=signed_in())
    assert state.staff_id is None and kinds(out[0]) == ["signed-out"] and kinds(out[1]) == ["refused"]


def test_tube_pool_fills_and_auto_closes():
    state, out = run([wf.Scanned(Tube("DT1"), T0), wf.Scanned(person(0), T0), wf.Scanned(person(1), T0)],
                     state=signed_in())
    assert kinds(out[0]) == ["OpenTube", "tube-opened"] and out[0][0].staff_id == "NV01"
    assert kinds(out[1]) == ["AddPerson", "accepted"]
    assert kinds(out[2]) == ["AddPerson", "accepted", "CloseTube", "tube-closed"]
    assert out[2][-1].detail == "full" and state.tube is None


def test_person_before_tube_duplicate_and_other_tube_warning():
    state, out = run([wf.Scanned(person(0), T0), wf.Scanned(Tube("DT1"), T0),
                      wf.Scanned(person(0), T0), wf.Scanned(person(0), T0),
                      wf.Scanned(person(1), T0, other_tube="DT0")],
                     s=settings(pool_size=5), state=signed_in())
    assert out[0][0].detail == "no-tube"
    assert kinds(out[3]) == ["duplicate"]
    assert kinds(out[4]) == ["AddPerson", "warning"] and len(state.tube.person_keys) == 2


def test_tube_rules():
    state, out = run([wf.Scanned(Tube("DT1"), T0, tube_already_used=True), wf.Scanned(Tube("DT2"), T0),
                      wf.Scanned(Tube("DT2"), T0), wf.Scanned(Tube("DT3"), T0)], state=signed_in())
    assert out[0][0].detail == "tube-used" and out[2][0].detail == "same-tube"
    assert out[3][0].detail == "tube-open" and state.tube.tube_code == "DT2"


def test_refused_scan_passes_reason():
    _, out = run([wf.Scanned(Refused("bad-date", "msg"), T0)])
    assert out[0] == [wf.Feedback("refused", "msg", "bad-date")]


def test_undo_last_person():
    state, out = run([wf.Scanned(Tube("DT1"), T0), wf.UndoLast(T0), wf.Scanned(person(0), T0),
                      wf.UndoLast(T0), wf.Scanned(person(0), T0)], s=settings(pool_size=5), state=signed_in())
    assert out[1][0].detail == "nothing-to-undo"
    assert kinds(out[3]) == ["RemoveLastPerson", "undone"]
    assert kinds(out[4]) == ["AddPerson", "accepted"] and len(state.tube.person_keys) == 1


def test_cancel_needs_reason_and_is_kept():
    state, out = run([wf.Scanned(Tube("DT1"), T0), wf.CancelRequested("  ", T0),
                      wf.CancelRequested("ống bị vỡ", T0), wf.CancelRequested("x", T0)], state=signed_in())
    assert out[1][0].detail == "bad-cancel-reason"
    assert out[2][0] == wf.CloseTube("id-0", T0, "ống bị vỡ") and kinds(out[2])[1] == "tube-cancelled"
    assert out[3][0].detail == "no-tube" and state.tube is None


def test_close_early_and_empty():
    state, out = run([wf.CloseRequested(T0), wf.Scanned(Tube("DT1"), T0), wf.CloseRequested(T0),
                      wf.Scanned(person(0), T0), wf.CloseRequested(T0)], s=settings(pool_size=5),
                     state=signed_in())
    assert out[0][0].detail == "no-tube" and out[2][0].detail == "empty-tube"
    assert kinds(out[4]) == ["CloseTube", "tube-closed"] and out[4][1].detail == "closed-early"


def test_pool_size_per_tube():
    state, out = run([wf.SetPoolSize(1, T0), wf.Scanned(Tube("DT1"), T0)], state=signed_in())
    assert out[1][0].pool_size == 1
    state, out = run([wf.Scanned(Tube("DT2"), T0), wf.Scanned(person(0), T0), wf.Scanned(person(1), T0)],
                     s=settings(pool_size=10), state=signed_in())
    state, out = run([wf.SetPoolSize(1, T0), wf.SetPoolSize(0, T0), wf.SetPoolSize(2, T0)],
                     s=settings(pool_size=10), state=state)
    assert out[0][0].detail == "pool-too-small" and out[1][0].detail == "bad-pool-size"
    assert kinds(out[2]) == ["ResizeTube", "info", "CloseTube", "tube-closed"]


def test_open_too_long_prompts_once():
    state, _ = run([wf.Scanned(Tube("DT1"), T0)], state=signed_in())
    state, out = run([wf.Tick(T0 + timedelta(minutes=5)), wf.Tick(T0 + timedelta(minutes=16)),
                      wf.Tick(T0 + timedelta(minutes=20))], state=state)
    assert out[0] == [] and kinds(out[1]) == ["prompt"] and out[2] == []


def test_without_sign_in_requirement_default_staff_is_used():
    _, out = run([wf.Scanned(Tube("DT1"), T0)], s=settings(require_sign_in=False, default_staff="x"))
    assert out[0][0].staff_id == "x"


def test_debouncer_counts_a_held_code_once():
    d = wf.Debouncer(gap=2)
    seen = [d.new_codes(c) for c in ([b"a"], [b"a"], [], [b"a"], [], [], [], [b"a", b"a"])]
    assert seen == [[b"a"], [], [], [], [], [], [], [b"a"]]
