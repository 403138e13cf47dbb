"""Kiosk check mode: pure display outcomes, and a replayed folder against the real central server."""
from __future__ import annotations

import random
import socket
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import requests
from hypothesis import given, strategies as st

from kiosk import check, workflow
from kiosk.camera import open_source
from kiosk.codes import PersonScan, format_personal_qr
from kiosk.decode import make_decoder
from kiosk.feedback import FeedbackSink
from kiosk.framegen import code128_image, fictional_person, frame_with, qr_image
from kiosk.pipeline import Kiosk
from samplepoint import config as config_module
from samplepoint import wire
from samplepoint.clock import ClockEvidence
from samplepoint.store import Store

VN = timezone(timedelta(hours=7))
NOW = datetime(2021, 8, 21, 2, 0, tzinfo=timezone.utc)


class Recorder(FeedbackSink):
    def __init__(self):
        self.signals: list[tuple[str, str]] = []

    def signal(self, kind, message, detail=""):
        self.signals.append((kind, message))


# --- the pure outcome ------------------------------------------------------------------------

def answer(state, **extra):
    return {"state": state, "valid_until": "2021-08-23T02:00:00+00:00", "result": "negative",
            "needs_individual_test": False, **extra}


def test_outcomes_for_the_three_states_with_local_valid_until():
    valid = check.outcome(answer("valid"), staff_signed_in=False, tz=VN)
    assert valid.kind == check.CHECK_VALID and valid.colour == "green"
    assert valid.message == "CÒN HIỆU LỰC\nHiệu lực đến 09:00 23/08/2021"
    expired = check.outcome(answer("expired"), staff_signed_in=False, tz=VN)
    assert expired.kind == check.CHECK_EXPIRED and "09:00 23/08/2021" in expired.message
    none = check.outcome(answer("no-result", valid_until=None), staff_signed_in=True, tz=VN)
    assert none.kind == check.CHECK_NO_RESULT and none.lines == ()


def test_result_value_only_for_signed_in_staff():
    positive = answer("valid", result="positive", needs_individual_test=True)
    assert "Dương" not in check.outcome(positive, staff_signed_in=False, tz=VN).message
    shown = check.outcome(positive, staff_signed_in=True, tz=VN).message
    assert check.MSG_POOL_POSITIVE in shown and check.MSG_INDIVIDUAL in shown
    assert "Âm tính" in check.outcome(answer("valid"), staff_signed_in=True, tz=VN).message


@given(st.sampled_from([{"result": "positive"}, {"result": "pool-positive"},
                        {"result": "positive", "needs_individual_test": True},
                        {"result": "negative", "needs_individual_test": True}]), st.booleans())
def test_a_valid_positive_is_never_the_green_valid_for_anyone(facts, signed_in):
    shown = check.outcome(answer("valid", **facts), staff_signed_in=signed_in, tz=VN)
    assert shown.kind == check.CHECK_SEE_STAFF and shown.colour == "red"
    assert shown.message.startswith("MỜI GẶP NHÂN VIÊN Y TẾ\n")
    assert "CÒN HIỆU LỰC" not in shown.message and "Âm tính" not in shown.message
    if not signed_in:                       # the value itself stays for staff only
        assert "Dương" not in shown.message


@given(st.one_of(st.none(), st.text(), st.lists(st.integers()),
                 st.dictionaries(st.sampled_from(["state", "valid_until", "result",
                                                  "needs_individual_test"]),
                                 st.one_of(st.text(max_size=50), st.integers(), st.none(),
                                           st.booleans()))))
def test_nonsense_answers_say_cannot_check(data):
    result = check.outcome(data, staff_signed_in=True, tz=VN)
    assert result.kind in check.COLOURS
    conflict = isinstance(data, dict) and "conflict" in (data.get("state"), data.get("result"))
    if not isinstance(data, dict) or data.get("state") not in ("valid", "expired", "no-result") \
            and not conflict:
        assert result.kind == check.CHECK_UNAVAILABLE


@given(st.sampled_from(["valid", "expired", "no-result", "conflict"]), st.booleans())
def test_a_conflict_is_shown_to_anyone_whatever_else_the_answer_says(state, signed_in):
    shown = check.outcome(answer(state, conflict=True), staff_signed_in=signed_in, tz=VN)
    assert shown.kind == check.CHECK_CONFLICT and shown.colour == "red"
    assert shown.message == "CẦN XÉT NGHIỆM LẠI\nKết quả mâu thuẫn — cần xét nghiệm lại"
    assert "Âm tính" not in shown.message


def test_masked_codes_are_not_looked_up():
    person = fictional_person(random.Random(1))
    assert check.lookup_for(PersonScan(person, "k")) == {"qid": person.qid}
    assert check.lookup_for(PersonScan(replace(person, qid=None), "k")) == \
        {"id_number": person.id_number}
    assert check.lookup_for(PersonScan(replace(person, qid=None, id_number="******509"), "k")) is None


# --- a replayed folder against the real central server ----------------------------------------

def write_frames(folder, persons, tube_code=None):
    rng = random.Random(2)
    folder.mkdir(parents=True, exist_ok=True)
    images = [code128_image(tube_code)] if tube_code else []
    images += [qr_image(format_personal_qr(p)) for p in persons]
    index = 0
    for image in images:
        for frame in [image] * 3 + [None] * 2:
            frame_with(frame, rng).save(folder / f"frame-{index:06d}.png", compress_level=1)
            index += 1


def post(central, persons, tube, collected_at):
    record = wire.SampleRecord(
        record_id=wire.new_record_id(), tube_code=tube, pool_size=len(persons), test_type="rt-pcr",
        sample_type="swab", collected_at=collected_at, site_id="SITE-TEST", device_id="DEV-TEST-01",
        staff_id="s", persons=tuple(persons), clock_synchronised=True)
    assert requests.post(central.url + "/api/v1/samples", json=record.to_json(), timeout=5,
                         headers={"Authorization": f"Bearer {central.token}"}).status_code == 201


def run_check(tmp_path, config, url, token, timeout=2.0, staff=None):
    store = Store(config.db_path)
    recorder = Recorder()
    kiosk = Kiosk(config, store, make_decoder(), recorder, lambda: datetime.now(VN),
                  evidence=lambda: ClockEvidence(True, 1.0, "b"))
    kiosk.checker = check.CheckMode(check.StatusClient(url, token, timeout=timeout), VN)
    kiosk.dispatch(workflow.SetCheckMode(True, datetime.now(VN)))
    if staff:
        kiosk.state = replace(kiosk.state, staff_id=staff)
    with open_source("replay:" + str(tmp_path / "frames"), 15, paced=False) as source:
        kiosk.run(source, close_at_end=False)
    opened = store.open_tube_state()
    store.close()
    assert opened is None and not store_has_records(config)      # check mode never samples
    return recorder.signals


def store_has_records(config) -> bool:
    store = Store(config.db_path)
    try:
        return bool(store.all_record_ids())
    finally:
        store.close()


def test_check_mode_over_a_replayed_folder_online(tmp_path, device_config, central):
    from central.results import LabResult
    _, config = device_config
    rng = random.Random(9)
    fresh, old, unknown = (fictional_person(rng) for _ in range(3))
    post(central, [fresh], "DT00000001", "2021-08-20T09:00:00+07:00")
    post(central, [old], "DT00000002", "2021-08-10T09:00:00+07:00")
    central.db.add_results([LabResult(t, "rt-pcr", "negative", NOW - timedelta(hours=1), "LAB")
                            for t in ("DT00000001", "DT00000002")])
    central.app.extensions["central_clock"] = lambda: NOW
    write_frames(tmp_path / "frames", [fresh, old, unknown], tube_code="DT00000099")

    signals = run_check(tmp_path, config, central.url, central.token)
    kinds = [kind for kind, _ in signals if kind in check.COLOURS or kind == "refused"]
    assert kinds == ["refused", check.CHECK_VALID, check.CHECK_EXPIRED, check.CHECK_NO_RESULT]
    assert "Hiệu lực đến 09:00 23/08/2021" in signals[-3][1]
    assert all("Âm tính" not in message for _, message in signals)          # nobody signed in

    signed_in = run_check(tmp_path, config, central.url, central.token, staff="staff-7")
    assert any("Kết quả: Âm tính" in message for _, message in signed_in)


def test_check_mode_with_the_central_server_down_says_it_cannot_check(tmp_path, device_config):
    _, config = device_config
    write_frames(tmp_path / "frames", [fictional_person(random.Random(4))])
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    signals = run_check(tmp_path, config, refused_url, "token")
    assert [k for k, _ in signals if k in check.COLOURS] == [check.CHECK_UNAVAILABLE]
    assert check.MSG_OFFLINE in signals[-1][1]

    with socket.socket() as silent:               # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        signals = run_check(tmp_path, config, url, "token", timeout=0.5)
    assert [k for k, _ in signals if k in check.COLOURS] == [check.CHECK_UNAVAILABLE]


def test_check_timeout_comes_from_config():
    assert config_module.Config().check.timeout_s == 3.0


def test_every_check_kind_has_its_own_light_and_beep():
    from kiosk.feedback import PATTERNS
    from kiosk.pipeline import CLOCK_UNSYNCHRONISED
    kinds = [*check.COLOURS, CLOCK_UNSYNCHRONISED]
    assert all(kind in PATTERNS for kind in kinds)
    lit = {"green": "green", "red": "red", "amber": "amber"}
    for kind, colour in check.COLOURS.items():
        if colour in lit:
            assert getattr(PATTERNS[kind][-1], colour)
