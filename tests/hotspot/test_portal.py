"""The portal: probe answers before/after Done, pages (size, language, no external assets), RFC 8908,
the declaration committed before its code is shown, CSRF and the rate limit."""
from __future__ import annotations

import re

import pytest

from hotspot.portal import probes
from hotspot.portal.codes import issue_codes
from kiosk.codes import parse_signed
from samplepoint.signed_codes import load_key, verify_code
from tests.hotspot.portal_helpers import BASE, csrf_of, make_portal, valid_form

PAGES = ["/", "/install", "/howto", "/privacy", "/declare",
         "/declare/form?province=79&people=8&relation=volunteer"]


@pytest.fixture
def portal(tmp_path):
    app, store, config = make_portal(tmp_path)
    return app.test_client(), store, config


def test_probes_redirect_until_done_then_answer_like_the_internet(portal):
    client, _, _ = portal
    for path in probes.ONLINE:
        r = client.get(path, base_url="http://captive.apple.com")
        assert r.status_code == 302 and r.headers["Location"] == BASE + "/"
    page = client.get("/", base_url=BASE)
    assert client.post("/done", data={"csrf": csrf_of(page.data)}, base_url=BASE).status_code == 200
    assert client.get("/generate_204", base_url="http://connectivitycheck.gstatic.com").status_code == 204
    apple = client.get("/hotspot-detect.html", base_url="http://captive.apple.com")
    assert apple.data.decode() == probes.APPLE_SUCCESS
    assert client.get("/connecttest.txt").data == b"Microsoft Connect Test"
    assert client.get("/canonical.html").data.decode() == probes.FIREFOX_CANONICAL


def test_done_needs_csrf(portal):
    client, _, _ = portal
    assert client.post("/done", data={"csrf": "1.forged"}, base_url=BASE).status_code == 403
    assert client.get("/generate_204").status_code == 302


def test_other_hosts_redirect_to_portal(portal):
    client, _, _ = portal
    r = client.get("/some/page?x=1", base_url="http://forbidden.example")
    assert r.status_code == 302 and r.headers["Location"] == BASE + "/"


def test_rfc8908_api(portal):
    client, _, _ = portal
    r = client.get("/api/captive", base_url=BASE)
    assert r.content_type == "application/captive+json"
    assert r.get_json() == {"captive": True, "user-portal-url": BASE + "/"}


@pytest.mark.parametrize("path", PAGES)
def test_pages_small_local_and_bilingual(portal, path):
    client, _, _ = portal
    vi = client.get(path, base_url=BASE)
    en = client.get(path + ("&" if "?" in path else "?") + "lang=en", base_url=BASE)
    for r in (vi, en):
        assert r.status_code == 200 and len(r.data) <= 30 * 1024, len(r.data)
        assert not re.search(rb'(src|href)="(https?:)?//(?!10\.42\.0\.1)', r.data.replace(
            b'href="https://play.google.com', b"").replace(b'href="https://apps.apple.com', b""))
        assert b"<script" not in r.data
    assert b'lang="vi"' in vi.data and b'lang="en"' in en.data
    assert "Xong" in vi.data.decode() or path.startswith("/declare") or path in ("/howto", "/privacy")


def test_declaration_committed_before_code_shown(portal):
    client, store, config = portal
    form = valid_form(client, people=3, relation="relative")
    form.update({"name_1": "Lê Văn Tám", "gender_1": "male", "id_kind_1": "cmnd",
                 "id_number_1": "123456789", "name_2": "Anna Müller", "dob_2": "2001-05-02",
                 "gender_2": "unknown", "id_kind_2": "passport", "id_number_2": "C1234567"})
    r = client.post("/declare/form", data=form, base_url=BASE)
    assert r.status_code == 200, re.findall(rb'class="err"[^>]*>([^<]+)', r.data)
    shorts = re.findall(r'class="code">([0-9A-Z]{4}-[0-9A-Z]{4})<', r.data.decode())
    assert len(shorts) == 3 and r.data.count(b"<svg") == 3
    assert len(r.data) <= 30 * 1024
    assert store.declaration_count() == 1
    person = store.declared_person(shorts[1])
    assert person["full_name"] == "Lê Văn Tám" and person["id_number"] == "123456789"


def test_issued_codes_are_signed_declarations_the_kiosk_reads(portal):
    _, store, config = portal
    key = load_key(config.scan.code_key_file)
    people = [{"full_name": "Đặng Thị Ánh", "date_of_birth": "1990-02-03", "gender": "female",
               "id_number": "001190012345", "phone": "0912345678"},
              {"full_name": "Đặng Văn Bé", "date_of_birth": "2019-06-07", "gender": "male",
               "id_number": "001219012345", "phone": None}]
    first, second = issue_codes(store, key, people, "self")
    payload = verify_code(first.code, key)
    assert payload == {"kind": "decl", "declaration_id": first.short_code, "id_number": "001190012345",
                       "full_name": "Đặng Thị Ánh", "date_of_birth": "1990-02-03",
                       "gender": "female", "phone": "0912345678"}
    assert first.svg.startswith("<svg") and len(first.svg) < 8000
    scan = parse_signed(second.code, key)       # the kiosk's own reader
    assert scan.person.full_name == "Đặng Văn Bé" and scan.person.declared_on_behalf
    assert scan.person.source == "declaration"


def test_forged_csrf_refused_and_nothing_stored(portal):
    client, store, _ = portal
    for token in ("", "123.abc", "9999999999.x", csrf_of(client.get("/", base_url=BASE).data) + "x"):
        form = {**valid_form(client), "csrf": token}
        assert client.post("/declare/form", data=form, base_url=BASE).status_code == 403
    other = make_portal_token_for_other_client(client)
    form = {**valid_form(client), "csrf": other}
    assert client.post("/declare/form", data=form, base_url=BASE).status_code == 403
    assert store.declaration_count() == 0


def make_portal_token_for_other_client(client):
    page = client.get("/", base_url=BASE, environ_base={"REMOTE_ADDR": "10.42.0.99"})
    return csrf_of(page.data)


def test_thousand_submissions_hit_rate_limit(portal):
    client, store, config = portal
    form = valid_form(client)
    codes = [client.post("/declare/form", data=form, base_url=BASE).status_code for _ in range(1000)]
    limit = config.portal.declare_limit_per_hour
    assert codes[:limit] == [200] * limit and set(codes[limit:]) == {429}
    assert store.declaration_count() == limit
    other = client.post("/declare/form", data=form, base_url=BASE,
                        environ_base={"REMOTE_ADDR": "10.42.0.77"})
    assert other.status_code == 403      # another phone is not limited (its token is its own)


def test_tampered_step_one_values_are_404(portal):
    client, _, _ = portal
    for query in ("province=999&people=1", "province=1&people=99", "province=1&people=1&relation=x",
                  "province=%C2%B2&people=1", "province=1' OR 1=1&people=1"):
        assert client.get("/declare/form?" + query, base_url=BASE).status_code == 404


def test_oversized_body_refused(portal):
    client, _, _ = portal
    r = client.post("/declare/form?province=1&people=1", data={"x": "a" * 100_000}, base_url=BASE)
    assert r.status_code == 413


def test_big_household_result_stays_small_with_links_to_each_qr(tmp_path):
    app, store, config = make_portal(tmp_path)
    client = app.test_client()
    form = valid_form(client, people=config.portal.max_household, relation="volunteer")
    r = client.post("/declare/form", data=form, base_url=BASE)
    assert r.status_code == 200 and len(r.data) <= 30 * 1024, len(r.data)
    links = re.findall(r'href="(/declare/code/[^"]+)"', r.data.decode())
    assert len(links) == config.portal.max_household - 3
    one = client.get(links[0].replace("&amp;", "&"), base_url=BASE)
    assert one.status_code == 200 and b"<svg" in one.data and len(one.data) <= 30 * 1024
    short = links[0].split("/")[3].split("?")[0]
    assert client.get(f"/declare/code/{short}?t=forged", base_url=BASE).status_code == 404


def test_forms_refused_for_a_typo_do_not_count_against_the_limit(tmp_path):
    app, store, _ = make_portal(tmp_path, declare_limit_per_hour=3)
    client = app.test_client()
    form = valid_form(client)
    for _ in range(25):                     # fixed typos 25 times: still no lock-out
        assert client.post("/declare/form", data={**form, "dob_0": "31/02/1987"},
                           base_url=BASE).status_code == 400
    codes = [client.post("/declare/form", data=form, base_url=BASE).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429] and store.declaration_count() == 3


def test_a_flood_of_refused_forms_is_stopped(tmp_path):
    app, _, _ = make_portal(tmp_path, declare_limit_per_hour=2)
    client = app.test_client()
    bad = {**valid_form(client), "dob_0": "x"}
    codes = [client.post("/declare/form", data=bad, base_url=BASE).status_code for _ in range(25)]
    assert codes[:20] == [400] * 20 and set(codes[20:]) == {429}      # ten times the limit


def test_volunteer_session_has_its_own_higher_limit(tmp_path):
    app, store, _ = make_portal(tmp_path, declare_limit_per_hour=2, volunteer_declare_limit_per_hour=6)
    client = app.test_client()
    form = valid_form(client, relation="volunteer")
    volunteer = {"samplepoint.volunteer": True}
    codes = [client.post("/declare/form", data=form, base_url=BASE, environ_overrides=volunteer)
             .status_code for _ in range(8)]
    assert codes == [200] * 6 + [429] * 2
    # choosing "volunteer" in the form is not a volunteer session: the phone's own limit applies
    plain = [client.post("/declare/form", data=form, base_url=BASE).status_code for _ in range(3)]
    assert plain == [200, 200, 429] and store.declaration_count() == 8


def test_oversized_body_says_too_large_not_expired(portal):
    client, _, _ = portal
    r = client.post("/declare/form?province=1&people=1&lang=en", data={"x": "a" * 100_000},
                    base_url=BASE)
    assert r.status_code == 413 and "too large" in r.data.decode() and "expired" not in r.data.decode()
    vi = client.post("/declare/form?province=1&people=1", data={"x": "a" * 100_000}, base_url=BASE)
    assert "quá lớn" in vi.data.decode() and "hết hạn" not in vi.data.decode()


@pytest.mark.parametrize("street, ok", [
    ("12/3 Lê Lợi, P. 5", True), ("Số 7 (ngõ 12) - thôn Đông #2", True),
    ("<b>12</b> Lê Lợi", False), ('12 "Lê" Lợi', False), ("12 Lê Lợi; DROP", False),
    ("{{7*7}}", False), ("a_b", False),
])
def test_street_refuses_markup_like_the_name_field(portal, street, ok):
    client, store, _ = portal
    form = {**valid_form(client), "street": street}
    r = client.post("/declare/form", data=form, base_url=BASE)
    assert r.status_code == (200 if ok else 400), r.data[:300]
    if not ok:
        assert 'id="e-street"' in r.data.decode() and store.declaration_count() == 0


def test_done_page_shows_the_store_links(portal):
    client, _, config = portal
    page = client.get("/install", base_url=BASE)
    done = client.post("/done", data={"csrf": csrf_of(page.data)}, base_url=BASE).data.decode()
    assert config.portal.android_app_url.replace("&", "&amp;") in done
    assert config.portal.iphone_app_url in done and "Đã kết nối" in done
