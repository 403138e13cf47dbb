"""Generates a field-like test set: 640×480 grey frames of codes as the kiosk camera sees them.

Base categories: phone screens at an angle, with glare, with moiré, motion/focus blur, low light,
dark mode (inverted), printed CCCD cards, curved tube labels (some held upright), and frames with
nothing in them. Hard categories (`HARD`), where fixed-focus cameras and real desks fail most:
cluttered negatives (printed paper, text, fabric, keyboards, hands), defocus at 20-40 cm, motion
blur of a 15 fps exposure, specular glare on phone glass and laminated cards, modules of 2 px or
less, JPEG at quality 30-50, dense QR (version 10-15: declaration codes of the older SP1 format),
curved tube labels partly turned away and tilted, and dark-mode screens in low light.
Deterministic for a seed, so benchmarks and tests compare like with like; the generator is
committed, never the images. Every person is fictional.
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from kiosk.cccd import CccdCard, century_gender_digit, format_cccd
from kiosk.codes import format_personal_qr
from kiosk.framegen import FRAME_SIZE, code128_image, fictional_person, qr_image, tube_code
from samplepoint import signed_codes

BASE = ("clean", "small", "angle", "glare", "moire", "blur", "low-light", "dark-mode",
        "id-card", "tube", "empty")
HARD = ("clutter", "defocus", "motion", "specular", "tiny", "jpeg", "dense", "tube-turned",
        "dark-low")
CATEGORIES = BASE + HARD
NEGATIVES = ("empty", "clutter")          # frames without a code: any read is a false read
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
    """Perspective as if the phone were tilted (a projective map, as a camera sees a tilted
    plane: straight module rows stay straight); returns the image and its opacity mask."""
    w, h = item.size
    d = lambda: rng.uniform(0, strength) * min(w, h)
    seen = [(d(), d()), (w - d(), d()), (w - d(), h - d()), (d(), h - d())]   # where corners land
    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    coefficients = _perspective(seen, corners)
    out = item.transform(item.size, Image.PERSPECTIVE, coefficients, Image.BILINEAR)
    mask = Image.new("L", item.size, 255).transform(item.size, Image.PERSPECTIVE, coefficients,
                                                    Image.NEAREST)
    return out, mask


def _perspective(seen, source) -> tuple[float, ...]:
    """Pillow's PERSPECTIVE coefficients mapping each output point in `seen` to `source`."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(seen, source):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return tuple(np.linalg.solve(np.array(rows, float), np.array(rhs, float)))


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


# --- hard categories -----------------------------------------------------------------------------

_WORDS = ("xét nghiệm", "ĐIỂM LẤY MẪU", "họ tên", "năm sinh", "địa chỉ", "số điện thoại", "RT-PCR",
          "Phường 1", "kết quả", "âm tính", "ngày", "2021", "0912", "STT", "ký tên", "mẫu gộp")


def _font(size: int):
    return ImageFont.load_default(size=size)


def _turned(item: Image.Image, angle: float):
    """item rotated by angle degrees, and the mask of where it is (its dark parts included)."""
    mask = Image.new("L", item.size, 255).rotate(angle, Image.NEAREST, expand=True, fillcolor=0)
    return item.rotate(angle, Image.BILINEAR, expand=True, fillcolor=0), mask


def _paper(rng):
    """A printed form: lines of text, a table grid, some bold headings."""
    w, h = rng.randint(260, 460), rng.randint(200, 380)
    sheet = Image.new("L", (w, h), rng.randint(215, 250))
    draw = ImageDraw.Draw(sheet)
    y = 8
    while y < h - 14:
        size = rng.choice([9, 10, 11, 12, 14])
        line = " ".join(rng.choice(_WORDS) for _ in range(12))
        draw.text((8, y), line, fill=rng.randint(10, 60), font=_font(size))
        y += size + rng.randint(3, 8)
        if rng.random() < 0.15:        # a table row rule
            draw.line((4, y, w - 4, y), fill=40, width=1)
    return _turned(sheet, rng.uniform(-25, 25))


def _fabric(rng):
    """A woven or striped sleeve: fine periodic texture, the worst case for a 1D-bar detector."""
    w, h = rng.randint(200, 420), rng.randint(150, 320)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period, angle = rng.uniform(3, 9), rng.uniform(0, np.pi)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    stripes = np.sign(np.sin(2 * np.pi * u / period))
    weave = np.sign(np.sin(2 * np.pi * (xx * np.cos(angle + 1.57) + yy * np.sin(angle + 1.57)) / period))
    pattern = stripes if rng.random() < 0.5 else stripes * weave
    image = 120 + pattern * rng.uniform(30, 70)
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)), None


def _keyboard(rng):
    """Rows of keys with their letters."""
    key, gap = rng.randint(18, 30), rng.randint(3, 6)
    cols, rows = rng.randint(10, 15), rng.randint(4, 6)
    board = Image.new("L", (cols * (key + gap) + gap, rows * (key + gap) + gap), rng.randint(20, 60))
    draw = ImageDraw.Draw(board)
    for r in range(rows):
        for c in range(cols):
            x, y = gap + c * (key + gap), gap + r * (key + gap)
            draw.rounded_rectangle((x, y, x + key, y + key), radius=3, fill=rng.randint(30, 80))
            draw.text((x + 4, y + 2), rng.choice("QWERTYUIOPASDFGHJKLZXCVBNM1234567890"), fill=220,
                      font=_font(key // 2))
    return _turned(board, rng.uniform(-20, 20))


def _hand(rng):
    """A hand: palm and fingers, skin-grey, softly shaded."""
    hand = Image.new("L", (220, 260), 0)
    draw = ImageDraw.Draw(hand)
    tone = rng.randint(120, 190)
    draw.ellipse((40, 110, 180, 250), fill=tone)
    for i in range(4):
        x = 45 + i * 33
        draw.rounded_rectangle((x, 10 + abs(i - 1.5) * 15, x + 26, 170), radius=13, fill=tone - 10 * i)
    draw.rounded_rectangle((0, 120, 60, 150), radius=14, fill=tone)
    mask = hand.point(lambda v: 255 if v else 0)      # the hand's shape: every part of it is > 0
    angle = rng.uniform(0, 360)
    return hand.filter(ImageFilter.GaussianBlur(1.5)).rotate(angle, expand=True), \
        mask.rotate(angle, expand=True)


def clutter(rng: random.Random) -> np.ndarray:
    """A desk with no code: one to three of printed paper, fabric, a keyboard, a hand."""
    frame = scene(rng)
    makers = [_paper, _fabric, _keyboard, _hand]
    for maker in rng.sample(makers, rng.randint(1, 3)) if rng.random() < 0.6 else [_paper, _paper]:
        item, mask = maker(rng)
        frame, _ = place(frame, item, rng, mask)
    return frame


def _disc_blur(frame, radius: float):
    """Defocus: convolution with a uniform disc (the aperture's image), via the FFT."""
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float32)
    return _convolve(frame, disc / disc.sum())


def _motion_blur(frame, length: float, angle: float):
    """The code moving `length` pixels during the exposure, in direction `angle` (radians)."""
    r = int(np.ceil(length / 2)) + 1
    kernel = Image.new("F", (2 * r + 1, 2 * r + 1), 0)
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    ImageDraw.Draw(kernel).line((r - dx, r - dy, r + dx, r + dy), fill=1.0, width=1)
    k = np.asarray(kernel, np.float32)
    return _convolve(frame, k / k.sum())


def _convolve(frame, kernel):
    kh, kw = kernel.shape
    padded = np.pad(frame, ((kh, kh), (kw, kw)), mode="edge")
    spectrum = np.fft.rfft2(padded) * np.fft.rfft2(kernel, padded.shape)
    out = np.fft.irfft2(spectrum, padded.shape)
    return out[kh + kh // 2:kh + kh // 2 + frame.shape[0], kw + kw // 2:kw + kw // 2 + frame.shape[1]]


def _specular(frame, box, rng):
    """A reflection on glass or laminate: a hard-edged, clipped white streak over part of the code."""
    x, y, w, h = box
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    cx, cy = x + rng.uniform(0.25, 0.75) * w, y + rng.uniform(0.25, 0.75) * h
    angle = rng.uniform(0, np.pi)
    along = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    across = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    width = rng.uniform(0.04, 0.09) * w
    streak = np.exp(-(across / width) ** 4) * np.exp(-(along / (0.8 * w)) ** 2)
    return frame + streak * rng.uniform(150, 260)


def _jpeg(frame, quality: int):
    buffer = io.BytesIO()
    Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())), np.float32)


def legacy_declaration(rng: random.Random, people: int) -> str:
    """An SP1 declaration code (issued before SP2; still in people's phones) for one to a few
    people: the dense QR codes (version 10-15) of this set."""
    key = bytes(rng.randrange(256) for _ in range(32))
    person = fictional_person(rng)
    payload = {"declaration_id": "K7M2-9QXD", "id_number": person.id_number,
               "full_name": "Nguyễn " + " ".join(rng.choice(["Thị", "Văn", "Ánh", "Đức", "Tuyết", "Hoà"])
                                                  for _ in range(people + 1)),
               "date_of_birth": person.date_of_birth, "gender": person.gender, "phone": person.phone}
    return signed_codes.make_code("decl", payload, key, version=1)


def _tiny_frame(rng, text):
    """Modules of 1.6-2 pixels: the code far away or small on screen, resampled as a sensor does."""
    code = qr_image(text, scale=4)
    module = rng.uniform(1.6, 2.0)
    side = int(code.width * module / 4)
    item = phone(code.resize((side, side), Image.BILINEAR), rng)
    return place(scene(rng), item, rng)


def _turned_tube(rng, text):
    """A tube label turned partly away (one end squeezed harder into the curve) and tilted.

    The label is drawn four times finer and averaged back down, as a sensor integrates light, so
    the squeezed end blurs rather than aliases."""
    fine, module = 4, rng.choice([2, 3])      # held closer than a phone: up to 3 pixels a module
    arr = np.asarray(code128_image(text, module=module * fine, height=60), np.float32)
    w = arr.shape[1] // fine
    lo, hi = rng.choice([(-0.85, 0.55), (-0.55, 0.85), (-0.8, 0.65), (-0.65, 0.8)])
    u = np.linspace(lo, hi, w * fine)
    src = (np.arcsin(u) - np.arcsin(lo)) / (np.arcsin(hi) - np.arcsin(lo)) * (arr.shape[1] - 1)
    curved = arr[:, np.clip(src.astype(int), 0, arr.shape[1] - 1)] * (0.5 + 0.5 * np.cos(u * 1.4))
    curved = curved.reshape(60, w, fine).mean(axis=2)
    tube = Image.new("L", (w + 20, 100), rng.randint(200, 240))
    tube.paste(Image.fromarray(curved.astype(np.uint8)), (10, 20))
    angle = rng.uniform(-30, 30) + (90 if rng.random() < 0.4 else 0)
    mask = Image.new("L", tube.size, 255).rotate(angle, Image.NEAREST, expand=True, fillcolor=0)
    return tube.rotate(angle, Image.BILINEAR, expand=True, fillcolor=0), mask


def _hard_sample(category: str, rng: random.Random):
    """(frame, expected text) for a HARD category."""
    if category == "clutter":
        return clutter(rng), None
    if category == "dense":
        text = legacy_declaration(rng, rng.randint(1, 4))
        frame, _ = _phone_frame(rng, text, scale=rng.choice([3, 4]))
        return frame, text
    if category == "tube-turned":
        text = tube_code(rng)
        tube, mask = _turned_tube(rng, text)
        frame, _ = place(scene(rng), tube, rng, mask)
        return frame, text
    text = personal_code(rng)
    if category == "tiny":
        return _tiny_frame(rng, text)[0], text
    frame, box = _phone_frame(rng, text, dark=category == "dark-low", scale=rng.choice([3, 4]))
    if category == "defocus":
        # A fixed-focus lens set for 1 m blurs a point at 20-40 cm into a disc of radius 0.6-1.6
        # pixels at this resolution; the set goes beyond that, to 2.2.
        frame = _disc_blur(frame, rng.uniform(1.2, 2.2))
    elif category == "motion":
        # 1/30 s exposure, hand moving 3-10 cm/s at 30 cm: 1.5-5.5 pixels of travel.
        frame = _motion_blur(frame, rng.uniform(1.5, 5.5), rng.uniform(0, np.pi))
    elif category == "specular":
        frame = _specular(frame, box, rng)
    elif category == "jpeg":
        frame = _jpeg(frame, rng.randint(30, 50))
    elif category == "dark-low":
        frame = _low_light(frame, rng)
    return frame, text


def night_sequence(rng: random.Random, frames: int = 4) -> tuple[list[np.ndarray], bytes]:
    """Consecutive frames of a phone held still under a weak lamp: a seventh of the light and
    sensor noise of σ 12 levels, drawn anew in each frame (what averaging across frames undoes)."""
    text = personal_code(rng)
    frame, _ = _phone_frame(rng, text, scale=3)
    nrng = np.random.default_rng(rng.randrange(2**32))
    dim = frame * 0.15
    return [np.clip(dim + nrng.normal(0, 12, dim.shape), 0, 255).astype(np.uint8)
            for _ in range(frames)], text.encode("utf-8")


def make_sample(category: str, rng: random.Random) -> Sample:
    text = None
    if category in HARD:
        frame, text = _hard_sample(category, rng)
        grey = np.clip(frame, 0, 255).astype(np.uint8)
        return Sample(category, grey, text.encode("utf-8") if text else None)
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
