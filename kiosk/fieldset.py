"""Generates a field-like test set: 640×480 grey frames of codes as the kiosk camera sees them.

Categories: phone screens at an angle, with glare, with moiré, motion/focus blur, low light, dark
mode (inverted), printed CCCD cards, curved tube labels (some held upright), and frames with
nothing in them. Deterministic for a seed, so benchmarks and tests compare like with like; the
generator is committed, never the images. Every person is fictional.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from kiosk.cccd import CccdCard, century_gender_digit, format_cccd
from kiosk.codes import format_personal_qr
from kiosk.framegen import FRAME_SIZE, code128_image, fictional_person, qr_image, tube_code

CATEGORIES = ("clean", "small", "angle", "glare", "moire", "blur", "low-light", "dark-mode",
              "id-card", "tube", "empty")
W, H = FRAME_SIZE


@dataclass(frozen=True)
class Sample:
    category: str
    grey: np.ndarray            # H×W uint8
    expected: bytes | None      # the text a decoder must find, None for an empty frame


def scene(rng: random.Random) -> np.ndarray:
    """A table-top background: a lighting gradient, soft blobs (hands, sleeves) and a few edges."""
    nrng = np.random.default_rng(rng.randrange(2**32))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    base = rng.uniform(70, 150) + rng.uniform(-40, 40) * xx / W + rng.uniform(-30, 30) * yy / H
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(2, 6)):
        x, y, r = rng.randint(0, W), rng.randint(0, H), rng.randint(30, 160)
        draw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=rng.randint(40, 200))
    for _ in range(rng.randint(0, 3)):
        x, y = rng.randint(0, W), rng.randint(0, H)
        draw.rectangle((x, y, x + rng.randint(40, 300), y + rng.randint(5, 60)), fill=rng.randint(20, 230))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(2, 6)))
    noise = nrng.normal(0, 3, (H, W))
    return np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255)


def phone(code: Image.Image, rng: random.Random, dark: bool = False) -> Image.Image:
    """A phone showing the code on its screen: bezel, screen, app header bar."""
    side = code.width
    screen_w, screen_h = side + rng.randint(30, 60), side + rng.randint(120, 200)
    body = Image.new("L", (screen_w + 16, screen_h + 40), rng.randint(10, 40))
    screen = Image.new("L", (screen_w, screen_h), 30 if dark else rng.randint(235, 255))
    ImageDraw.Draw(screen).rectangle((0, 0, screen_w, 40), fill=90 if dark else rng.randint(60, 200))
    if dark:
        code = Image.eval(code, lambda v: 255 - v)
        code = Image.eval(code, lambda v: 30 + v * 200 // 255)
    screen.paste(code, ((screen_w - side) // 2, 60 + rng.randint(0, screen_h - side - 70)))
    body.paste(screen, (8, 20))
    return body


def place(frame: np.ndarray, item: Image.Image, rng: random.Random, mask: Image.Image | None = None):
    item = item.convert("L")
    if item.width > W - 20 or item.height > H - 20:
        ratio = min((W - 20) / item.width, (H - 20) / item.height)
        item = item.resize((int(item.width * ratio), int(item.height * ratio)), Image.BILINEAR)
        mask = mask.resize(item.size) if mask is not None else None
    x, y = rng.randint(10, W - item.width - 10), rng.randint(10, H - item.height - 10)
    canvas = Image.fromarray(frame.astype(np.uint8))
    canvas.paste(item, (x, y), mask)
    return np.asarray(canvas, dtype=np.float32), (x, y, item.width, item.height)


def tilt(item: Image.Image, rng: random.Random, strength: float) -> tuple[Image.Image, Image.Image]:
    """Perspective as if the phone were tilted; returns the image and its opacity mask."""
    w, h = item.size
    d = lambda: rng.uniform(0, strength) * min(w, h)
    quad = (d(), d(), d(), h - d(), w - d(), h - d(), w - d(), d())   # ul, ll, lr, ur (source)
    out = item.transform(item.size, Image.QUAD, quad, Image.BILINEAR)
    mask = Image.new("L", item.size, 255).transform(item.size, Image.QUAD, quad, Image.NEAREST)
    return out, mask


def personal_code(rng: random.Random) -> str:
    return format_personal_qr(fictional_person(rng))


def cccd_code(rng: random.Random) -> str:
    person = fictional_person(rng)
    year = int(person.date_of_birth[:4])
    number = f"{rng.randint(1, 96):03d}{century_gender_digit(year, person.gender)}{year % 100:02d}" \
             f"{rng.randint(0, 999999):06d}"
    card = CccdCard(number, f"{rng.randint(10**8, 10**9 - 1)}" if rng.random() < 0.6 else None,
                    "Nguyễn Thị Ánh Tuyết" if person.gender == "female" else "Trần Văn Đức",
                    person.date_of_birth, person.gender,
                    f"Số {rng.randint(1, 300)}, Ấp Tân Hoà, Xã Tân Thành, Tỉnh Đồng Tháp",
                    f"{rng.randint(2016, 2024)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
                    six_fields=rng.random() < 0.3)
    return format_cccd(card)


def _phone_frame(rng, text, *, dark=False, angle=0.0, scale=None):
    code = qr_image(text, scale=scale or rng.choice([3, 4]))
    item = phone(code, rng, dark=dark)
    mask = None
    if angle:
        item, mask = tilt(item, rng, angle)
    return place(scene(rng), item, rng, mask)


def _glare(frame, box, rng):
    x, y, w, h = box
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    cx, cy = x + rng.uniform(0.2, 0.8) * w, y + rng.uniform(0.2, 0.8) * h
    radius = rng.uniform(0.15, 0.3) * w
    spot = np.exp(-(((xx - cx) ** 2 + ((yy - cy) * 1.6) ** 2) / (2 * radius ** 2)))
    return frame + spot * rng.uniform(120, 200)


def _moire(frame, box, rng):
    x, y, w, h = box
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f1, f2 = rng.uniform(0.35, 0.48), rng.uniform(0.02, 0.08)
    wave = np.sin(2 * np.pi * (f1 * xx + f2 * yy)) * np.sin(2 * np.pi * (f2 * xx + f1 * yy))
    out = frame.copy()
    out[y:y + h, x:x + w] *= 1 - rng.uniform(0.15, 0.3) * (0.5 + 0.5 * wave)
    return out


def _blur(frame, rng):
    image = Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        return np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 1.8))), np.float32)
    length = rng.randint(4, 7)
    kernel = np.ones(length, np.float32) / length
    arr = np.asarray(image, np.float32)
    return np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 1, arr)


def _low_light(frame, rng):
    nrng = np.random.default_rng(rng.randrange(2**32))
    dim = frame * rng.uniform(0.12, 0.22)
    return dim + nrng.normal(0, rng.uniform(2, 4), frame.shape)


def _card(rng, text):
    card = Image.new("L", (400, 252), rng.randint(190, 230))
    draw = ImageDraw.Draw(card)
    draw.rectangle((0, 0, 340, 30), fill=rng.randint(120, 170))
    for row in range(6):       # lines of printed text
        draw.rectangle((150, 50 + row * 24, 150 + rng.randint(80, 230), 58 + row * 24), fill=70)
    code = qr_image(text, scale=2)      # printed small: 2 pixels a module at arm's length
    card.paste(code, (6, 252 - code.height - 6))
    return card.rotate(rng.uniform(-12, 12), Image.BILINEAR, expand=True, fillcolor=0)


def _tube(rng, text):
    label = code128_image(text, module=2, height=70)
    arr = np.asarray(label, np.float32)
    w = arr.shape[1]
    # A label wrapped around a tube: bars squeeze towards the edges and the sides fall into shade.
    u = np.linspace(-0.85, 0.85, w)
    src = ((np.arcsin(u) / np.arcsin(0.85)) * 0.5 + 0.5) * (w - 1)
    curved = arr[:, np.clip(src.astype(int), 0, w - 1)] * (0.55 + 0.45 * np.cos(u * 1.3))
    tube = Image.new("L", (w + 20, 110), rng.randint(200, 240))
    tube.paste(Image.fromarray(curved.astype(np.uint8)), (10, 20))
    if rng.random() < 0.4:
        tube = tube.rotate(90, expand=True)
    return tube


def make_sample(category: str, rng: random.Random) -> Sample:
    text = None
    if category in ("clean", "small", "angle", "glare", "moire", "blur", "low-light", "dark-mode"):
        text = personal_code(rng)
        frame, box = _phone_frame(rng, text, dark=category == "dark-mode",
                                  angle=0.22 if category == "angle" else 0.0,
                                  scale=2 if category == "small" else None)
        frame = {"glare": lambda f: _glare(f, box, rng), "moire": lambda f: _moire(f, box, rng),
                 "blur": lambda f: _blur(f, rng), "low-light": lambda f: _low_light(f, rng)
                 }.get(category, lambda f: f)(frame)
    elif category == "id-card":
        text = cccd_code(rng)
        frame, _ = place(scene(rng), _card(rng, text), rng)
    elif category == "tube":
        text = tube_code(rng)
        frame, _ = place(scene(rng), _tube(rng, text), rng)
    elif category == "empty":
        frame = scene(rng)
        if rng.random() < 0.5:     # a phone without a code on screen (app still loading)
            frame, _ = place(frame, phone(Image.new("L", (120, 120), 245), rng), rng)
    else:
        raise ValueError(f"unknown category {category!r}")
    grey = np.clip(frame, 0, 255).astype(np.uint8)
    return Sample(category, grey, text.encode("utf-8") if text else None)


def field_set(per_category: int, seed: int = 7, categories=CATEGORIES) -> list[Sample]:
    """per_category frames of each category, the same for the same seed."""
    samples = []
    for index, category in enumerate(categories):
        rng = random.Random(seed * 1000 + index)
        samples += [make_sample(category, rng) for _ in range(per_category)]
    return samples
