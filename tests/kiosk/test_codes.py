"""Code parsing: round trips for valid records, and hostile payloads end only in the parser's refusal."""
import random
from datetime import date

import pytest
from hypothesis import given, settings, strategies as st

from kiosk import cccd, codes
from kiosk.codes import PersonScan, Refused, StaffBadge, Tube, classify
from kiosk.staff import badge_code
from samplepoint import signed_codes, wire

TUBE = r"^DT\d{8}$"
KEY = b"k" * 32
EXAMPLE = ("001093029317|NGUYEN LE KHA HAN|1987-01-18|0|162979388586171100|"
           "<1<HS4010120878821<0944713700")

names = st.lists(st.sampled_from(["NGUYEN", "TRAN", "LE", "VAN", "THI", "AN", "Đức", "Ánh"]),
                 min_size=1, max_size=4).map(" ".join)
dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))
digits = lambda lo, hi: st.text("0123456789", min_size=lo, max_size=hi)


@st.composite
def persons(draw):
    on_behalf = draw(st.booleans())
    return wire.Person(
        source="personal-qr", id_number=draw(st.text("0123456789*", min_size=9, max_size=12)),
        full_name=draw(names), date_of_birth=draw(dates).isoformat(),
        gender=draw(st.sampled_from(["male", "female", "unknown"])),
        phone=draw(st.none() | digits(10, 10)), qid=draw(st.none() | digits(18, 18)),
        declared_on_behalf=on_behalf, declarer_qid=draw(digits(18, 18)) if on_behalf else None)


@settings(max_examples=400)
@given(persons())
def test_personal_qr_round_trip(person):
    parsed = codes.parse_personal_qr(codes.format_personal_qr(person))
    assert isinstance(parsed, PersonScan) and parsed.person == person


@st.composite
def cards(draw):
    born = draw(dates)
    gender = draw(st.sampled_from(["male", "female"]))
    number = f"{draw(st.integers(1, 96)):03d}{cccd.century_gender_digit(born.year, gender)}" \
             f"{born.year % 100:02d}{draw(digits(6, 6))}"
    six = draw(st.booleans())
    return cccd.CccdCard(number, None if six else draw(st.none() | digits(9, 9)),
                         draw(names), born.isoformat(), gender,
                         draw(st.sampled_from(["", "Số 1, Xã Tân Thành, Tỉnh Đồng Tháp"])),
                         draw(st.none() | dates.map(date.isoformat)), six_fields=six)


@settings(max_examples=400)
@given(cards())
def test_cccd_round_trip_seven_and_six_fields(card):
    assert cccd.parse_cccd_card(cccd.format_cccd(card)) == card
    scan = classify(cccd.format_cccd(card).encode(), TUBE)
    assert isinstance(scan, PersonScan) and scan.person.source == "cccd"


def test_public_example_and_key():
    scan = classify(EXAMPLE.encode(), TUBE)
    assert scan.person.full_name == "NGUYEN LE KHA HAN" and scan.person.gender == "male"
    assert scan.person.phone == "0944713700" and scan.key == "id:001093029317"


def test_masked_id_uses_qid_and_on_behalf_keeps_declarer():
    text = "******509|TRAN THI B|1950-02-03|1|123456789012345678|987654321098765432<2<<"
    scan = classify(text.encode(), TUBE)
    assert scan.key == "qid:123456789012345678"
    assert scan.person.declared_on_behalf and scan.person.declarer_qid == "987654321098765432"
    assert scan.person.gender == "female"


def test_cccd_cross_check_and_same_person_as_personal_qr():
    good = "079203001234|215123456|Nguyễn Văn An|15062003|Nam|Số 1, Phường Bến Nghé|20042021"
    assert classify(good.encode(), TUBE).key == "id:079203001234"
    for bad in ("079303001234|215123456|Nguyễn Văn An|15062003|Nam|x|20042021",   # female digit
                "079204001234|215123456|Nguyễn Văn An|15062003|Nam|x|20042021",   # year 04
                "079003001234|215123456|Nguyễn Văn An|15062003|Nam|x|20042021"):  # 1900s
        assert classify(bad.encode(), TUBE).reason == "cccd-mismatch"
    decomposed = "079203001234|Nguye\u0302\u0303n Văn An|15062003|Nam|x|20042021"
    assert classify(decomposed.encode(), TUBE).person.full_name == "Nguyễn Văn An"   # NFC


def test_tube_badge_declaration_and_forgery():
    assert classify(b"DT12345678", TUBE) == Tube("DT12345678")
    assert classify(badge_code("NV01", "Lê Hoa", KEY).encode(), TUBE, KEY) == StaffBadge("NV01", "Lê Hoa")
    forged = signed_codes.make_code("staff", {"staff_id": "NV01"}, b"x" * 32)
    assert classify(forged.encode(), TUBE, KEY).reason == "signed-bad-signature"
    assert classify(forged.encode(), TUBE, None).reason == "no-code-key"
    decl = signed_codes.make_code("decl", {"id_number": "001093029317", "full_name": "Trần B",
                                           "date_of_birth": "1990-01-02"}, KEY)
    scan = classify(decl.encode(), TUBE, KEY)
    assert scan.person.source == "declaration" and scan.key == "id:001093029317"
    bad_decl = signed_codes.make_code("decl", {"full_name": "<script>"}, KEY)
    assert classify(bad_decl.encode(), TUBE, KEY).reason == "bad-declaration"


@pytest.mark.parametrize("ext,declarer,gender,phone,dropped", [
    ("<1<HS4010120878821<0944713700<", None, "male", "0944713700", ("ext-extra",)),     # extra '<'
    ("<1<HS4010120878821<0944713700<FOO=1", None, "male", "0944713700", ("ext-extra", "ext-unknown")),
    ("<7<HS4010120878821<0944713700", None, "unknown", "0944713700", ("ext-gender",)),
    ("<1<HS4010120878821<09447-13700", None, "male", None, ("ext-phone",)),
    ("x<1<<", None, "male", None, ("ext-declarer",)),
    ("<1<hs 40<0944713700", None, "male", "0944713700", ("ext-insurance",)),
    ("987654321098765432<<2<<0944713700<", "987654321098765432", "female", "0944713700", ("ext-extra",)),
    ("<1<0944713700<0912345678<HS4010120878821", None, "male", None, ("ext-extra", "ext-phone")),
    ("<1|<<0944713700", None, "unknown", "0944713700", ("ext-gender",)),                  # a stray '|'
    ("<" * 300, None, "unknown", None, ("ext-extra",)),
])
def test_odd_extras_never_refuse_and_keep_the_core_fields(ext, declarer, gender, phone, dropped):
    text = f"001093029317|NGUYEN LE KHA HAN|1987-01-18|1|162979388586171100|{ext}"
    scan = classify(text.encode(), TUBE)
    assert isinstance(scan, PersonScan), scan
    person = scan.person
    assert (person.id_number, person.full_name, person.date_of_birth, person.qid) == (
        "001093029317", "NGUYEN LE KHA HAN", "1987-01-18", "162979388586171100")
    assert (person.declarer_qid, person.gender, person.phone) == (declarer, gender, phone)
    assert scan.dropped == dropped and scan.key == "id:001093029317"


@settings(max_examples=300)
@given(st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), max_size=200))
def test_any_extras_keep_the_person(ext):
    scan = classify(f"001093029317|NGUYEN AN|1987-01-18|0|162979388586171100|{ext}", TUBE)
    assert isinstance(scan, PersonScan) and scan.person.full_name == "NGUYEN AN"


FULLWIDTH = "１６２９７９３８８５８６１７１１００"
ARABIC_INDIC = "\u0661\u0666\u0662\u0669\u0667\u0669\u0663\u0668\u0668\u0665\u0668\u0666"


@pytest.mark.parametrize("text,reason", [
    (f"******509|TRAN THI B|1950-02-03|0|{FULLWIDTH}|", "bad-qid"),
    (f"******509|TRAN THI B|1950-02-03|0|{ARABIC_INDIC}|", "bad-qid"),
    ("******509|TRAN THI B|１９５０-02-03|0|123456789012345678|", "bad-date"),
    ("００１０９３０２９３１７|TRAN THI B|1950-02-03|0||", "bad-id"),
    ("******509|TRAN THI B|1950-02-03|１|123456789012345678|", "bad-kind"),
])
def test_non_ascii_digits_are_refused_in_core_fields(text, reason):
    assert classify(text.encode(), TUBE).reason == reason


def test_non_ascii_digits_in_extras_are_dropped_never_forwarded():
    text = f"******509|TRAN THI B|1950-02-03|1|123456789012345678|{FULLWIDTH}<2<<０９４４７１３７００"
    scan = classify(text.encode(), TUBE)
    assert scan.person.declarer_qid is None and scan.person.phone is None
    assert scan.dropped == ("ext-declarer", "ext-phone") and scan.person.gender == "female"
    decl = signed_codes.make_code("decl", {"id_number": "001093029317", "full_name": "Trần B",
                                           "phone": "０９４４７１３７００"}, KEY)
    assert classify(decl.encode(), TUBE, KEY).reason == "bad-declaration"


def test_text_from_the_decoder_is_read_as_given():
    latin = "001093029317|JOSÉ MÜLLER|1987-01-18|0||"
    assert classify(latin, TUBE).person.full_name == "JOSÉ MÜLLER"
    assert classify(latin.encode("latin-1"), TUBE).reason == "binary"     # bare bytes must be UTF-8
    assert classify("abc\x00|d", TUBE).reason == "control-characters"
    assert classify("x" * 5000, TUBE).reason == "too-long"


def test_expired_and_current_sp2_badges():
    badge = signed_codes.make_code("staff", {"staff_id": "NV01", "name": "Lê Hoa", "badge_id": "17"},
                                   KEY, expires=date(2026, 6, 30))
    scan = classify(badge, TUBE, KEY, now=date(2026, 6, 30))
    assert scan == StaffBadge("NV01", "Lê Hoa", badge_id="17", expires="2026-06-30")
    refused = classify(badge, TUBE, KEY, now=date(2026, 7, 1))
    assert refused.reason == "signed-expired" and "hết hạn" in refused.message
    legacy = signed_codes.make_code("staff", {"staff_id": "NV01", "name": "Lê Hoa"}, KEY, version=1)
    assert classify(legacy, TUBE, KEY, now=date(2040, 1, 1)) == StaffBadge("NV01", "Lê Hoa")


@pytest.mark.parametrize("payload,reason", [
    (b"x" * 5000, "too-long"), (b"\xff\xfe", "binary"), (b"abc\x00|d", "control-characters"),
    (b"<script>alert(1)</script>", "unknown-code"), (b"https://example.com", "unknown-code"),
    (b"1|2|3", "field-count"), (b"001093029317|N|1987-02-30|0|1|", "bad-date"),
])
def test_hostile_payloads_refused_with_reason(payload, reason):
    result = classify(payload, TUBE, KEY)
    assert isinstance(result, Refused) and result.reason == reason and result.message


def _mutate(rng: random.Random, text: bytes) -> bytes:
    data = bytearray(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randrange(len(data) + 1)
        if op < 0.3 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op < 0.5:
            data[pos:pos] = rng.choice([b"|", b"<", b"*", b"\x00", "Ữ".encode(), b"9" * 30, b"SP1."])
        elif op < 0.7 and data:
            del data[pos:pos + rng.randint(1, 8)]
        else:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
    return bytes(data)


def test_100000_random_and_mutated_payloads_only_ever_refuse():
    rng = random.Random(2021)
    seeds = [EXAMPLE.encode(), b"DT12345678",
             "079203001234|215123456|Nguyễn Văn An|15062003|Nam|Số 1|20042021".encode(),
             badge_code("NV01", "Lê Hoa", KEY).encode(),
             signed_codes.make_code("decl", {"id_number": "0123456789", "full_name": "A B"}, KEY).encode()]
    kinds = (Tube, PersonScan, StaffBadge, Refused)
    for i in range(100_000):
        if i % 4 == 0:
            payload = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        else:
            payload = _mutate(rng, rng.choice(seeds))
        result = classify(payload, TUBE, KEY)       # any exception fails the test
        assert isinstance(result, kinds)
