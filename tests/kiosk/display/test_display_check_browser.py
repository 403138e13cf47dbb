"""Check mode and the clock warning on the staff display, in headless Chromium, against the real central server."""
import random
import socket
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By

from tests.kiosk.display.display_rig import browser, qr, rig, set_viewport  # noqa: F401  (fixtures)
from tests.kiosk.display.display_rig import kind, text, wait_for
from kiosk import check
from kiosk.framegen import fictional_person
from samplepoint import wire
from samplepoint.clock import ClockEvidence

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "display"
VN = timezone(timedelta(hours=7))
NOW = datetime(2021, 8, 21, 2, 0, tzinfo=timezone.utc)


def shoot(driver, state: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    set_viewport(driver, 800, 480)
    time.sleep(0.15)
    assert driver.execute_script("return document.documentElement.scrollHeight <= innerHeight + 1")
    driver.save_screenshot(str(ARTIFACTS / f"check-{state}-800x480.png"))





def post(central, person, tube, collected_at):
    record = wire.SampleRecord(
        record_id=wire.new_record_id(), tube_code=tube, pool_size=1, test_type="rt-pcr",
        sample_type="swab", collected_at=collected_at, site_id="SITE-TEST", device_id="DEV-TEST-01",
        staff_id="s", persons=(person,), clock_synchronised=True)
    assert requests.post(central.url + "/api/v1/samples", json=record.to_json(), timeout=5,
                         headers={"Authorization": f"Bearer {central.token}"}).status_code == 201


@pytest.fixture
def checked_people(central):
    """Three people at the central server: a valid result, an expired one, and none yet."""
    from central.results import LabResult
    rng = random.Random(11)
    fresh, old, waiting = (fictional_person(rng) for _ in range(3))
    post(central, fresh, "DT00000001", "2021-08-20T09:00:00+07:00")
    post(central, old, "DT00000002", "2021-08-10T09:00:00+07:00")
    post(central, waiting, "DT00000003", "2021-08-21T08:00:00+07:00")
    central.db.add_results([LabResult(t, "rt-pcr", "negative", NOW - timedelta(hours=1), "LAB")
                            for t in ("DT00000001", "DT00000002")])
    central.app.extensions["central_clock"] = lambda: NOW
    return fresh, old, waiting


def refused_url() -> str:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{closed.getsockname()[1]}"


def test_check_mode_toggled_by_the_button_shows_each_state(rig, browser, central, checked_people):
    fresh, old, waiting = checked_people
    rig.kiosk.checker = check.CheckMode(check.StatusClient(central.url, central.token), VN)
    browser.get(rig.url)
    wait_for(browser, lambda d: d.find_element(By.ID, "mode").is_displayed() is False)
    button = browser.find_element(By.ID, "check-button")
    assert button.text.endswith("Kiểm tra kết quả")

    button.click()
    wait_for(browser, lambda d: d.find_element(By.ID, "mode").is_displayed())
    assert rig.kiosk.state.check_mode is True
    assert "CHẾ ĐỘ KIỂM TRA" in text(browser, "mode")
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-check") == "1"
    assert button.get_attribute("aria-pressed") == "true" and "Quay lại lấy mẫu" in button.text
    shoot(browser, "01-mode-on")

    rig.kiosk.on_code(qr(fresh))
    wait_for(browser, lambda d: kind(d) == "check-valid")
    assert "CÒN HIỆU LỰC" in text(browser, "last-kind")
    assert text(browser, "last-lines") == "Hiệu lực đến 09:00 23/08/2021"
    assert text(browser, "last-name") == fresh.full_name          # whose result it is
    assert "Âm tính" not in browser.find_element(By.TAG_NAME, "body").text      # nobody signed in
    shoot(browser, "02-valid")

    rig.kiosk.on_code(qr(old))
    wait_for(browser, lambda d: kind(d) == "check-expired")
    assert "HẾT HIỆU LỰC" in text(browser, "last-kind")
    assert text(browser, "last-lines").startswith("Đã hết hiệu lực lúc")
    shoot(browser, "03-expired")

    rig.kiosk.on_code(qr(waiting))
    wait_for(browser, lambda d: kind(d) == "check-no-result")
    assert "CHƯA CÓ KẾT QUẢ" in text(browser, "last-kind")
    shoot(browser, "04-no-result")

    rig.kiosk.on_code(b"DT00000050")            # tubes are not opened in check mode
    wait_for(browser, lambda d: kind(d) == "refused")
    assert "không mở ống mẫu" in text(browser, "last-hint")
    assert rig.store.open_tube_state() is None

    rig.kiosk.state = replace(rig.kiosk.state, staff_id="NV01", staff_name="Lê Thị Hoa")
    rig.kiosk.on_code(b"DT00000051")            # something else in between, so the next scan shows
    wait_for(browser, lambda d: kind(d) == "refused")
    rig.kiosk.on_code(qr(fresh))
    wait_for(browser, lambda d: kind(d) == "check-valid")
    assert text(browser, "last-lines").endswith("Kết quả: Âm tính")          # staff signed in
    shoot(browser, "05-valid-staff")

    rig.kiosk.checker = check.CheckMode(check.StatusClient(refused_url(), "token", timeout=0.5), VN)
    rig.kiosk.on_code(qr(old))
    wait_for(browser, lambda d: kind(d) == "check-unavailable")
    assert "KHÔNG KIỂM TRA ĐƯỢC" in text(browser, "last-kind")
    assert "Không kết nối được máy chủ" in text(browser, "last-lines")
    shoot(browser, "06-offline")

    browser.get(rig.url + "?lang=en")
    wait_for(browser, lambda d: kind(d) == "check-unavailable")
    assert text(browser, "last-kind").endswith("CANNOT CHECK")
    assert "Cannot reach the central server" in text(browser, "last-lines")
    assert "CHECK MODE" in text(browser, "mode")
    shoot(browser, "07-offline-english")

    browser.find_element(By.ID, "check-button").click()
    wait_for(browser, lambda d: not d.find_element(By.ID, "mode").is_displayed())
    assert rig.kiosk.state.check_mode is False
    rig.kiosk.on_code(b"DT00000052")            # sampling again: the tube opens
    wait_for(browser, lambda d: text(d, "tube-code") == "DT00000052")


def test_clock_banner_follows_the_injected_clock_evidence(rig, browser):
    synchronised = [False]
    rig.kiosk.evidence = lambda: ClockEvidence(synchronised[0], 1.0, "boot")
    browser.get(rig.url)
    banner = browser.find_element(By.ID, "clock-banner")
    wait_for(browser, lambda d: kind(d) == "none")
    assert not banner.is_displayed()

    rig.kiosk.note_clock(rig.kiosk.evidence())
    wait_for(browser, lambda d: banner.is_displayed())
    assert "Đồng hồ chưa đồng bộ" in banner.text
    rig.kiosk.on_code(b"DT00000001")            # scans go on; the banner stays
    wait_for(browser, lambda d: text(d, "tube-code") == "DT00000001")
    assert banner.is_displayed()
    shoot(browser, "08-clock-unsynchronised")

    browser.get(rig.url + "?lang=en")           # a page opened later shows it too, in English
    banner = browser.find_element(By.ID, "clock-banner")
    wait_for(browser, lambda d: banner.is_displayed())
    assert "Device clock not synchronised" in banner.text

    synchronised[0] = True
    rig.kiosk.note_clock(rig.kiosk.evidence())
    wait_for(browser, lambda d: not banner.is_displayed())


def test_check_badge_toggles_check_mode_on_the_display(rig, browser):
    from kiosk.staff import badge_code
    key = b"k" * 32
    rig.kiosk.code_key = key
    badge = badge_code("NV02", "Trần Văn Nam", key, check=True).encode()
    browser.get(rig.url)
    wait_for(browser, lambda d: kind(d) == "none")
    rig.kiosk.on_code(badge)
    wait_for(browser, lambda d: d.find_element(By.ID, "mode").is_displayed())
    assert text(browser, "staff") == "Trần Văn Nam" and rig.kiosk.state.check_mode
    rig.kiosk.on_code(badge)                    # scanned again (away and back): off
    wait_for(browser, lambda d: not d.find_element(By.ID, "mode").is_displayed())
    assert rig.kiosk.state.check_mode is False
