"""The config schema: defaults, the example file kept in step, and every kind of bad file."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from samplepoint import config as cfg
from samplepoint.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "samplepoint.example.toml"


def load_text(tmp_path, text: str | bytes) -> cfg.Config:
    path = tmp_path / "c.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return cfg.load(path)


def test_example_file_is_generated_from_the_schema():
    assert EXAMPLE.read_text(encoding="utf-8") == cfg.example_toml(), \
        "regenerate with: samplepoint config example > samplepoint.example.toml"


def test_example_file_loads_to_the_defaults():
    assert cfg.load(EXAMPLE) == cfg.Config()


def test_every_key_has_a_doc():
    import dataclasses
    for name, section in cfg.sections().items():
        assert section.__doc__, name
        for field in dataclasses.fields(section):
            assert field.metadata.get("doc"), f"{name}.{field.name}"


def test_values_are_read_and_typed(tmp_path):
    config = load_text(tmp_path, "[site]\npool_size = 10\nid = 'DT-01'\n[central]\ntimeout_s = 3\n")
    assert config.site.pool_size == 10 and config.site.id == "DT-01"
    assert config.central.timeout_s == 3.0 and isinstance(config.central.timeout_s, float)
    assert config.device == cfg.DeviceConfig()


@pytest.mark.parametrize("text, expected", [
    ("[site]\npool_size = 'five'\n", "site.pool_size must be an integer"),
    ("[site]\npool_size = true\n", "site.pool_size must be an integer"),
    ("[site]\npool_size = 0\n", "site.pool_size = 0 must be between 1 and 50"),
    ("[site]\ntest_type = 'pcr'\n", "must be one of: rt-pcr, rapid-antigen"),
    ("[site]\ntube_pattern = '('\n", "site.tube_pattern = '(' is not a valid regular expression"),
    ("[site]\npoolsize = 5\n", "unknown key site.poolsize"),
    ("[sites]\nid = 'x'\n", "unknown section [sites]"),
    ("site = 5\n", "[site] must be a table"),
    ("[central]\nurl = 'ftp://x'\n", "central.url = 'ftp://x' must be an http"),
    ("[central]\nbatch_size = 5000\n", "central.batch_size = 5000 must be between 1 and 1000"),
    ("[camera]\nsource = 'webcam'\n", "camera.source = 'webcam' must be"),
    ("[site]\nutc_offset = '7'\n", "must look like +07:00"),
    ("[site\n", "not valid TOML"),
])
def test_bad_values_name_the_key_and_the_fix(tmp_path, text, expected):
    with pytest.raises(cfg.ConfigError, match=None) as info:
        load_text(tmp_path, text)
    assert expected in str(info.value)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(cfg.ConfigError, match="no such configuration file; pass --config"):
        cfg.load(tmp_path / "absent.toml")


def test_binary_file_is_refused(tmp_path):
    with pytest.raises(cfg.ConfigError, match="not UTF-8"):
        load_text(tmp_path, b"\xff\xfe\x00garbage")


def test_cli_reports_config_errors_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("[site]\npool_size = -1\n")
    assert main(["config", "check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "site.pool_size" in err and "Traceback" not in err


toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["site", "device", "central", "camera", "scan", "x"]),
                       st.dictionaries(st.text(max_size=12), toml_values, max_size=4), max_size=4))
def test_any_parsed_document_either_loads_or_raises_config_error(raw):
    try:
        cfg.from_dict(raw)
    except cfg.ConfigError:
        pass


def test_toml_rendering_of_strings_round_trips():
    for value in ["plain", "it's", 'say "hi"', r"^[A-Z]\d+$", "Điểm lấy mẫu"]:
        assert tomllib.loads(f"k = {cfg._toml_value(value)}")["k"] == value


@pytest.mark.parametrize("text, expected", [
    ("[workflow]\nother_tube_window_min = 1e10\n", "workflow.other_tube_window_min must be a finite"),
    ("[workflow]\nopen_prompt_min = inf\n", "workflow.open_prompt_min must be a finite"),
    ("[central]\ntimeout_s = nan\n", "central.timeout_s must be a finite"),
    ("[site]\nsample_type = ''\n", "site.sample_type = '' must be 1-64 characters"),
    ("[site]\nsample_type = '" + "x" * 80 + "'\n", "must be 1-64 characters"),
])
def test_values_that_would_break_every_record_or_the_clock_are_refused(tmp_path, text, expected):
    with pytest.raises(cfg.ConfigError) as info:
        load_text(tmp_path, text)
    assert expected in str(info.value)
