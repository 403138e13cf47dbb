"""Decoders on the field-like set, and `samplepoint decode` output."""
import io
import json
import random
import subprocess
import sys

import numpy as np
import pytest
import segno
from PIL import Image

from kiosk.decode import make_decoder
from kiosk.fieldset import CATEGORIES, field_set, night_sequence


@pytest.fixture(scope="module")
def samples():
    return field_set(3, seed=3)


def read(decoder, sample):
    got = {s.data for s in decoder.decode(sample.grey)}
    return sample.expected in got if sample.expected else not got


def test_default_combination_reads_what_each_engine_reads(samples):
    engines = [make_decoder("zxing"), make_decoder("pyzbar")]
    chain = make_decoder("zxing+pyzbar")
    for category in CATEGORIES:
        subset = [s for s in samples if s.category == category]
        best = max(sum(read(e, s) for s in subset) for e in engines)
        assert sum(read(chain, s) for s in subset) >= best, category


def qr_frame(qr) -> np.ndarray:
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=4, border=4)
    code = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    frame = Image.new("L", (640, 480), 140)
    frame.paste(code, (100, 80))
    return np.asarray(frame)


TEXTS = [
    ("ISO-8859-1 without ECI (the QR default)", "001093029317|JOSÉ MÜLLER|1987-01-18|0||",
     dict(encoding="iso-8859-1")),
    ("Shift_JIS with ECI", "山田 太郎|東京都", dict(encoding="shift_jis", eci=True)),
    ("Shift_JIS kanji mode", "日本語テスト", {}),
    ("UTF-8 without ECI", "079203001234||Nguyễn Văn An|15062003|Nam|Số 1|20042021", {}),
]


@pytest.mark.parametrize("name", ["zxing", "pyzbar", "zxing+pyzbar"])
@pytest.mark.parametrize("label,text,options", TEXTS, ids=[t[0] for t in TEXTS])
def test_symbols_decode_to_the_text_their_encoding_says(name, label, text, options):
    qr = segno.make_qr(text, **options)
    symbols = make_decoder(name).decode(qr_frame(qr))
    assert [s.text for s in symbols] == [text], label
    assert symbols[0].payload == text and symbols[0].data       # the bytes stay available


def test_binary_content_has_no_text_and_is_refused():
    from kiosk.codes import classify
    for name in ("zxing", "pyzbar"):
        symbols = make_decoder(name).decode(qr_frame(segno.make_qr(b"\xff\xfe\x00binary")))
        assert symbols and classify(symbols[0].payload, r"DT\d{8}").reason in ("binary", "control-characters")


def test_formats_and_unknown_decoder(samples):
    tube = next(s for s in samples if s.category == "tube")
    assert [s.format for s in make_decoder().decode(tube.grey)] == ["Code128"]
    with pytest.raises(ValueError):
        make_decoder("opencv")


def test_decode_cli_prints_one_json_line_per_image(tmp_path, samples):
    paths = []
    empty = next(s for s in samples if s.category == "empty")
    for sample in samples[:2] + [empty]:
        paths.append(tmp_path / f"{len(paths)}.png")
        Image.fromarray(sample.grey).save(paths[-1])
    (tmp_path / "bad.png").write_bytes(b"not an image")
    out = subprocess.run([sys.executable, "-m", "samplepoint.cli", "decode", *map(str, paths),
                          str(tmp_path / "bad.png")], capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 1 and len(lines) == 4
    assert lines[0]["codes"][0]["text"].encode() == samples[0].expected
    assert lines[2]["codes"] == [] and "ms" in lines[2] and "error" in lines[3]


def test_decode_cli_prints_the_symbol_text_in_its_own_encoding(tmp_path):
    path = tmp_path / "latin.png"
    Image.fromarray(qr_frame(segno.make_qr("Grüße aus Köln", encoding="iso-8859-1"))).save(path)
    out = subprocess.run([sys.executable, "-m", "samplepoint.cli", "decode", "--decoder", "zxing",
                          str(path)], capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout)["codes"][0]["text"] == "Grüße aus Köln"


def test_a_still_dark_scene_is_read_across_frames_and_a_moved_one_starts_again():
    frames, expected = night_sequence(random.Random(3))
    assert expected not in {s.data for s in make_decoder().decode(frames[0])}
    decoder, got = make_decoder(), []
    for frame in frames:
        got.append({s.data for s in decoder.decode(frame)})
    assert expected in got[-1] and not got[0]
    other, _ = night_sequence(random.Random(4))
    decoder = make_decoder()
    assert decoder.decode(frames[0]) == [] and decoder._still and len(decoder._still) == 1
    decoder.decode(other[0])                 # a different scene: the history starts again
    assert len(decoder._still) == 1
