"""The display's pure pieces: masking, the last-scan panel, the open tube and the link status."""
from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from kiosk import workflow
from kiosk.display import view
from samplepoint import wire
from samplepoint.store import OpenTube

NOW = datetime(2021, 8, 20, 9, 15, tzinfo=timezone(timedelta(hours=7)))
PERSON = wire.Person("personal-qr", "001093029317", "NGUYEN LE KHA HAN", "1987-01-18",
                     phone="0944713700")


def test_mask_keeps_only_last_four():
    assert view.mask_id("001093029317") == "*****9317"
    assert view.mask_id("") == ""


@given(st.text(max_size=40))
def test_mask_never_shows_more_than_four_characters(id_number):
    masked = view.mask_id(id_number)
    assert masked.replace("*", "", 5) == id_number[-4:] if id_number else masked == ""


def test_person_view_has_no_phone_or_full_id():
    shown = view.person_view(PERSON)
    assert shown == {"name": "NGUYEN LE KHA HAN", "birth_year": "1987", "masked_id": "*****9317"}
    assert "0944713700" not in str(shown) and "001093029317" not in str(shown)


def test_birth_year_ignores_malformed_dates():
    assert view.birth_year(wire.Person("cccd", "1", "A", "18-01-1987")) == ""
    assert view.birth_year(wire.Person("cccd", "1", "A", None)) == ""


def test_accepted_then_closed_when_full_becomes_tube_full():
    accepted = view.last_scan(workflow.ACCEPTED, PERSON.full_name, "3/3", NOW, 1, PERSON)
    assert accepted["kind"] == "accepted" and accepted["person"]["masked_id"] == "*****9317"
    full = view.last_scan(workflow.TUBE_CLOSED, "Đã đóng ống", "", NOW, 2, None, accepted)
    assert full["kind"] == view.TUBE_FULL and full["person"]["name"] == PERSON.full_name


def test_closing_a_partly_filled_tube_is_not_a_scan():
    accepted = view.last_scan(workflow.ACCEPTED, PERSON.full_name, "2/3", NOW, 1, PERSON)
    assert view.last_scan(workflow.TUBE_CLOSED, "x", "", NOW, 2, None, accepted) is None
    assert view.last_scan(workflow.TUBE_OPENED, "x", "", NOW, 3) is None


def test_refused_and_duplicate_panels():
    refused = view.last_scan(workflow.REFUSED, "Mã QR không hợp lệ", "bad-date", NOW, 1)
    assert refused["kind"] == "refused" and refused["detail"] == "bad-date" and refused["person"] is None
    duplicate = view.last_scan(workflow.DUPLICATE, "Người này đã có", "TRAN VAN A", NOW, 2)
    assert duplicate["person"]["name"] == "TRAN VAN A"


def test_tube_view_counts_slots():
    tube = OpenTube("id", "DT1", 5, "rt-pcr", "swab", "staff", "t", [("k", PERSON)])
    shown = view.tube_view(tube)
    assert (shown["filled"], shown["empty"], shown["pool_size"]) == (1, 4, 5)
    assert shown["persons"][0]["name"] == PERSON.full_name
    assert view.tube_view(None) is None


def test_link_states():
    counts = {"pending": 0, "delivered": 3, "quarantined": 0}
    assert view.link_view(counts, None, NOW, NOW, 60)["state"] == view.ONLINE
    young = view.link_view({**counts, "pending": 2}, NOW - timedelta(seconds=10), None, NOW, 60)
    assert young["state"] == view.SENDING and young["oldest_pending_age_s"] == 10
    old = view.link_view({**counts, "pending": 2}, NOW - timedelta(seconds=61), None, NOW, 60)
    assert old["state"] == view.OFFLINE and old["last_delivery"] is None


def test_signals_of_the_fuller_workflow():
    """Kinds and details a workflow with sign-in, undo and cancel sends are shown sensibly."""
    accepted = view.last_scan(workflow.ACCEPTED, "NGUYEN LE KHA HAN (3/3)", "3/3", NOW, 1, PERSON)
    assert view.last_scan(workflow.TUBE_CLOSED, "Đã đóng", "full", NOW, 2, None, accepted)["kind"] \
        == view.TUBE_FULL
    warned = view.last_scan(view.WARNING, "Lưu ý: ...", "other-tube", NOW, 3, PERSON)
    assert warned["kind"] == "warning" and warned["person"]["masked_id"] == "*****9317"
    duplicate = view.last_scan(workflow.DUPLICATE, "A đã có trong ống mẫu này", "duplicate", NOW, 4)
    assert duplicate["person"] is None and duplicate["message"].startswith("A ")
    for kind in ("undone", "tube-cancelled"):
        panel = view.last_scan(kind, "Đã xoá người vừa quét (1/3)", "1/3", NOW, 5)
        assert panel["kind"] == kind and panel["person"] is None
    for kind in ("signed-in", "signed-out", "prompt"):
        assert view.last_scan(kind, "x", "", NOW, 5) is None
        assert view.notice(kind, "Xin chào", NOW, 5)["message"] == "Xin chào"
    assert view.notice(workflow.ACCEPTED, "x", NOW, 6) is None
