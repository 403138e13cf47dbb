"""The display app over HTTP: loopback guard, buttons through Kiosk.dispatch, SSE, preview, catalogs."""
import json
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.kiosk.display.display_rig import EventReader, people, qr, rig  # noqa: F401  (fixtures)
from kiosk.display import actions, i18n
from kiosk.display.app import BUTTON_HEADER, create_app

TUBE = b"DT00000001"
BUTTON = {BUTTON_HEADER: "1"}


def client(rig, **environ):
    app = create_app(rig.hub)
    return app.test_client(), {"REMOTE_ADDR": "127.0.0.1", **environ}


def test_page_in_vietnamese_first_and_english_on_request(rig):
    c, env = client(rig)
    page = c.get("/", environ_base=env).get_data(as_text=True)
    assert 'lang="vi"' in page and "Đóng ống" in page and "Huỷ ống" in page
    english = c.get("/?lang=en", environ_base=env)
    assert "Close tube" in english.get_data(as_text=True)
    assert "lang=en" in english.headers["Set-Cookie"]
    assert "script-src 'self'" in english.headers["Content-Security-Policy"]
    kiosk = c.get("/?kiosk=1", environ_base=env).get_data(as_text=True)
    assert 'data-kiosk="1"' in kiosk and "&amp;kiosk=1" in kiosk


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.4.23", "::ffff:10.1.2.3", "", "fe80::1"])
def test_non_loopback_peers_are_refused(rig, address):
    c, env = client(rig, REMOTE_ADDR=address)
    assert c.get("/", environ_base=env).status_code == 403
    assert c.get("/events", environ_base=env).status_code == 403
    assert c.post("/action/close", headers=BUTTON, environ_base=env).status_code == 403


def test_rebound_host_names_are_refused(rig):
    c, env = client(rig)
    assert c.get("/", headers={"Host": "evil.example:8080"}, environ_base=env).status_code == 403
    assert c.get("/", headers={"Host": "localhost:8080"}, environ_base=env).status_code == 200


def test_button_needs_the_display_header(rig):
    c, env = client(rig)
    assert c.post("/action/close", environ_base=env).status_code == 403


def test_close_button_closes_the_tube_in_the_store(rig, people):
    rig.kiosk.on_code(TUBE)
    rig.kiosk.on_code(qr(people[0]))
    c, env = client(rig)
    assert c.post("/action/close", headers=BUTTON, environ_base=env).get_json() == {"ok": True}
    assert rig.store.open_tube_state() is None
    assert rig.store.outbox_counts()["pending"] == 1
    assert rig.kiosk.state.tube is None


def test_buttons_without_a_workflow_event_answer_501(rig):
    c, env = client(rig)
    for button, ok in actions.available().items():
        if not ok:
            reply = c.post(f"/action/{button}", json={"reason": "other"}, headers=BUTTON,
                           environ_base=env)
            assert reply.status_code == 501 and reply.get_json()["error"] == "unavailable"


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(button=st.text(max_size=30), body=st.one_of(st.none(), st.binary(max_size=200),
                                                     st.dictionaries(st.text(max_size=10),
                                                                     st.text(max_size=50))))
def test_hostile_button_requests_never_crash(rig, button, body):
    c, env = client(rig)
    kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
    reply = c.post("/action/" + button.replace("/", "_").replace("?", "_").replace("#", "_"),
                   headers=BUTTON, environ_base=env, **kwargs)
    assert reply.status_code in (200, 400, 404, 405, 501)


def test_cancel_reason_must_be_listed():
    with pytest.raises(actions.ActionError):
        actions.build_event("cancel", None, "<script>")
    with pytest.raises(actions.ActionError):
        actions.build_event("launch", None)


def test_state_shows_scans_without_full_id_or_phone(rig, people):
    rig.kiosk.on_code(TUBE)
    rig.kiosk.on_code(qr(people[0]))
    c, env = client(rig)
    state = c.get("/state", environ_base=env).get_json()
    assert state["last"]["kind"] == "accepted"
    assert state["last"]["person"]["masked_id"] == "*****" + people[0].id_number[-4:]
    assert state["tube"]["tube_code"] == "DT00000001" and state["tube"]["filled"] == 1
    text = json.dumps(state)
    assert people[0].id_number not in text and people[0].phone not in text


def test_preview_still_is_a_jpeg(rig):
    c, env = client(rig)
    reply = c.get("/preview.jpg", environ_base=env)
    assert reply.status_code == 200 and reply.data[:2] == b"\xff\xd8"


def test_event_stream_delivers_a_scan_quickly(rig, people):
    """Over the real waitress server: a scan's snapshot arrives on the SSE stream within 300 ms."""
    reader = EventReader(rig.url)
    try:
        rig.kiosk.on_code(TUBE)
        for person in people[:2]:
            started = time.monotonic()
            rig.kiosk.on_code(qr(person))
            arrived, snapshot = reader.first(
                lambda s: (s.get("last") or {}).get("person", {}).get("name") == person.full_name,
                started)
            assert arrived - started < 0.3
    finally:
        reader.close()


def test_every_catalog_string_has_a_vietnamese_translation():
    template = (i18n.FOLDER.parent / "templates" / "index.html").read_text(encoding="utf-8")
    ids = set(re.findall(r"""_\(["']([^"']+)["']\)""", template))
    ids |= set(i18n.SCRIPT_STRINGS.values()) | set(i18n.REASONS.values())
    ids |= set(i18n.CANCEL_REASONS.values())
    vi = i18n.translations("vi")
    missing = sorted(i for i in ids if vi.gettext(i) == i and i not in ("RT-PCR",))
    assert not missing
    assert set(i18n.CANCEL_REASONS) == set(actions.CANCEL_REASONS)


def test_staff_signed_in_is_shown_and_unassigned_is_nobody(rig):
    from dataclasses import replace
    assert rig.hub.build()["staff"] is None
    rig.kiosk.state = replace(rig.kiosk.state, staff_id="NV-07")
    rig.hub.publish()
    assert rig.hub.snapshot()[1]["staff"] == "NV-07"


def test_link_status_follows_the_outbox(rig, people):
    rig.kiosk.on_code(TUBE)
    rig.kiosk.on_code(qr(people[0]))
    rig.hub.press("close")
    link = rig.hub.build()["link"]
    assert link["state"] == "sending" and link["pending"] == 1
    rig.store.mark_delivered(rig.store.all_record_ids(), "2099-01-01T00:00:00.000+07:00")
    link = rig.hub.build()["link"]
    assert link["state"] == "online" and link["pending"] == 0 and link["last_delivery"]


def test_every_available_button_changes_the_store(rig, people):
    """Close always; undo, cancel and sign-out as soon as the workflow defines their events."""
    c, env = client(rig)
    available = actions.available()

    def press(button, **body):
        reply = c.post(f"/action/{button}", json=body, headers=BUTTON, environ_base=env)
        assert reply.status_code == 200, reply.get_json()

    rig.kiosk.on_code(TUBE)
    rig.kiosk.on_code(qr(people[0]))
    rig.kiosk.on_code(qr(people[1]))
    if available["undo"]:
        press("undo")
        assert len(rig.store.open_tube_state().persons) == 1
    if available["cancel"]:
        press("cancel", reason="tube-damaged")
        assert rig.store.open_tube_state() is None
        assert "cancelled" in rig.store.pending(10)[0].body
        rig.kiosk.on_code(b"DT00000002")
        rig.kiosk.on_code(qr(people[2]))
    press("close")
    assert rig.store.open_tube_state() is None
    if available["sign-out"]:
        press("sign-out")
        assert rig.hub.snapshot()[1]["staff"] is None


def test_accepted_panel_names_the_person_even_if_the_tube_closed_first(rig, people):
    """A workflow may commit a full tube's closing before signalling the person who filled it."""
    rig.kiosk.on_code(TUBE)
    sample_id = rig.kiosk.state.tube.sample_id
    rig.store.add_person(sample_id, "k1", people[5], "2021-08-20T09:00:00.000+07:00")
    rig.store.finish_tube(sample_id, closed_at="2021-08-20T09:00:01.000+07:00")
    rig.hub.signal("accepted", f"{people[5].full_name} (1/1)", "1/1")
    rig.hub.signal("tube-closed", "Đã đóng ống", "full")
    last = rig.hub.snapshot()[1]["last"]
    assert last["kind"] == "tube-full" and last["person"]["name"] == people[5].full_name


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lang=st.text(max_size=40), cookie=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126,
                                                                        blacklist_characters=';,"\\'),
                                                  max_size=40))
def test_hostile_language_choices_fall_back_to_vietnamese(rig, lang, cookie):
    c, env = client(rig)
    c.set_cookie("lang", cookie)
    reply = c.get("/", query_string={"lang": lang, "kiosk": lang}, environ_base=env)
    assert reply.status_code == 200
    page = reply.get_data(as_text=True)
    expected = lang if lang in ("vi", "en") else (cookie if cookie in ("vi", "en") and not lang else "vi")
    assert f'<html lang="{expected}">' in page


def test_markup_in_the_query_is_never_echoed(rig):
    c, env = client(rig)
    page = c.get("/?lang=<script>alert(1)</script>&kiosk=<b>", environ_base=env).get_data(as_text=True)
    assert "<script>alert" not in page and "<b>" not in page


def test_a_large_button_body_is_refused_from_its_headers_with_json(rig):
    from tests.samplepoint.body_probes import raw_request
    base = rig.url.rstrip("/")
    # Headers alone, announcing 50 MB: waitress answers without waiting for (or buffering) the body.
    status, answer = raw_request(base, f"POST /action/close HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       f"{BUTTON_HEADER}: 1\r\nContent-Type: application/json\r\n"
                                       "Content-Length: 50000000", timeout=5)
    assert status == 413
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"ok": False, "error": "too-large"}
    test_client, environ = client(rig)
    refused = test_client.post("/action/close", data=b"{" * 10_000, headers=BUTTON,
                               content_type="application/json", environ_base=environ)
    assert refused.status_code == 413 and refused.get_json()["error"] == "too-large"
