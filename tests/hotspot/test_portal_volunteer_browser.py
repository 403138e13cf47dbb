"""A volunteer on a phone (headless Chromium, 360×640): signs in, declares for someone without a
phone and presses "In phiếu"; the print request reaches the spool. Screenshots kept."""
from __future__ import annotations

from pathlib import Path

import pytest

from samplepoint import print_spool
from samplepoint.httpserver import BackgroundServer
from samplepoint.pins import pin_entry
from tests.hotspot.portal_helpers import make_portal
from tests.hotspot.test_portal_browser import browser, press  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"


def test_volunteer_declares_and_prints_a_slip(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    app, store, config = make_portal(tmp_path, volunteer_pins=[pin_entry("TNV01", "246813")])
    with BackgroundServer(app) as server:
        browser.delete_all_cookies()
        browser.get(server.url + "/volunteer")
        browser.find_element(By.ID, "volunteer").send_keys("TNV01")
        browser.find_element(By.ID, "pin").send_keys("246813")
        browser.save_screenshot(str(ARTIFACTS / "volunteer-sign-in.png"))
        press(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        WebDriverWait(browser, 10).until(lambda b: b.current_url.split("?")[0].endswith("/declare"))
        Select(browser.find_element(By.ID, "province")).select_by_value("82")
        press(browser, browser.find_element(By.CSS_SELECTOR, "input[value=volunteer]"))
        press(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        WebDriverWait(browser, 10).until(lambda b: "/declare/form" in b.current_url)
        browser.find_element(By.ID, "name_0").send_keys("Trần Văn Bảy")
        browser.find_element(By.ID, "dob_0").send_keys("03/02/1941")
        Select(browser.find_element(By.ID, "gender_0")).select_by_value("male")
        browser.find_element(By.ID, "id_number_0").send_keys("087041001234")
        Select(browser.find_element(By.ID, "ward")).select_by_index(1)
        browser.find_element(By.ID, "street").send_keys("Ấp 3")
        browser.find_element(By.ID, "declarer_name").send_keys("Lê Văn Tâm")
        browser.find_element(By.ID, "declarer_phone").send_keys("0912345678")
        press(browser, browser.find_element(By.ID, "consent"))
        press(browser, browser.find_element(By.ID, "submit"))
        errors = [(e.get_attribute("id"), e.text) for e in browser.find_elements(By.CSS_SELECTOR, ".err")]
        assert len(errors) == 0, errors
        WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, "button.print"))
        button = browser.find_element(By.CSS_SELECTOR, "button.print")
        assert button.text == "In phiếu"
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        browser.save_screenshot(str(ARTIFACTS / "volunteer-declare-done.png"))
        press(browser, button)
        WebDriverWait(browser, 10).until(lambda b: "Đã gửi lệnh in" in b.page_source)
        browser.save_screenshot(str(ARTIFACTS / "volunteer-print-sent.png"))
    [request] = print_spool.waiting(print_spool.spool_dir(config.device.data_dir))
    short = print_spool.read_request(request)["short_code"]
    assert store.declared_person(short)["full_name"] == "Trần Văn Bảy"
