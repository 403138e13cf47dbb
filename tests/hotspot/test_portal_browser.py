"""Headless Chromium at a 360×640 phone viewport opens every portal page (screenshots kept in
test-artifacts/portal/) and fills in and submits the declaration form."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from samplepoint.httpserver import BackgroundServer
from tests.hotspot.portal_helpers import make_portal

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"
PAGES = {"home": "/", "install": "/install", "howto": "/howto", "privacy": "/privacy",
         "declare": "/declare", "home-en": "/?lang=en"}


@pytest.fixture(scope="module")
def browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=360,640", "--lang=vi"):
        options.add_argument(arg)
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
        "width": 360, "height": 640, "pixelRatio": 2.0}})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture
def portal_url(tmp_path):
    app, store, _ = make_portal(tmp_path)
    with BackgroundServer(app) as server:
        server.store = store
        yield server


def test_every_page_renders_at_phone_size(browser, portal_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, path in PAGES.items():
        browser.get(portal_url.url + path)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 360, name
        browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    assert "Wi-Fi" in browser.title


def press(browser, element):
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def test_declaration_filled_and_submitted_in_browser(browser, portal_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.get(portal_url.url + "/declare")
    Select(browser.find_element(By.ID, "province")).select_by_value("79")
    Select(browser.find_element(By.ID, "people")).select_by_visible_text("2")
    press(browser, browser.find_element(By.CSS_SELECTOR, "input[value=relative]"))
    press(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    WebDriverWait(browser, 10).until(lambda b: "/declare/form" in b.current_url)
    people = [("Nguyễn Lê Khả Hân", "18/01/1987", "female", "001187029317", "0944713700"),
              ("Nguyễn Văn An", "02/03/2015", "male", "079215000123", "")]
    for i, (name, dob, gender, number, phone) in enumerate(people):
        browser.find_element(By.ID, f"name_{i}").send_keys(name)
        browser.find_element(By.ID, f"dob_{i}").send_keys(dob)
        Select(browser.find_element(By.ID, f"gender_{i}")).select_by_value(gender)
        browser.find_element(By.ID, f"id_number_{i}").send_keys(number)
        browser.find_element(By.ID, f"phone_{i}").send_keys(phone)
    Select(browser.find_element(By.ID, "ward")).select_by_index(1)
    browser.find_element(By.ID, "street").send_keys("12 Lê Lợi")
    browser.find_element(By.ID, "declarer_name").send_keys("Trần Thị Bình")
    browser.find_element(By.ID, "declarer_phone").send_keys("0912345678")
    browser.save_screenshot(str(ARTIFACTS / "declare-form.png"))
    press(browser, browser.find_element(By.ID, "submit"))    # consent not ticked: refused with a message
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.ID, "e-consent"))
    browser.save_screenshot(str(ARTIFACTS / "declare-form-errors.png"))
    press(browser, browser.find_element(By.ID, "consent"))
    press(browser, browser.find_element(By.ID, "submit"))
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CLASS_NAME, "code"))
    codes = [e.text for e in browser.find_elements(By.CLASS_NAME, "code")]
    browser.save_screenshot(str(ARTIFACTS / "declare-done.png"))
    assert len(codes) == 2 and all(len(c) == 9 for c in codes), browser.page_source[:2000]
    assert len(browser.find_elements(By.CSS_SELECTOR, ".qr svg")) == 2
    assert portal_url.store.declared_person(codes[1])["full_name"] == "Nguyễn Văn An"


# Everything a finger presses: links, buttons, fields, and the labels that hold a radio or checkbox
# (the label is the target; the box inside it is drawn smaller).
TAP_TARGETS_JS = """
const targets = [...document.querySelectorAll('a, button, select, label.opt,'
  + ' input:not([type=hidden]):not([type=radio]):not([type=checkbox])')];
return targets.map(e => { const r = e.getBoundingClientRect();
  return [e.tagName + ' ' + (e.textContent || e.name || '').trim().slice(0, 30), r.width, r.height]; });
"""


def small_targets(browser):
    return [(what, round(w), round(h)) for what, w, h in browser.execute_script(TAP_TARGETS_JS)
            if w < 44 or h < 44]


def test_every_tap_target_is_at_least_44_px(browser, portal_url):
    form = "/declare/form?province=79&people=2&relation=relative"
    for path in [*PAGES.values(), form, form + "&lang=en", "/install?lang=en"]:
        browser.get(portal_url.url + path)
        assert small_targets(browser) == [], path


def test_done_shows_the_store_links(browser, portal_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.get(portal_url.url + "/install")
    press(browser, browser.find_element(By.CSS_SELECTOR, "button[name=done]"))
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.ID, "store-android"))
    browser.save_screenshot(str(ARTIFACTS / "done.png"))
    android, iphone = (browser.find_element(By.ID, i) for i in ("store-android", "store-iphone"))
    assert android.get_attribute("href").startswith("https://play.google.com/")
    assert iphone.get_attribute("href").startswith("https://apps.apple.com/")
    for link in (android, iphone):       # on the first screen, no scrolling needed
        top = browser.execute_script("return arguments[0].getBoundingClientRect().bottom", link)
        assert top <= 640, top
    assert small_targets(browser) == []
