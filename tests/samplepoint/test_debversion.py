"""Debian version ordering: the same answers as dpkg itself, and our versions spelled so they sort as
PEP 440 sorts them."""
from __future__ import annotations

import subprocess

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from packaging.version import Version

from samplepoint.debversion import (VersionError, compare, debian_version, newest, packages_versions,
                                    parse)

part = st.from_regex(r"[0-9]{1,3}([.+~][0-9a-z]{1,3}){0,3}", fullmatch=True)
versions = st.builds(lambda e, u, r: (f"{e}:" if e else "") + u + (f"-{r}" if r else ""),
                     st.sampled_from([None, 0, 1]), part,
                     st.one_of(st.none(), st.from_regex(r"[0-9][0-9a-z.~+]{0,4}", fullmatch=True)))


def dpkg_compare(a: str, b: str) -> int:
    for result, op in ((-1, "lt"), (0, "eq"), (1, "gt")):
        if subprocess.run(["dpkg", "--compare-versions", a, op, b]).returncode == 0:
            return result
    raise AssertionError((a, b))


@settings(max_examples=150, deadline=None)
@given(a=versions, b=versions)
def test_versions_order_as_dpkg_orders_them(a, b):
    assert compare(a, b) == dpkg_compare(a, b)


@pytest.mark.parametrize("a, b, expected", [
    ("0.1.0", "0.1.0.1", -1), ("0.1.0.10", "0.1.0.9", 1), ("1.0~rc1", "1.0", -1),
    ("1:0.1", "9.9", 1), ("1.0", "1.0-0", 0), ("1.0a", "1.0+", -1), ("1.0~~", "1.0~", -1),
])
def test_known_orderings(a, b, expected):
    assert compare(a, b) == expected


pep440 = st.builds(lambda rel, pre, post, dev: rel + pre + post + dev,
                   st.from_regex(r"[0-9]{1,2}(\.[0-9]{1,2}){1,3}", fullmatch=True),
                   st.sampled_from(["", "a1", "b2", "rc1", "rc10"]),
                   st.sampled_from(["", ".post1", ".post2"]), st.sampled_from(["", ".dev1"]))


@settings(max_examples=200, deadline=None)
@given(a=pep440, b=pep440)
def test_our_python_versions_sort_the_same_in_debian_spelling(a, b):
    # PEP 440 pads releases with zeros (1.0 == 1.0.0), Debian does not: a release is one spelling.
    assume(Version(a) != Version(b) or a == b)
    python_order = (Version(a) > Version(b)) - (Version(a) < Version(b))
    assert compare(debian_version(a), debian_version(b)) == python_order


@pytest.mark.parametrize("bad", ["", "abc", "1.0 2", "1:", "1.0-", "x" * 200, "1.0\n2"])
def test_what_is_not_a_version_is_refused(bad):
    with pytest.raises(VersionError):
        parse(bad)


def test_newest_and_packages_index():
    index = ("Package: samplepoint\nVersion: 0.1.0.2\nArchitecture: amd64\n\n"
             "Package: other\nVersion: 9.0\n\nPackage: samplepoint\nVersion: 0.1.0.10\n"
             "Description: x\n Version: 99\n\nPackage: samplepoint\nVersion: not a version!\n")
    assert packages_versions(index) == ["0.1.0.10", "0.1.0.2"]
    assert newest(["0.1.0.9", "0.1.0.10", "bad version"]) == "0.1.0.10"
    assert newest([]) is None


@given(st.text(max_size=300))
def test_hostile_index_text_never_crashes(text):
    packages_versions(text)
