"""Signed codes: genuine ones verify (SP2 and the SP1 codes already issued); forged, altered,
expired or foreign ones are refused, never raise; a one-person declaration fits a small QR."""
from datetime import date, datetime

import pytest
import segno
from hypothesis import given, settings, strategies as st

from samplepoint import signed_codes as sc

KEY = bytes(range(32))
OLD_KEY = b"o" * 32
DECLARATION = {"declaration_id": "K7M2-9QXD", "id_number": "001093029317",
               "full_name": "Nguyễn Thị Ánh Tuyết", "date_of_birth": "1987-01-18",
               "gender": "female", "phone": "0944713700", "declared_on_behalf": True}


def test_sp2_round_trip_both_kinds_with_expiry_and_id():
    badge = sc.make_code("staff", {"staff_id": "NV01", "name": "Lê Thị Hoa", "badge_id": "000123",
                                   "mode": "check"}, KEY, expires=date(2027, 6, 30))
    assert badge.startswith("SP2.")
    assert sc.verify_code(badge, KEY) == {"kind": "staff", "staff_id": "NV01", "name": "Lê Thị Hoa",
                                          "badge_id": "000123", "mode": "check",
                                          "expires": "2027-06-30"}
    decl = sc.make_code("decl", DECLARATION, KEY)
    assert sc.verify_code(decl, KEY) == {"kind": "decl", **DECLARATION}


def test_sp2_text_uses_only_the_qr_alphanumeric_set():
    code = sc.make_code("decl", DECLARATION, KEY, expires=date(2026, 1, 1))
    assert set(code) <= set(sc.B45)


def test_one_person_declaration_fits_version_8_at_error_correction_m():
    long_name = {**DECLARATION, "full_name": "Tôn Nữ Hoàng Thị Thuỳ Dương Nguyễn Phước"}
    for payload in (DECLARATION, long_name):
        code = sc.make_code("decl", payload, KEY, expires=date(2026, 12, 31))
        qr = segno.make(code, error="m", micro=False, boost_error=False)
        assert qr.version <= 8 and qr.error == "M", (len(code), qr.designator)
    legacy = sc.make_code("decl", DECLARATION, KEY, version=1)
    assert segno.make(legacy, error="m", micro=False, boost_error=False).version > 8


def test_sp1_codes_already_issued_stay_readable():
    for kind in sc.KINDS:
        code = sc.make_code(kind, {"staff_id": "NV01", "n": 3}, KEY, version=1)
        assert code.startswith(f"SP1.{kind}.")
        assert sc.verify_code(code, KEY, datetime(2030, 1, 1)) == {"kind": kind, "staff_id": "NV01",
                                                                   "n": 3}


def test_expiry_is_inclusive_of_its_day():
    code = sc.make_code("staff", {"staff_id": "NV01"}, KEY, expires=date(2026, 3, 31))
    assert sc.verify_code(code, KEY, datetime(2026, 3, 31, 23, 59))
    assert sc.verify_code(code, KEY, date(2026, 4, 1)).reason == "expired"
    assert sc.verify_code(code, KEY)          # no date given: the signature alone


def test_any_of_several_keys_verifies_during_a_rotation():
    old = sc.make_code("staff", {"staff_id": "NV01"}, OLD_KEY)
    assert sc.verify_code(old, [KEY, OLD_KEY])
    assert sc.verify_code(old, [KEY]).reason == "bad-signature"
    assert sc.verify_code(sc.make_code("staff", {"staff_id": "NV01"}, OLD_KEY, version=1), [KEY, OLD_KEY])


@pytest.mark.parametrize("version", [1, 2])
def test_wrong_key_and_every_single_character_change_are_refused(version):
    code = sc.make_code("staff", {"staff_id": "NV01"}, KEY, version=version)
    assert sc.verify_code(code, b"x" * 32).reason == "bad-signature"
    alphabet = "ABCabc019-_.: $"
    for i in range(len(code)):
        for c in alphabet:
            if c != code[i]:
                altered = code[:i] + c + code[i + 1:]
                assert not sc.verify_code(altered, KEY), altered


def test_kind_cannot_be_swapped():
    code = sc.make_code("staff", {"staff_id": "NV01"}, KEY, version=1)
    assert not sc.verify_code(code.replace(".staff.", ".decl.", 1), KEY)
    raw = bytearray(sc.b45decode(sc.make_code("staff", {"staff_id": "NV01"}, KEY)[4:]))
    raw[0] = sc.KIND_BYTES["decl"]
    assert sc.verify_code("SP2." + sc.b45encode(bytes(raw)), KEY).reason == "bad-signature"


def test_refusals_have_reasons():
    assert sc.verify_code("hello", KEY).reason == "not-ours"
    assert sc.verify_code("SP1.staff.x", KEY).reason == "malformed"
    assert sc.verify_code("SP1." + "a" * 2000, KEY).reason == "too-long"
    assert sc.verify_code("SP2.abc", KEY).reason == "malformed"            # lower case: not base45
    assert sc.verify_code("SP2." + sc.b45encode(b"\x01\x00"), KEY).reason == "malformed"


def test_a_signed_body_with_an_unknown_or_repeated_field_is_malformed():
    for body in (b"\x01\x00\x00\x09\x01A", b"\x01\x00\x00\x02\x01A\x02\x01B", b"\x01\x00\x00\x02\x05A"):
        code = "SP2." + sc.b45encode(body + sc._mac2(KEY, body))
        assert sc.verify_code(code, KEY).reason == "malformed"


def test_make_code_rejects_bad_input():
    for kind, payload, key in (("other", {}, KEY), ("staff", {}, b"short"),
                               ("staff", {"kind": "x"}, KEY), ("staff", {"n": 3}, KEY),
                               ("decl", {"date_of_birth": "18/01/1987"}, KEY),
                               ("decl", {"gender": "x"}, KEY), ("decl", {"full_name": "A" * 300}, KEY)):
        with pytest.raises(ValueError):
            sc.make_code(kind, payload, key)
    with pytest.raises(ValueError):
        sc.make_code("staff", {}, KEY, expires=date(2026, 1, 1), version=1)


def test_key_file(tmp_path):
    path = tmp_path / "key"
    path.write_text(sc.new_key() + "\n")
    assert len(sc.load_key(path)) == 32


@given(st.binary(max_size=200))
def test_base45_round_trip(data):
    assert sc.b45decode(sc.b45encode(data)) == data


@settings(max_examples=300)
@given(st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k != "kind"),
                       st.one_of(st.text(max_size=20), st.integers(), st.booleans()), max_size=5))
def test_any_legacy_payload_round_trips(payload):
    assert sc.verify_code(sc.make_code("decl", payload, KEY, version=1), KEY) == {"kind": "decl", **payload}


numbers = st.one_of(st.text("0123456789", min_size=1, max_size=30), st.text("0123456789*AB", min_size=1,
                                                                            max_size=20))


@settings(max_examples=300)
@given(st.fixed_dictionaries({}, optional={
    "declaration_id": st.text(min_size=1, max_size=20), "id_number": numbers,
    "full_name": st.text(min_size=1, max_size=60), "phone": numbers,
    "date_of_birth": st.dates(date(1900, 1, 1), date(2079, 1, 1)).map(date.isoformat),
    "gender": st.sampled_from(["unknown", "male", "female"]), "declared_on_behalf": st.just(True)}),
    st.none() | st.dates(date(2020, 1, 2), date(2199, 1, 1)))
def test_any_declaration_round_trips(payload, expires):
    data = sc.verify_code(sc.make_code("decl", payload, KEY, expires=expires), KEY)
    assert data == {"kind": "decl", **payload, **({"expires": expires.isoformat()} if expires else {})}


@settings(max_examples=500)
@given(st.text(max_size=300) | st.text(sc.B45, max_size=300).map(lambda t: "SP2." + t))
def test_any_text_is_refused_without_raising(text):
    assert not sc.verify_code(text, KEY)


@settings(max_examples=500)
@given(st.binary(max_size=120))
def test_any_signed_body_is_read_or_refused_without_raising(body):
    result = sc.verify_code("SP2." + sc.b45encode(body + sc._mac2(KEY, body)), KEY)
    assert isinstance(result, (dict, sc.Invalid))
