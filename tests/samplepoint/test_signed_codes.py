"""Signed codes: genuine ones verify; forged, altered or foreign ones are refused, never raise."""
from hypothesis import given, settings, strategies as st

from samplepoint import signed_codes as sc

KEY = bytes(range(32))


def test_round_trip_both_kinds():
    for kind in sc.KINDS:
        code = sc.make_code(kind, {"staff_id": "NV01", "n": 3}, KEY)
        assert code.startswith(f"SP1.{kind}.")
        assert sc.verify_code(code, KEY) == {"kind": kind, "staff_id": "NV01", "n": 3}


def test_wrong_key_and_every_single_character_change_are_refused():
    code = sc.make_code("staff", {"staff_id": "NV01"}, KEY)
    assert sc.verify_code(code, b"x" * 32).reason == "bad-signature"
    alphabet = "ABCabc019-_."
    for i in range(len(code)):
        for c in alphabet:
            if c != code[i]:
                altered = code[:i] + c + code[i + 1:]
                assert not sc.verify_code(altered, KEY), altered


def test_kind_cannot_be_swapped():
    code = sc.make_code("staff", {"staff_id": "NV01"}, KEY)
    assert not sc.verify_code(code.replace(".staff.", ".decl.", 1), KEY)


def test_refusals_have_reasons():
    assert sc.verify_code("hello", KEY).reason == "not-ours"
    assert sc.verify_code("SP1.staff.x", KEY).reason == "malformed"
    assert sc.verify_code("SP1." + "a" * 2000, KEY).reason == "too-long"


def test_make_code_rejects_bad_input():
    import pytest
    with pytest.raises(ValueError):
        sc.make_code("other", {}, KEY)
    with pytest.raises(ValueError):
        sc.make_code("staff", {}, b"short")
    with pytest.raises(ValueError):
        sc.make_code("staff", {"kind": "x"}, KEY)


def test_key_file(tmp_path):
    path = tmp_path / "key"
    path.write_text(sc.new_key() + "\n")
    assert len(sc.load_key(path)) == 32


@settings(max_examples=300)
@given(st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k != "kind"),
                       st.one_of(st.text(max_size=20), st.integers(), st.booleans()), max_size=5))
def test_any_payload_round_trips(payload):
    assert sc.verify_code(sc.make_code("decl", payload, KEY), KEY) == {"kind": "decl", **payload}


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_any_text_is_refused_without_raising(text):
    assert not sc.verify_code(text, KEY)
