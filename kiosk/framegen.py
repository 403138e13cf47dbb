"""Generates camera-like frames of fictional citizens' QR codes and tube barcodes, for replay and tests."""
from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import barcode
import segno
from PIL import Image

from kiosk.codes import format_personal_qr
from samplepoint import wire

FRAME_SIZE = (640, 480)
SURNAMES = ["NGUYEN", "TRAN", "LE", "PHAM", "HOANG", "HUYNH", "PHAN", "VU", "VO", "DANG", "BUI", "DO"]
MIDDLE = ["VAN", "THI", "HUU", "MINH", "NGOC", "THANH", "DUC", "KIM", "QUANG", "BAO"]
GIVEN = ["AN", "BINH", "CHI", "DUNG", "GIANG", "HA", "HAI", "HANH", "HUNG", "KHANH", "LAN", "LINH",
         "LONG", "MAI", "NAM", "NGA", "PHUONG", "QUAN", "SON", "TAM", "THAO", "TRANG", "TUAN", "VY"]


def fictional_person(rng: random.Random) -> wire.Person:
    """A made-up citizen with a well-formed national personal QR (never a real person's data)."""
    gender = rng.choice(["male", "female"])
    year = rng.randint(1935, 2015)
    dob = f"{year:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    century_gender = (0 if year < 2000 else 2) + (1 if gender == "female" else 0)
    id_number = f"0{rng.randint(1, 96):02d}{century_gender}{year % 100:02d}{rng.randint(0, 999999):06d}"
    return wire.Person(
        source="personal-qr", id_number=id_number,
        full_name=f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
        date_of_birth=dob, gender=gender, phone=f"09{rng.randint(0, 99999999):08d}",
        qid=str(rng.randint(10**17, 10**18 - 1)))


def tube_code(rng: random.Random) -> str:
    return f"DT{rng.randint(0, 99999999):08d}"


def qr_image(text: str, scale: int = 4) -> Image.Image:
    buffer = io.BytesIO()
    segno.make_qr(text, error="m").save(buffer, kind="png", scale=scale, border=4)
    buffer.seek(0)
    return Image.open(buffer).convert("L")


def code128_image(text: str, module: int = 2, height: int = 80, quiet: int = 10) -> Image.Image:
    """A Code 128 label drawn with whole-pixel modules, as a printed tube label looks to the camera."""
    modules = barcode.get("code128", text).build()[0]
    width = (len(modules) + 2 * quiet) * module
    image = Image.new("L", (width, height), 255)
    row = bytes(0 if bit == "1" else 255 for bit in ("0" * quiet + modules + "0" * quiet)
                for _ in range(module))
    for y in range(height):
        image.paste(Image.frombytes("L", (width, 1), row), (0, y))
    return image


def frame_with(code: Image.Image | None, rng: random.Random) -> Image.Image:
    """A grey 640×480 frame, code placed somewhere inside it, on a mottled background."""
    frame = Image.new("L", FRAME_SIZE, color=rng.randint(90, 160))
    if code is not None:
        if code.width > FRAME_SIZE[0] - 20:
            ratio = (FRAME_SIZE[0] - 20) / code.width
            code = code.resize((int(code.width * ratio), int(code.height * ratio)))
        x = rng.randint(10, FRAME_SIZE[0] - code.width - 10)
        y = rng.randint(10, max(10, FRAME_SIZE[1] - code.height - 10))
        frame.paste(code, (x, y))
    return frame


@dataclass
class Session:
    """What a generated replay folder contains, for checking the kiosk's output against it."""
    tubes: list[tuple[str, list[wire.Person]]]

    @property
    def people(self) -> int:
        return sum(len(persons) for _, persons in self.tubes)


def write_session(folder: Path, people: int, pool_size: int, seed: int = 1,
                  frames_per_code: int = 3, blank_between: int = 2, badge: str | None = None) -> Session:
    """Frames for tubes of up to pool_size people: the staff badge (when given) first, then per
    tube its barcode and each person's QR, with empty frames between codes."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    tubes = []
    left = people
    while left > 0:
        persons = [fictional_person(rng) for _ in range(min(pool_size, left))]
        tubes.append((tube_code(rng), persons))
        left -= len(persons)
    index = 0

    def emit(image: Image.Image | None, count: int):
        nonlocal index
        for _ in range(count):
            frame_with(image, rng).save(folder / f"frame-{index:06d}.png", compress_level=1)
            index += 1

    if badge is not None:
        emit(qr_image(badge), frames_per_code)
        emit(None, blank_between)
    for code, persons in tubes:
        emit(code128_image(code), frames_per_code)
        emit(None, blank_between)
        for person in persons:
            emit(qr_image(format_personal_qr(person)), frames_per_code)
            emit(None, blank_between)
    return Session(tubes)
