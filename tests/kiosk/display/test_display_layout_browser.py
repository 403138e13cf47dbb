"""The staff display at 800×480 and 1920×1080 in headless Chromium, measured by element geometry:
no text under 20 px, nothing cut off or off screen, banners never over content, check mode unlike
sampling, and the result panel going back to 'ready' by itself. Screenshots of every state."""
import random
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.kiosk.display.display_rig import browser, qr, rig, set_viewport  # noqa: F401  (fixtures)
from tests.kiosk.display.display_rig import kind, text, wait_for
from tests.kiosk.display.layout_check import layout_problems
from kiosk import check
from kiosk.framegen import fictional_person
from kiosk.staff import badge_code
from samplepoint import wire
from samplepoint.clock import ClockEvidence

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "display"
SIZES = ((800, 480), (1920, 1080))
KEY = b"k" * 32
VN = timezone(timedelta(hours=7))
LONG_SITE = "Điểm lấy mẫu Trạm Y tế xã Tân Hội Trung, tỉnh Đồng Tháp"
LONG_NAME = "NGUYEN THI THANH HUONG NGOC BICH TRAN"





def measured(driver, state: str) -> None:
    """At each screen size: no geometry problem, then a screenshot (test-artifacts/display/)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        set_viewport(driver, width, height)
        wait_for(driver, lambda d: d.execute_script("return [innerWidth, innerHeight]") == [width, height])
        time.sleep(0.7)                      # the flash animation ends; the page has laid out again
        driver.save_screenshot(str(ARTIFACTS / f"display-{state}-{width}x{height}.png"))
        assert layout_problems(driver) == [], (state, width, height)
    set_viewport(driver, *SIZES[0])


def visible(driver, selector: str) -> bool:
    return any(e.is_displayed() for e in driver.find_elements(By.CSS_SELECTOR, selector))


def style(driver, selector: str, prop: str) -> str:
    return driver.execute_script(
        "return getComputedStyle(document.querySelector(arguments[0]))[arguments[1]]", selector, prop)


@pytest.fixture
def signed(rig):
    """The rig as deployed: sign-in required, a long site name, a staff badge key."""
    rig.kiosk.settings = replace(rig.kiosk.settings, require_sign_in=True)
    rig.kiosk.code_key = KEY
    rig.hub.site_name = LONG_SITE
    rig.hub.clear_after_s = 60.0              # tests that wait for clearing set it lower
    return rig


def sign_in(rig, name="Lê Thị Hoa", staff_id="NV01"):
    rig.kiosk.on_code(badge_code(staff_id, name, KEY).encode())


def person(seed: int, name: str | None = None) -> wire.Person:
    p = fictional_person(random.Random(seed))
    return replace(p, full_name=name) if name else p


def test_sampling_states_fit_800x480_with_large_text(signed, browser):
    rig = signed
    browser.get(rig.url)
    wait_for(browser, lambda d: text(d, "site") == LONG_SITE)
    assert "Đăng nhập trước" in text(browser, "last-hint")
    measured(browser, "sign-in")

    sign_in(rig)
    wait_for(browser, lambda d: text(d, "staff") == "Lê Thị Hoa")
    rig.hub.signal("info", "", "")                 # nothing on the panel but ready
    rig.kiosk.settings = replace(rig.kiosk.settings, pool_size=10)
    rig.kiosk.on_code(b"DT00000001")
    wait_for(browser, lambda d: text(d, "tube-code") == "DT00000001")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#slots li")) >= 1
    measured(browser, "tube-open")

    people = [person(i) for i in range(9)] + [person(99, LONG_NAME)]
    for p in people[:9]:
        rig.kiosk.on_code(qr(p))
    wait_for(browser, lambda d: text(d, "tube-count") == "9/10")
    measured(browser, "tube-nine-of-ten")
    # Read in one go: a list re-drawn between finding and reading an element would go stale.
    shown = [t.strip() for t in browser.execute_script(
        "return [...document.querySelectorAll('#slots li.filled .who')].map(e => e.innerText)")]
    assert shown and shown[-1] == people[8].full_name     # the newest name is always on screen

    rig.kiosk.on_code(qr(people[8]))
    wait_for(browser, lambda d: kind(d) == "duplicate")
    measured(browser, "duplicate")

    rig.kiosk.on_code(b"001093029317|NGUYEN VAN A|1987-13-45|0||")
    wait_for(browser, lambda d: kind(d) == "refused")
    measured(browser, "refused")

    rig.kiosk.on_code(qr(people[9]))
    wait_for(browser, lambda d: kind(d) == "tube-full")
    assert text(browser, "last-name") == LONG_NAME
    measured(browser, "tube-full")

    rig.kiosk.on_code(b"DT00000002")
    rig.kiosk.on_code(qr(person(50)))
    wait_for(browser, lambda d: kind(d) == "accepted")
    assert text(browser, "staff") == "Lê Thị Hoa"
    measured(browser, "accepted")

    # A printer that is unplugged: scanning goes on, the status says so, Reprint is offered.
    from kiosk.printer.devices import DummyPrinters, PrinterOffline
    from kiosk.printer.table import PrinterService
    dummy = DummyPrinters()
    dummy.fail_with = PrinterOffline("unplugged")
    printer = PrinterService(rig.kiosk.config, rig.store, connect=dummy).attach(rig.kiosk, rig.hub)
    try:
        browser.find_element(By.CSS_SELECTOR, "footer [data-button=close]").click()
        wait_for(browser, lambda d: d.find_element(By.ID, "printer").get_attribute("data-state")
                 == "offline")
        assert "Máy in không kết nối" in text(browser, "printer")
        assert visible(browser, "#reprint-button")
        rig.kiosk.on_code(b"DT00000003")
        rig.kiosk.on_code(qr(person(51)))
        wait_for(browser, lambda d: kind(d) == "accepted" and text(d, "tube-code") == "DT00000003")
        measured(browser, "printer-offline")
        dummy.fail_with = None
        browser.find_element(By.ID, "reprint-button").click()
        wait_for(browser, lambda d: d.find_element(By.ID, "printer").get_attribute("data-state")
                 == "ready")
        assert len(dummy.printed) == 1
    finally:
        printer.stop()
        rig.hub.printer = None

    rig.kiosk.evidence = lambda: ClockEvidence(False, 1.0, "boot")
    rig.kiosk.note_clock(rig.kiosk.evidence())
    wait_for(browser, lambda d: d.find_element(By.ID, "clock-banner").is_displayed())
    measured(browser, "clock-banner")

    browser.get(rig.url + "?lang=en")
    wait_for(browser, lambda d: kind(d) == "accepted")
    measured(browser, "english")


def test_result_panel_goes_back_to_ready_after_the_configured_seconds(signed, browser):
    rig = signed
    rig.hub.clear_after_s = 1.5
    sign_in(rig)
    browser.get(rig.url)
    rig.kiosk.on_code(b"DT00000001")
    started = time.monotonic()
    rig.kiosk.on_code(qr(person(1)))
    wait_for(browser, lambda d: kind(d) == "accepted")
    time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    assert kind(browser) == "accepted"            # still shown before the time is up
    wait_for(browser, lambda d: kind(d) == "none", timeout=5)
    cleared_after = time.monotonic() - started
    assert cleared_after >= 1.4, cleared_after    # never before its time (after: within the wait)
    assert text(browser, "last-kind") == "SẴN SÀNG"
    assert text(browser, "last-name") == ""       # no name left that could pass for a new scan
    assert "quét người tiếp theo" in text(browser, "last-hint")
    measured(browser, "ready")

    rig.kiosk.on_code(b"garbage!")
    wait_for(browser, lambda d: kind(d) == "refused")
    wait_for(browser, lambda d: kind(d) == "none", timeout=5)    # refusals clear too
    browser.get(rig.url)                                         # a page opened later: ready
    wait_for(browser, lambda d: text(d, "last-kind") == "SẴN SÀNG")


def test_check_mode_has_its_own_look_names_whose_result_and_hides_sampling(signed, browser, central):
    from central.results import LabResult
    rig = signed
    now = datetime(2021, 8, 21, 2, 0, tzinfo=timezone.utc)
    fresh, old, waiting = person(11, "TRAN VAN BINH"), person(12), person(13)
    for p, tube, at in ((fresh, "DT00000091", "2021-08-20T09:00:00+07:00"),
                        (old, "DT00000092", "2021-08-10T09:00:00+07:00"),
                        (waiting, "DT00000093", "2021-08-21T08:00:00+07:00")):
        record = wire.SampleRecord(
            record_id=wire.new_record_id(), tube_code=tube, pool_size=1, test_type="rt-pcr",
            sample_type="swab", collected_at=at, site_id="SITE-TEST", device_id="DEV-TEST-01",
            staff_id="s", persons=(p,), clock_synchronised=True)
        _post(central, record)
    central.db.add_results([LabResult(t, "rt-pcr", "negative", now - timedelta(hours=1), "LAB")
                            for t in ("DT00000091", "DT00000092")])
    central.app.extensions["central_clock"] = lambda: now
    rig.kiosk.checker = check.CheckMode(check.StatusClient(central.url, central.token), VN)

    sign_in(rig)
    browser.get(rig.url)
    rig.kiosk.on_code(b"DT00000001")
    rig.kiosk.on_code(qr(person(1)))
    wait_for(browser, lambda d: kind(d) == "accepted")
    sampling_bg = style(browser, "#last", "backgroundColor")
    sampling_verdict = style(browser, "#last .icon", "backgroundColor")
    assert visible(browser, "#tube") and visible(browser, "footer [data-button=close]")
    browser.find_element(By.CSS_SELECTOR, "footer [data-button=close]").click()
    wait_for(browser, lambda d: rig.store.open_tube_state() is None)

    browser.find_element(By.ID, "check-button").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "mode").is_displayed())
    assert not visible(browser, "#tube")
    for button in ("close", "undo", "cancel"):
        assert not visible(browser, f"footer [data-button={button}]")
    assert visible(browser, "footer [data-button=check-mode]")
    assert text(browser, "last-kind") == "SẴN SÀNG KIỂM TRA"     # the sampled name is gone
    measured(browser, "check-ready")

    rig.kiosk.on_code(qr(fresh))
    wait_for(browser, lambda d: kind(d) == "check-valid")
    assert text(browser, "last-name") == "TRAN VAN BINH"
    facts = text(browser, "last-facts")
    assert fresh.date_of_birth[:4] in facts and "*****" + fresh.id_number[-4:] in facts
    assert fresh.id_number not in browser.page_source
    assert "Kết quả của" in text(browser, "last-whose")
    assert "Hiệu lực đến 09:00 23/08/2021" in text(browser, "last-lines")
    assert "Kết quả: Âm tính" in text(browser, "last-lines")
    # Neither the panel nor its verdict use the colours of an accepted sample.
    assert style(browser, "#last", "backgroundColor") != sampling_bg
    colours = {style(browser, "#last .verdict", "backgroundColor")}
    assert sampling_verdict not in colours
    measured(browser, "check-valid")

    rig.kiosk.on_code(qr(old))
    wait_for(browser, lambda d: kind(d) == "check-expired")
    colours.add(style(browser, "#last .verdict", "backgroundColor"))
    measured(browser, "check-expired")
    rig.kiosk.on_code(qr(waiting))
    wait_for(browser, lambda d: kind(d) == "check-no-result")
    colours.add(style(browser, "#last .verdict", "backgroundColor"))
    measured(browser, "check-no-result")
    rig.kiosk.checker = None
    rig.kiosk.on_code(qr(fresh))
    wait_for(browser, lambda d: kind(d) == "check-unavailable")
    colours.add(style(browser, "#last .verdict", "backgroundColor"))
    measured(browser, "check-unavailable")
    assert len(colours) == 4                       # each check outcome its own colour
    assert not colours & {"rgb(34, 221, 34)", "rgb(255, 68, 68)"}    # sampling's green and red


def _post(central, record):
    import requests
    assert requests.post(central.url + "/api/v1/samples", json=record.to_json(), timeout=5,
                         headers={"Authorization": f"Bearer {central.token}"}).status_code == 201


def test_a_card_that_cannot_be_written_stays_red_until_a_scan_commits_again(signed, browser):
    """A read-only or full card is a standing condition: a red banner that outlives the result
    panel (which clears after a few seconds) and goes only when a later event is written."""
    import sqlite3
    from contextlib import contextmanager
    rig = signed
    rig.hub.clear_after_s = 1.0
    sign_in(rig)
    browser.get(rig.url)
    real = rig.kiosk.store.transaction

    @contextmanager
    def read_only():
        with real() as db:
            yield db
            raise sqlite3.OperationalError("attempt to write a readonly database")
    rig.kiosk.store.transaction = read_only
    try:
        rig.kiosk.on_code(b"DT00000007")
        wait_for(browser, lambda d: d.find_element(By.ID, "store-banner").is_displayed())
        assert "chỉ đọc" in text(browser, "store-banner")
        assert style(browser, "#store-banner", "backgroundColor") == "rgb(204, 0, 0)"
        time.sleep(2.0)                               # longer than the result panel is shown
        assert browser.find_element(By.ID, "store-banner").is_displayed()
        assert kind(browser) == "store-fault"        # the idle panel does not say "ready" meanwhile
        assert text(browser, "last-kind") == "KHÔNG LƯU ĐƯỢC"
        assert "ghi tay" in text(browser, "last-hint")
        measured(browser, "store-readonly")
    finally:
        rig.kiosk.store.transaction = real
    rig.kiosk.on_code(b"DT00000007")                  # the card works again: the tube opens
    wait_for(browser, lambda d: not d.find_element(By.ID, "store-banner").is_displayed())
    assert rig.store.open_tube_state().tube_code == "DT00000007"
