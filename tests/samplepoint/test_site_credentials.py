"""The site credentials a device keeps: whatever central (or something in its place) answers, only
a well-formed set for this site is stored, and a bad answer never replaces the last good one."""
from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samplepoint import heartbeat, site_credentials

GOOD = {"site_id": "SITE-1", "keys": [{"key": "ab" * 32, "valid_until": None},
                                      {"key": "cd" * 16, "valid_until": "2030-01-01T00:00:00+00:00"}],
        "pins": ["NV1:" + "0" * 32 + ":" + "1" * 64], "revoked_badges": ["3", "12"]}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=15), inner, max_size=5),
    max_leaves=30)
# Answers shaped like the real one, with any field swapped for something else.
near_misses = st.builds(lambda field, value: {**GOOD, field: value},
                        st.sampled_from(sorted(GOOD)), json_values)
key_entries = st.builds(lambda key, until: {"key": key, "valid_until": until},
                        st.text(alphabet="0123456789abcdefABCDEF g", max_size=140),
                        st.none() | st.text(max_size=45) | st.integers())


def test_a_good_answer_is_parsed_and_stored_0600(tmp_path):
    credentials = site_credentials.store(tmp_path, GOOD, "SITE-1")
    assert credentials.signing_key == bytes.fromhex("ab" * 32)
    assert credentials.revoked_badges == {"3", "12"}
    path = site_credentials.path_for(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert site_credentials.load(path) == credentials


def test_keys_past_their_grace_period_stop_verifying():
    credentials = site_credentials.parse(GOOD)
    assert len(credentials.verify_keys(datetime(2029, 1, 1, tzinfo=timezone.utc))) == 2
    assert credentials.verify_keys(datetime(2030, 1, 2, tzinfo=timezone.utc)) == [credentials.signing_key]


def test_the_reader_follows_the_file_when_it_changes(tmp_path):
    source = site_credentials.CredentialSource(tmp_path, None)
    assert source.verify_keys() is None
    site_credentials.store(tmp_path, GOOD, "SITE-1")
    assert not source.is_revoked("4")
    site_credentials.store(tmp_path, {**GOOD, "revoked_badges": ["4"]}, "SITE-1")
    assert source.is_revoked("4") and not source.is_revoked("3")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=json_values | near_misses | st.builds(lambda keys: {**GOOD, "keys": keys},
                                                     st.lists(key_entries, max_size=20)))
def test_hostile_answers_never_replace_good_credentials(tmp_path, answer):
    site_credentials.store(tmp_path, GOOD, "SITE-1")
    path = site_credentials.path_for(tmp_path)
    before = path.read_bytes()
    try:
        parsed = site_credentials.parse(answer, "SITE-1")
    except ValueError:
        parsed = None
    keep = heartbeat.credentials_keeper(SimpleNamespace(device=SimpleNamespace(data_dir=str(tmp_path)),
                                                        site=SimpleNamespace(id="SITE-1")))
    keep({"ok": True, "credentials": answer})
    if parsed is None:
        assert path.read_bytes() == before
    else:       # a valid set of this site's credentials: stored as parsed
        assert site_credentials.load(path) == parsed
        assert all(len(k) >= 16 for k, _ in parsed.keys)
    site_credentials.store(tmp_path, GOOD, "SITE-1")


@pytest.mark.parametrize("site", ["OTHER", "../etc", ""])
def test_credentials_for_another_site_are_refused(tmp_path, site):
    assert site_credentials.store(tmp_path, {**GOOD, "site_id": site}, "SITE-1") is None
    assert not site_credentials.path_for(tmp_path).exists()


def test_a_damaged_file_falls_back_to_the_key_file(tmp_path):
    key_file = tmp_path / "code-key"
    key_file.write_text("ef" * 32 + "\n")
    site_credentials.path_for(tmp_path).write_text("{not json")
    source = site_credentials.CredentialSource(tmp_path, key_file)
    assert source.verify_keys() == [bytes.fromhex("ef" * 32)]
