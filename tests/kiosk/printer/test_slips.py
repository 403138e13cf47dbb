"""The slips as pictures: Vietnamese text, a decodable barcode and QR, any paper width, hostile text."""
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from kiosk import codes
from kiosk.decode import make_decoder
from kiosk.framegen import fictional_person
from kiosk.printer import slips
from samplepoint import signed_codes

VN = timezone(timedelta(hours=7))
AT = datetime(2021, 8, 20, 9, 12, tzinfo=VN)
KEY = b"s" * 32
SITE = "Điểm lấy mẫu Trạm Y tế xã Tân Hội Trung"


def decoded(image, decoder: str = "zxing+pyzbar"):
    grey = np.asarray(image.convert("L"))
    return [s.data for s in make_decoder(decoder).decode(grey)]


def receipt(**changes):
    base = slips.TubeReceipt(SITE, "DT00000123", "rt-pcr", AT, people=5,
                             person_name="NGUYỄN THỊ HƯƠNG", birth_year="1950", masked_id="*****9317")
    return replace(base, **changes)


def declaration_for(person, short="K7M2-9QXD"):
    payload = {"declaration_id": short, "id_number": person.id_number, "full_name": person.full_name,
               "date_of_birth": person.date_of_birth, "gender": person.gender,
               "declared_on_behalf": True}
    code = signed_codes.make_code("decl", payload, KEY)
    return slips.DeclarationSlip(SITE, short, code, person.full_name, person.date_of_birth[:4],
                                 "*****" + person.id_number[-4:], AT)


@pytest.mark.parametrize("paper", [58, 80])
def test_receipt_is_as_wide_as_the_paper_and_its_barcode_reads_back(paper):
    image = slips.render(receipt(), paper)
    assert image.mode == "1" and image.width == slips.PAPER_DOTS[paper]
    assert b"DT00000123" in decoded(image)


@pytest.mark.parametrize("paper", [58, 80])
def test_declaration_slip_qr_is_accepted_by_the_kiosk_as_that_person(paper):
    person = fictional_person(random.Random(3))
    image = slips.render(declaration_for(person), paper)
    data = [d for d in decoded(image) if d.startswith((b"SP1.", b"SP2."))]
    assert len(data) == 1
    scan = codes.classify(data[0], r"DT\d{8}", KEY)
    assert isinstance(scan, codes.PersonScan)
    assert scan.person.full_name == person.full_name and scan.person.id_number == person.id_number
    assert scan.person.declared_on_behalf is True


def test_vietnamese_text_is_drawn_not_replaced():
    # The same slip with and without diacritics differs: the marks are drawn, not dropped or boxed.
    marked = slips.render(receipt(person_name="NGUYỄN THỊ HƯƠNG"))
    plain = slips.render(receipt(person_name="NGUYEN THI HUONG"))
    assert marked.tobytes() != plain.tobytes()
    face = slips.font(22)
    assert face.getmask("Ễ").getbbox() != face.getmask("E").getbbox()


def test_long_words_wrap_inside_the_paper():
    face = slips.font(22)
    lines = slips.wrap("X" * 200 + " ngắn", face, 300)
    assert len(lines) > 2 and all(face.getlength(line) <= 300 for line in lines)


@settings(max_examples=40, deadline=None)
@given(name=st.text(max_size=400), note=st.text(max_size=300), tube=st.text(min_size=1, max_size=60))
@example(name="\u2028", note="", tube="\u2029")          # separators text layout refuses
def test_any_text_draws_a_slip_without_failing(name, note, tube):
    image = slips.render(receipt(person_name=name, note=note, tube_code=tube))
    assert image.width == 384 and 100 < image.height < 4000
