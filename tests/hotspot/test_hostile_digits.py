"""Digits other than ASCII 0-9 ("²", Arabic-Indic "٠١٢", full-width "０"): refused cleanly, never a
500; text fields use the wire control-character rule; and the portal's CCCD rule is the kiosk's,
so every code the portal issues scans at the kiosk."""
from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotspot.portal import declaration as d
from hotspot.portal.guards import Csrf
from kiosk import cccd
from kiosk.codes import PersonScan, parse_signed
from samplepoint import cccd_number
from samplepoint.signed_codes import load_key
from tests.hotspot.portal_helpers import BASE, make_portal, valid_form

ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
FORGED = ["².x", "²", "١٢٣.x", "٣" * 12 + ".x", "１.x", "-1.x", " 1.x", "1" * 13 + ".x"]


@pytest.fixture
def portal(tmp_path):
    app, store, config = make_portal(tmp_path)
    return app.test_client(), store, config


@pytest.mark.parametrize("token", FORGED)
def test_forged_csrf_stamps_are_refused_not_crashed(token):
    assert Csrf(b"k" * 32).valid(token, "10.42.0.9", 1_700_000_000) is False


@pytest.mark.parametrize("token", FORGED)
def test_forged_csrf_stamps_on_done_and_declare_answer_403(portal, token):
    client, store, _ = portal
    assert client.post("/done", data={"csrf": token}, base_url=BASE).status_code == 403
    form = {**valid_form(client), "csrf": token}
    assert client.post("/declare/form", data=form, base_url=BASE).status_code == 403
    assert store.declaration_count() == 0


@pytest.mark.parametrize("field, value", [
    ("id_number_0", "001187029317".translate(ARABIC)),
    ("id_number_0", "001187029317".translate(FULL_WIDTH)),
    ("phone_0", "0944713700".translate(ARABIC)),
    ("dob_0", "18/01/1987".translate(ARABIC)),
])
def test_non_ascii_digits_in_the_form_are_refused(portal, field, value):
    client, store, _ = portal
    r = client.post("/declare/form", data={**valid_form(client), field: value}, base_url=BASE)
    assert r.status_code == 400 and b'class="err"' in r.data and store.declaration_count() == 0


def test_non_ascii_cmnd_is_refused():
    assert d.check_id("cmnd", "123456789".translate(ARABIC), "1987-01-18", "female") == (None, "err_cmnd")
    assert d.check_id("cmnd", "123456789", "1987-01-18", "female") == ("123456789", None)


@pytest.mark.parametrize("digit, year", [(0, 1987), (2, 2005), (4, 2105), (6, 2205), (8, 2305)])
def test_century_digit_follows_the_national_rule(digit, year):
    number = f"079{digit}{year % 100:02d}000001"
    assert cccd_number.birth_year(number) == year
    assert cccd_number.century_gender_digit(year, "male") == digit
    assert cccd_number.problem(number, year, "male") is None
    female = f"079{digit + 1}{year % 100:02d}000001"
    assert cccd_number.problem(female, year, "female") is None
    assert cccd_number.problem(female, year, "male") == "gender"


def test_digit_8_is_not_the_1800s():
    assert d.check_cccd("001887029317", "1887-01-18", "male") == "err_cccd_year"


@settings(max_examples=300, deadline=None)
@given(number=st.text(st.sampled_from("0123456789²٣５"), min_size=11, max_size=13),
       born=st.dates(date(1906, 1, 1), date(2026, 11, 25)),
       gender=st.sampled_from(["male", "female"]))
def test_portal_and_kiosk_agree_on_every_number(number, born, gender):
    portal_ok = d.check_cccd(number, born.isoformat(), gender) is None
    card = f"{number}||Nguyễn Văn An|{born:%d%m%Y}|{'Nữ' if gender == 'female' else 'Nam'}|x|01012021"
    assert portal_ok == isinstance(cccd.parse_cccd_card(card), cccd.CccdCard)


def test_code_issued_by_the_portal_scans_at_the_kiosk(portal):
    client, store, config = portal
    form = {**valid_form(client), "id_number_0": "079305000001", "dob_0": "01/03/2005"}
    r = client.post("/declare/form", data=form, base_url=BASE)
    assert r.status_code == 200 and store.declaration_count() == 1
    short = re.search(r'class="code">([0-9A-Z]{4}-[0-9A-Z]{4})<', r.data.decode()).group(1)
    code = store.declared_person(short)["code"]
    assert isinstance(parse_signed(code, load_key(config.scan.code_key_file)), PersonScan)



@pytest.mark.parametrize("text", ["A\ud800B", "An\u2066x", "An\u202ex", "An\x85x", "An\u200bx"])
def test_declaration_text_uses_the_wire_control_rule(text):
    assert d.clean_text(text) is None
    assert d.check_name(text) == (None, "err_bad_chars")
