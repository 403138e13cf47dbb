"""Volunteer sessions on the portal: PIN sign-in, printing a declaration slip through the spool,
no per-phone declaration limit for volunteers, and nobody else able to print."""
import re

import pytest

from tests.hotspot.portal_helpers import BASE, csrf_of, make_portal, valid_form
from samplepoint import print_spool
from samplepoint.pins import pin_entry

PIN = "482913"


@pytest.fixture
def portal(tmp_path):
    app, store, config = make_portal(tmp_path, declare_limit_per_hour=2,
                                     volunteer_pins=[pin_entry("TNV01", PIN)])
    return app, store, config


def sign_in(client, volunteer="TNV01", pin=PIN):
    page = client.get("/volunteer", base_url=BASE)
    return client.post("/volunteer", base_url=BASE,
                       data={"csrf": csrf_of(page.data), "volunteer": volunteer, "pin": pin})


def declare(client, people=1):
    return client.post("/declare/form", base_url=BASE, data=valid_form(client, people, "volunteer"))


def print_forms(html: str) -> list[dict]:
    forms = re.findall(r'<form method="post" action="/declare/print">(.*?)</form>', html, re.S)
    return [dict(re.findall(r'name="([^"]+)" value="([^"]*)"', f)) for f in forms]


def spool(config):
    return print_spool.waiting(print_spool.spool_dir(config.device.data_dir))


def test_a_volunteer_prints_the_slip_of_each_declared_person(portal):
    app, store, config = portal
    client = app.test_client()
    assert sign_in(client).status_code == 303
    done = declare(client, people=2)
    assert done.status_code == 200
    forms = print_forms(done.data.decode())
    assert len(forms) == 2 and "In phiếu" in done.data.decode()
    answer = client.post("/declare/print", base_url=BASE, data=forms[1])
    assert answer.status_code == 200 and "Đã gửi lệnh in" in answer.data.decode()
    [request] = spool(config)
    assert print_spool.read_request(request)["short_code"] == forms[1]["short_code"]
    assert store.declared_person(forms[1]["short_code"]) is not None


def test_a_volunteer_is_not_held_to_the_per_phone_limit(portal):
    app, _, _ = portal
    client = app.test_client()
    sign_in(client)
    assert [declare(client).status_code for _ in range(4)] == [200] * 4


def test_a_citizen_sees_no_print_button_and_cannot_print(portal):
    app, _, config = portal
    volunteer, citizen = app.test_client(), app.test_client()
    sign_in(volunteer)
    form = print_forms(declare(volunteer).data.decode())[0]
    page = declare(citizen)
    assert page.status_code == 200 and not print_forms(page.data.decode())
    form["csrf"] = csrf_of(page.data)
    answer = citizen.post("/declare/print", base_url=BASE, data=form)
    assert answer.status_code == 403 and spool(config) == []
    assert [declare(citizen).status_code for _ in range(2)][-1] == 429    # still limited


def test_wrong_pins_are_refused_and_tries_are_limited(portal):
    app, _, _ = portal
    client = app.test_client()
    answers = [sign_in(client, pin="000000").status_code for _ in range(6)]
    assert answers[:5] == [403] * 5 and answers[5] == 429
    assert sign_in(app.test_client(), volunteer="TNV99").status_code in (403, 429)


def test_a_forged_or_altered_session_cookie_is_not_a_volunteer(portal):
    from hotspot.portal.volunteer import session_token, volunteer_of
    key, known = b"k" * 32, {"TNV01": None}
    token = session_token(key, "TNV01", "10.42.0.5", 1000.0, 1.0)
    assert volunteer_of(token, key, "10.42.0.5", 1000.0, known) == "TNV01"
    assert volunteer_of(token, key, "10.42.0.6", 1000.0, known) is None      # another phone
    assert volunteer_of(token, key, "10.42.0.5", 1000.0 + 3601, known) is None   # expired
    assert volunteer_of(token, key, "10.42.0.5", 1000.0, {}) is None         # entry removed
    assert volunteer_of(token.replace("TNV01", "TNV02"), key, "10.42.0.5", 1000.0,
                        {"TNV02": None}) is None
    for junk in ("", "a.b.c", "TNV01.99999999999.", "x" * 5000, "TNV01.1e9.abc"):
        assert volunteer_of(junk, key, "10.42.0.5", 1000.0, known) is None


def test_a_print_request_needs_the_pages_token(portal):
    app, _, config = portal
    client = app.test_client()
    sign_in(client)
    form = print_forms(declare(client).data.decode())[0]
    assert client.post("/declare/print", base_url=BASE, data={**form, "t": "x"}).status_code == 404
    assert client.post("/declare/print", base_url=BASE,
                       data={**form, "short_code": "../../x"}).status_code == 404
    assert spool(config) == []


def test_no_volunteer_entries_means_no_volunteer_page(tmp_path):
    app, _, _ = make_portal(tmp_path)
    assert app.test_client().get("/volunteer", base_url=BASE).status_code == 404


def test_a_person_declared_on_behalf_needs_no_phone_of_their_own(portal):
    app, _, _ = portal
    client = app.test_client()
    sign_in(client)
    form = {**valid_form(client, 1, "volunteer"), "phone_0": ""}
    assert client.post("/declare/form", base_url=BASE, data=form).status_code == 200
    own = {**valid_form(client, 1, "self"), "phone_0": ""}
    answer = client.post("/declare/form", base_url=BASE, data=own)
    assert answer.status_code == 400 and b'id="e-phone_0"' in answer.data
