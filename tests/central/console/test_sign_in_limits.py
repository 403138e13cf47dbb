"""Console sign-in limits an attacker cannot turn against the right password: only failures count,
per address (IPv6 by /64) and per account; an address that has not failed is always asked for the
password; a refused address is told when to come back; repeated refusals are one audit entry per
window; names with control characters are refused, not stripped. Through a real `central serve`
behind a trusted proxy (PostgreSQL: 3 worker processes sharing the counts), on both engines."""
from __future__ import annotations

import ipaddress
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samplepoint.cli import main
from tests.central.console.conftest import PASSWORD, csrf

OFFICE = "203.0.113.7"          # one office NAT address
CLEAN = "198.51.100.99"


def attempts(served, addresses, password="wrong password", username="admin") -> list:
    """One sign-in per address, each from its own browser, 6 at once (workers share them out)."""
    def one(address):
        return served.sign_in(requests.Session(), username, password, address)
    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(one, addresses))


def refusals(served) -> list:
    return [e for e in served.db.audit_log(10_000)
            if e["action"] in ("sign-in-refused", "sign-in-limited")]


def test_eleven_correct_sign_ins_from_one_office_address_all_get_in(served):
    answers = attempts(served, [OFFICE] * 11, PASSWORD)
    assert [a.status_code for a in answers] == [302] * 11
    assert served.db.db.execute("SELECT COUNT(*) FROM rate_hits").fetchone()[0] == 0


def test_guesses_from_twenty_addresses_do_not_keep_the_right_password_out(served):
    attackers = [f"192.0.2.{n}" for n in range(1, 21)]
    answers = attempts(served, [a for a in attackers for _ in range(10)])          # 200 guesses
    codes = [a.status_code for a in answers]
    assert set(codes) == {401, 429} and codes.count(401) <= 10 + 20
    limited = [a for a in answers if a.status_code == 429]
    assert all(0 < int(a.headers["Retry-After"]) <= 300 for a in limited)
    assert "phút" in limited[0].text
    # The admin, from an address that has not failed, is asked for the password and gets in.
    assert attempts(served, [CLEAN], PASSWORD)[0].status_code == 302
    # An attacking address that has failed on this account waits, even with the right password.
    assert attempts(served, [attackers[0]], PASSWORD)[0].status_code == 429
    # 200 refusals (and the last one) are two entries, each counting what it stands for.
    entries = refusals(served)
    assert sorted(e["action"] for e in entries) == ["sign-in-limited", "sign-in-refused"]
    assert sum(e["times"] for e in entries) == 201
    assert {e["username"] for e in entries} == {"admin"}


def test_one_ipv6_64_counts_as_one_address(served):
    rng = random.Random(5)
    network = ipaddress.ip_network("2001:db8:5:6::/64")
    many = [str(network[rng.getrandbits(64)]) for _ in range(60)]
    # Spread over accounts that do not exist too: the /64 itself runs out of failures.
    answers = [served.sign_in(requests.Session(), f"user{n}", "wrong password", a).status_code
               for n, a in enumerate(many[:25])]
    assert answers == [401] * 20 + [429] * 5
    assert attempts(served, many[25:], PASSWORD)[0].status_code == 429        # the whole /64
    assert attempts(served, ["2001:db8:5:7::1"], PASSWORD)[0].status_code == 302   # next /64
    names = {e["username"] for e in refusals(served)}
    assert names == {"-", "admin"}       # typed names that are no account are not written down


def test_clear_limits_lets_a_refused_address_in_at_once(served, capsys):
    attempts(served, [OFFICE] * 21)
    assert attempts(served, [OFFICE], PASSWORD)[0].status_code == 429
    assert main(["central", "clear-limits", "--db", str(served.db.path)]) == 0
    assert "cleared" in capsys.readouterr().out
    assert attempts(served, [OFFICE], PASSWORD)[0].status_code == 302


def test_a_name_with_control_characters_is_refused_not_stripped(served):
    for name in ("ad\x00min", "admin\n", "ad\u200bmin", "\x1badmin"):
        answer = served.sign_in(requests.Session(), name, PASSWORD)
        assert answer.status_code == 400, repr(name)
        assert "ký tự không hợp lệ" in answer.text
    assert served.sign_in(requests.Session(), " admin ", PASSWORD).status_code == 302


def test_add_user_refuses_a_name_with_control_characters(served, capsys, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["central", "add-user", "--db", str(served.db.path), "--username", "ad\x00min2",
                 "--role", "lab", "--password-stdin"]) == 2
    assert "control character" in capsys.readouterr().err
    with pytest.raises(ValueError):
        served.db.add_user("ad\x00min", "x", "admin")


@pytest.mark.parametrize("address, counted", [
    ("192.0.2.1", "192.0.2.1"), ("2001:db8::1", "2001:db8::/64"),
    ("2001:db8::ffff:1:2", "2001:db8::/64"), ("::ffff:192.0.2.1", "192.0.2.1"),
    ("fe80::1%eth0", "fe80::/64"), ("not an address", "not an address")])
def test_addresses_are_counted_by_ipv4_address_or_ipv6_64(address, counted):
    from central.rate_limits import address_key
    assert address_key(address) == counted


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=64))
def test_no_typed_name_signs_in_as_another_account(console, name):
    client = console.client()
    token = csrf(client.get("/console/sign-in").get_data(as_text=True))
    answer = client.post("/console/sign-in", data={"username": name, "password": PASSWORD,
                                                   "csrf_token": token})
    if answer.status_code == 302:
        assert name.strip() in ("admin", "cdc", "lab")
    else:
        assert answer.status_code in (400, 401, 429)
