"""Digits other than ASCII 0-9 ("²", "٣") in CSV cells, id files and Retry-After: refused, never a crash."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning import enrol, sites, system
from samplepoint import config as config_module
from tests.conftest import write_config
from tests.provisioning.test_prepare_sd import SITES_CSV

NOT_ASCII_DIGITS = ["²", "٣", "５", "1²", "²5"]


@pytest.mark.parametrize("cell", NOT_ASCII_DIGITS)
def test_pool_size_in_other_digits_names_the_row(cell):
    with pytest.raises(sites.SitesError, match=r"row 2, column pool_size"):
        sites.parse_sites(SITES_CSV.replace(",5,", f",{cell},", 1))


@settings(max_examples=200, deadline=None)
@given(cell=st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=3))
def test_any_pool_size_digits_are_a_sites_error_or_ascii(cell):
    try:
        rows = sites.parse_sites(SITES_CSV.replace(",5,", f",{cell},", 1))
    except sites.SitesError:
        return
    assert cell.isascii() and rows[0].pool_size == int(cell)


def test_passwd_and_group_ids_in_other_digits_are_ignored():
    group, gid = system.ensure_group("root:x:0:\nodd:x:²:\nodd2:x:٣:\n", "samplepoint")
    assert gid == 999 and "samplepoint:x:999:" in group
    passwd, uid = system.ensure_user("root:x:0:0::/root:/bin/sh\nodd:x:²:0::/:/bin/sh\n",
                                     "samplepoint", 999, "/var/lib/samplepoint", "/usr/sbin/nologin")
    assert uid == 999
    assert system.lookup("odd:x:²:0::/:/bin/sh\n", "odd") is None


class _Answer:
    def __init__(self, status: int, retry_after: str):
        self.status_code, self.headers, self.text = status, {"Retry-After": retry_after}, ""

    def json(self):
        return {"message": "busy"}


class _Session:
    def __init__(self, answer):
        self.answer = answer

    def post(self, *args, **kwargs):
        return self.answer


@pytest.mark.parametrize("value, wait", [("²", None), ("٣", None), ("12", 12.0), ("x", None)])
def test_enrol_retry_after_in_other_digits_is_ignored(tmp_path, value, wait):
    config = config_module.load(write_config(tmp_path, "http://127.0.0.1:9"))
    with pytest.raises(enrol.TryLater) as raised:
        enrol.request_token(config, "code", session=_Session(_Answer(503, value)))
    assert raised.value.wait == wait
