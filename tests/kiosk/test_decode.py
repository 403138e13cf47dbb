"""Decoders on the field-like set, and `samplepoint decode` output."""
import json
import subprocess
import sys

import pytest
from PIL import Image

from kiosk.decode import make_decoder
from kiosk.fieldset import CATEGORIES, field_set


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


def test_formats_and_unknown_decoder(samples):
    tube = next(s for s in samples if s.category == "tube")
    assert [s.format for s in make_decoder().decode(tube.grey)] == ["Code128"]
    with pytest.raises(ValueError):
        make_decoder("opencv")


def test_decode_cli_prints_one_json_line_per_image(tmp_path, samples):
    paths = []
    for sample in samples[:2] + samples[-1:]:
        paths.append(tmp_path / f"{len(paths)}.png")
        Image.fromarray(sample.grey).save(paths[-1])
    (tmp_path / "bad.png").write_bytes(b"not an image")
    out = subprocess.run([sys.executable, "-m", "samplepoint.cli", "decode", *map(str, paths),
                          str(tmp_path / "bad.png")], capture_output=True, text=True, timeout=60)
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 1 and len(lines) == 4
    assert lines[0]["codes"][0]["text"].encode() == samples[0].expected
    assert lines[2]["codes"] == [] and "ms" in lines[2] and "error" in lines[3]
