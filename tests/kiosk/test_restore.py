"""Restoring the crop of a located-but-unread QR code: motion blur undone, specular glare lifted,
and neither ever turning a code-less crop into a read."""
import math
import random

import numpy as np
import pytest
from PIL import Image

from kiosk import restore
from kiosk.decode import Zbar, Zxing, make_decoder
from kiosk.fieldset import clutter, scene
from kiosk.framegen import qr_image

TEXT = "001093029317|079193004123|NGUYEN VAN AN|18011987|Nam|Số 12, Phường 1|01012021"
CODE_AT = (220, 180)          # the code's top-left corner in the frame


def phone_frame() -> tuple[np.ndarray, int]:
    """A phone screen with a code of 3-pixel modules on a table-top scene; and the code's side."""
    frame = Image.fromarray(np.clip(scene(random.Random(1)), 0, 255).astype(np.uint8))
    code = qr_image(TEXT, scale=3)
    screen = Image.new("L", (code.width + 40, code.height + 120), 245)
    screen.paste(code, (20, 80))
    frame.paste(screen, (CODE_AT[0] - 20, CODE_AT[1] - 80))
    return np.asarray(frame, np.float32), code.width


def smeared(length: int) -> np.ndarray:
    """The code moved `length` pixels sideways during the exposure."""
    frame, _ = phone_frame()
    kernel = np.ones(length, np.float32) / length
    rows = np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), 1, frame)
    return np.clip(rows, 0, 255).astype(np.uint8)


def glared(cx: float, cy: float, degrees: float, width: float, strength: float) -> np.ndarray:
    """A hard-edged streak of reflected light across the code, clipped white along its middle."""
    frame, side = phone_frame()
    yy, xx = np.mgrid[0:frame.shape[0], 0:frame.shape[1]].astype(np.float32)
    x, y = xx - CODE_AT[0] - cx * side, yy - CODE_AT[1] - cy * side
    a = math.radians(degrees)
    along, across = x * math.cos(a) + y * math.sin(a), -x * math.sin(a) + y * math.cos(a)
    streak = np.exp(-(across / width) ** 4) * np.exp(-(along / side) ** 2)
    return np.clip(frame + streak * strength, 0, 255).astype(np.uint8)


def texts(grey) -> list[str]:
    return [s.text for s in make_decoder().decode(grey)]


@pytest.fixture
def without(monkeypatch):
    """texts() with the named restore passes removed."""
    def read(grey, *passes):
        for name in passes:
            monkeypatch.setattr(restore, name, lambda *args, **kwargs: None)
        return texts(grey)
    return read


@pytest.mark.parametrize("length", [6, 7])
def test_a_smear_of_two_modules_is_measured_undone_and_read(length, without):
    grey = smeared(length)
    crop = np.ascontiguousarray(grey[150:420, 190:460])
    measured, direction = restore.smear(crop)
    assert measured == length
    assert abs(math.sin(direction)) < 0.1                   # sideways
    assert texts(grey) == [TEXT]
    # Two modules of smear wipe out alternating modules: no sharpening or binariser brings them back.
    assert without(grey, "deblur") == []


def test_a_sharp_code_shows_no_smear():
    frame, _ = phone_frame()
    crop = np.ascontiguousarray(frame[150:420, 190:460].astype(np.uint8))
    assert restore.smear(crop) is None
    assert restore.deblur(crop, None) is None


@pytest.mark.parametrize("streak, needed", [
    ((0.5, 0.35, 15, 10, 260), "lift_glare"),
    ((0.35, 0.65, 45, 10, 260), "highpass"),
])
def test_a_code_under_a_clipped_reflection_is_read_thanks_to_the_glare_passes(streak, needed, without):
    grey = glared(*streak)
    assert texts(grey) == [TEXT]
    assert without(grey, needed) == []


def test_lifting_glare_restores_contrast_under_added_light_and_keeps_flat_areas():
    rng = np.random.default_rng(5)
    modules = rng.integers(0, 2, (20, 20)).astype(np.float32) * 200 + 20     # 20 or 220
    patch = np.kron(modules, np.ones((4, 4), np.float32))
    patch[:, 40:] = np.minimum(patch[:, 40:] + 30, 250)                      # light added: 50 or 250
    lifted = restore.lift_glare(patch.astype(np.uint8)).astype(np.float32)
    is_light = np.kron(modules, np.ones((4, 4))) > 100
    dark, light = lifted[~is_light], lifted[is_light]
    assert np.median(light) - np.median(dark) > 200
    flat = restore.lift_glare(np.full((40, 40), 230, np.uint8))
    assert flat.min() == flat.max()                         # one shade stays one shade


def test_restore_passes_read_nothing_on_cluttered_desks():
    zx, zbar = Zxing(), Zbar()
    rng = random.Random(17)
    for _ in range(8):
        grey = np.clip(clutter(rng), 0, 255).astype(np.uint8)
        for _ in range(3):
            side = rng.randint(120, 300)
            x, y = rng.randint(0, 640 - side), rng.randint(0, 480 - side)
            crop = np.ascontiguousarray(grey[y:y + side, x:x + side])
            found = restore.smear(crop)
            images = [restore.deblur(crop, found), restore.deblur(crop, found, shorter=True),
                      restore.highpass(crop)]
            assert not [s for image in images if image is not None for s in zx.read(image, zx.qr)[0]]
            assert zbar.read(restore.lift_glare(crop), zbar.qr) == []
