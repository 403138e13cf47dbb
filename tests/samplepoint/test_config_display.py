"""The [display] section: loopback binds only, refused at config load with a fix in the message."""
import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from samplepoint import config as config_module

REPO = Path(__file__).resolve().parents[2]


def load(bind: str):
    return config_module.from_dict({"display": {"bind": bind}}, "test.toml")


def test_default_is_loopback_8080():
    display = config_module.Config().display
    assert display.bind == "127.0.0.1:8080" and display.enabled and display.language == "vi"


@pytest.mark.parametrize("bind", ["127.0.0.1:8080", "127.0.0.2:9000", "[::1]:8080"])
def test_loopback_binds_load(bind):
    assert load(bind).display.bind == bind


@pytest.mark.parametrize("bind", ["0.0.0.0:8080", "192.168.4.1:8080", "10.41.0.1:80", "[::]:8080",
                                  "localhost:8080", "example.com:8080", "127.0.0.1", "127.0.0.1:0",
                                  "127.0.0.1:70000", ":8080", "[fe80::1]:8080", "::1:8080"])
def test_anything_else_is_refused_at_load(bind):
    with pytest.raises(config_module.ConfigError, match="display.bind"):
        load(bind)


@given(st.text(max_size=60))
def test_any_accepted_bind_is_a_loopback_address(bind):
    try:
        config = load(bind)
    except config_module.ConfigError:
        return
    host = config.display.bind.rpartition(":")[0].strip("[]")
    assert ipaddress.ip_address(host).is_loopback


def test_example_file_lists_the_display_section():
    assert (REPO / "samplepoint.example.toml").read_text(encoding="utf-8") == \
        config_module.example_toml()
