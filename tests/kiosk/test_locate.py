"""Cheap evidence of where codes are: the gate, bar regions with their angle, lines across bars."""
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from kiosk import locate
from kiosk.decode import make_decoder
from kiosk.fieldset import clutter, scene
from kiosk.framegen import code128_image, qr_image


def frame_with(item: Image.Image, at=(120, 150), angle: float = 0.0, seed: int = 1) -> np.ndarray:
    background = Image.fromarray(np.clip(scene(random.Random(seed)), 0, 255).astype(np.uint8))
    if angle:
        mask = Image.new("L", item.size, 255).rotate(angle, expand=True)
        item = item.rotate(angle, Image.BILINEAR, expand=True)
    else:
        mask = None
    background.paste(item, at, mask)
    return np.asarray(background)


def test_gate_counts_nothing_on_a_bare_table_and_blocks_on_a_code():
    noise = np.random.default_rng(3).normal(0, 3, (480, 640))
    bare = np.clip(120 + 40 * np.linspace(0, 1, 640)[None, :] + noise, 0, 255).astype(np.uint8)
    assert locate.busy_blocks(bare) == 0
    assert locate.busy_blocks(frame_with(qr_image("DT12345678", scale=3))) >= locate.GATE_MIN_BLOCKS


@pytest.mark.parametrize("angle", [0, 12, -25, 90, 60])
def test_a_tilted_label_is_found_with_its_angle_and_read(angle):
    label = code128_image("DT20210815", module=2, height=60)
    grey = frame_with(label, at=(60, 60), angle=angle)
    regions = locate.Evidence(grey).bar_regions()
    assert regions, angle
    measured = locate.bar_angle(grey, regions[0])
    assert abs(((measured + angle) + 90) % 180 - 90) < 4, (angle, measured)   # image y points down
    lines = locate.scanlines(grey, regions[0], measured)
    assert lines.dtype == np.uint8 and lines.shape[0] == 12
    assert [s.text for s in make_decoder().decode(grey)] == ["DT20210815"]


def test_a_qr_code_is_a_patch_not_bars():
    grey = frame_with(qr_image("001093029317|NGUYEN AN|1987-01-18|0||", scale=4))
    evidence = locate.Evidence(grey)
    assert evidence.bar_regions() == []
    patch = evidence.code_patches()[0]
    assert patch.x0 <= 140 and patch.y0 <= 170 and patch.x1 >= 250


def test_cluttered_desks_give_no_reads():
    decoder = make_decoder()
    for seed in range(12):
        grey = np.clip(clutter(random.Random(seed)), 0, 255).astype(np.uint8)
        assert decoder.decode(grey) == [], seed


def test_crop_helpers_keep_shape_and_type():
    patch = np.asarray(qr_image("x", scale=3))
    for out in (locate.sharpen(patch), locate.flatten(patch)):
        assert out.shape == patch.shape and out.dtype == np.uint8
    assert locate.upscale(patch).shape == (patch.shape[0] * 2, patch.shape[1] * 2)
    assert locate.flatten(np.zeros((40, 40), np.uint8)).dtype == np.uint8       # flat: no division error


def printed_label(module: int, text_px: int, seed: int = 0) -> Image.Image:
    """A Code 128 barcode on white paper with lines of text just above and below it, as on a
    printed receipt or a tube label held close to the camera."""
    from kiosk.printer.slips import font as slip_font
    rng = random.Random(seed)
    bars = code128_image("DT00000042", module=module, height=16 * module, quiet=4)
    font = slip_font(text_px)
    line = lambda: " ".join(rng.choice(["Mã", "ống", "mẫu", "xét", "nghiệm", "Kết", "quả",  # noqa: E731
                                         "được", "gửi", "lên", "hệ", "thống", "Số", "người"])
                            for _ in range(12))
    gap = text_px // 2
    page = Image.new("L", (bars.width + 40, bars.height + 6 * (text_px + gap) + 40), 255)
    draw = ImageDraw.Draw(page)
    y = 10
    for _ in range(3):
        draw.text((10, y), line(), fill=0, font=font)
        y += text_px + gap
    page.paste(bars, (20, y))
    y += bars.height + gap
    for _ in range(3):
        draw.text((10, y), line(), fill=0, font=font)
        y += text_px + gap
    return page


@pytest.mark.parametrize("module, text_px", [(2, 22), (3, 26), (4, 30)])
def test_bars_with_text_lines_close_above_and_below_are_found_and_read(module, text_px):
    page = printed_label(module, text_px)
    grey = np.asarray(page) if page.width > 640 else frame_with(page, at=(10, 10))
    regions = locate.Evidence(grey).bar_regions()
    assert regions, module
    assert [s.text for s in make_decoder().decode(grey)] == ["DT00000042"]


@pytest.mark.parametrize("module", [4, 5, 6, 7])
@pytest.mark.parametrize("angle", [0.0, 7.0])
def test_a_label_held_close_is_one_region_and_read(module, angle):
    """Bars and spaces 4-7 px wide (a label close to the lens, camera.width 1280) leave whole
    blocks without edges: the pieces in line across the bars are joined into one region, which
    is read. Without the join the label fell apart into pieces and none was read."""
    rng = random.Random(module)
    text = "DT%08d" % rng.randrange(10**8)
    label = code128_image(text, module=module, height=60 + 10 * module)
    background = Image.new("L", (1280, 720), 205)
    if angle:
        label = label.rotate(angle, Image.BILINEAR, expand=True, fillcolor=205)
    background.paste(label, ((1280 - label.width) // 2, (720 - label.height) // 2))
    grey = np.asarray(background)
    regions = locate.bar_regions(grey)
    assert regions and regions[0].x1 - regions[0].x0 >= 0.8 * label.width, regions
    assert [s.text for s in make_decoder("zxing+pyzbar").decode(grey)] == [text]


def test_bars_of_two_labels_side_by_side_across_the_bars_stay_readable():
    """Two labels in line, 3 blocks apart: joined into one region or not, both are read."""
    first, second = "DT11111111", "DT22222222"
    background = Image.new("L", (1280, 720), 205)
    a, b = code128_image(first, module=3, height=90), code128_image(second, module=3, height=90)
    background.paste(a, (100, 300))
    background.paste(b, (100 + a.width + 48, 300))
    found = {s.text for s in make_decoder("zxing+pyzbar").decode(np.asarray(background))}
    assert found == {first, second}


def test_joining_considers_only_the_largest_pieces_and_never_single_blocks():
    """A tube rack or a striped sleeve makes hundreds of pieces: only the largest few are weighed
    for joining (one pass over their pairs), so the work per frame stays bounded; the rest come
    back as they were."""
    shape = (45, 80)
    txx, txy = np.ones(shape, np.float32), np.zeros(shape, np.float32)    # every block: vertical bars
    # Pieces two blocks tall in one row, one block apart: all in line across the bars.
    pieces = [[(10, c), (11, c)] for c in range(0, 80, 2)]
    pieces += [[(30, c)] for c in range(0, 80, 2)]                          # single blocks
    joined = locate._join_in_line(pieces, txx, txy)
    sizes = sorted(len(g) for g in joined)
    assert sizes.count(1) == 40, "single blocks are never joined"
    big = [g for g in joined if len(g) > 2]
    assert len(big) == 1 and len(big[0]) == 2 * locate.JOIN_MAX_PIECES
    assert sum(sizes) == sum(len(p) for p in pieces), "no cell lost or doubled"
