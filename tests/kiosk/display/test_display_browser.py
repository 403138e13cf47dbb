"""The staff display in headless Chromium: every state of a replayed session, timing, buttons, safety."""
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.kiosk.display.display_rig import browser, people, qr, rig, set_viewport  # noqa: F401  (fixtures)
from tests.kiosk.display.display_rig import text, wait_for
from kiosk.camera.replay import ReplaySource
from kiosk.framegen import write_session
from samplepoint import wire

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "display"
SIZES = ((800, 480), (1920, 1080))
TUBE = b"DT00000001"


def shoot(driver, state: str) -> None:
    """Screenshots of the current state at both screen sizes, kept as test artefacts."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        set_viewport(driver, width, height)
        time.sleep(0.15)
        assert driver.execute_script("return [innerWidth, innerHeight]") == [width, height]
        # Nothing may spill out of the screen: the page never scrolls on the kiosk.
        assert driver.execute_script(
            "return document.documentElement.scrollHeight <= innerHeight + 1")
        driver.save_screenshot(str(ARTIFACTS / f"{state}-{width}x{height}.png"))
    set_viewport(driver, *SIZES[0])




def watch_name(driver) -> None:
    """Record, in the page, when the last-scan name changes (epoch ms), to time scans precisely."""
    driver.execute_script("""
        window.__seen = [];
        new MutationObserver(() => window.__seen.push([Date.now(),
            document.getElementById('last-name').textContent]))
          .observe(document.getElementById('last'), {subtree: true, childList: true,
                                                     characterData: true, attributes: true});""")


def scan_and_time(driver, rig, person) -> float:
    started = time.time() * 1000
    rig.kiosk.on_code(qr(person))
    wait_for(driver, lambda d: text(d, "last-name") == person.full_name)
    seen = driver.execute_script("return window.__seen")
    shown_at = next(at for at, name in seen if name == person.full_name)
    return shown_at - started


def test_replayed_session_shows_every_state(rig, browser, people):
    browser.get(rig.url)
    wait_for(browser, lambda d: d.find_element(By.ID, "last").get_attribute("data-kind") == "none")
    assert text(browser, "link-state") == "Trực tuyến"
    assert text(browser, "staff") == "chưa đăng nhập"
    assert "Chưa mở ống" in text(browser, "tube-code")
    shoot(browser, "01-idle")
    # Screenshots below show a signed-in staff member, as the default settings require.
    rig.kiosk.state = replace(rig.kiosk.state, staff_id="NV01", staff_name="Lê Thị Hoa")

    rig.kiosk.on_code(TUBE)
    wait_for(browser, lambda d: text(d, "tube-code") == "DT00000001")
    assert text(browser, "tube-count") == "0/3" and text(browser, "tube-type") == "RT-PCR"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#slots li.empty")) == 3
    shoot(browser, "02-tube-open")

    watch_name(browser)
    latencies = [scan_and_time(browser, rig, people[0])]
    last = browser.find_element(By.ID, "last")
    assert last.get_attribute("data-kind") == "accepted" and "ĐÃ NHẬN" in text(browser, "last-kind")
    facts = text(browser, "last-facts")
    assert people[0].date_of_birth[:4] in facts and "*****" + people[0].id_number[-4:] in facts
    assert people[0].id_number not in browser.page_source
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#slots li.filled .who")] == [
        people[0].full_name]
    shoot(browser, "03-accepted")

    rig.kiosk.on_code(qr(people[0]))
    wait_for(browser, lambda d: d.find_element(By.ID, "last").get_attribute("data-kind") == "duplicate")
    assert "ĐÃ CÓ TRONG ỐNG" in text(browser, "last-kind")
    shoot(browser, "04-duplicate")

    rig.kiosk.on_code(b"001093029317|NGUYEN VAN A|1987-13-45|0||")
    wait_for(browser, lambda d: d.find_element(By.ID, "last").get_attribute("data-kind") == "refused")
    assert "TỪ CHỐI" in text(browser, "last-kind")
    assert "Mã QR không hợp lệ — đề nghị mở lại mã QR trên ứng dụng" in text(browser, "last-hint")
    shoot(browser, "05-refused")

    latencies.append(scan_and_time(browser, rig, people[1]))
    latencies.append(scan_and_time(browser, rig, people[2]))
    wait_for(browser, lambda d: d.find_element(By.ID, "last").get_attribute("data-kind") == "tube-full")
    assert "ỐNG ĐÃ ĐẦY" in text(browser, "last-kind") and text(browser, "last-name") == people[2].full_name
    wait_for(browser, lambda d: "Chưa mở ống" in text(d, "tube-code"))
    wait_for(browser, lambda d: text(d, "today-people") == "3" and text(d, "today-tubes") == "1")
    wait_for(browser, lambda d: d.find_element(By.ID, "link").get_attribute("data-state") == "sending")
    assert "1 bản ghi chờ gửi" in text(browser, "link-detail")
    shoot(browser, "06-tube-full")
    (ARTIFACTS / "scan-latency-ms.txt").write_text(" ".join(f"{ms:.0f}" for ms in latencies) + "\n")
    assert max(latencies) < 300, latencies

    rig.hub.offline_after_s = 0.05
    wait_for(browser, lambda d: d.find_element(By.ID, "link").get_attribute("data-state") == "offline")
    assert text(browser, "link-state") == "Mất kết nối"
    shoot(browser, "07-offline")

    rig.kiosk.on_code(b"DT00000009")
    wait_for(browser, lambda d: text(d, "tube-code") == "DT00000009")
    click(browser, "cancel")
    wait_for(browser, lambda d: d.find_element(By.ID, "cancel-dialog").is_displayed())
    assert "Ống bị hỏng hoặc đổ" in text(browser, "cancel-dialog")
    shoot(browser, "08-cancel-dialog")

    browser.get(rig.url + "?lang=en")
    wait_for(browser, lambda d: "TUBE FULL" in text(d, "last-kind"))
    wait_for(browser, lambda d: text(d, "tube-code") == "DT00000009")
    assert text(browser, "link-state") == "Offline"
    assert "Close tube" in browser.find_element(By.TAG_NAME, "footer").text
    shoot(browser, "09-english")


def click(driver, button: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"button[data-button='{button}']").click()


def test_touch_buttons_change_the_store(rig, browser, people):
    browser.get(rig.url)
    rig.kiosk.state = replace(rig.kiosk.state, staff_id="NV-07", staff_name="Trần Thị Bé")
    rig.hub.publish()
    wait_for(browser, lambda d: text(d, "staff") == "Trần Thị Bé")
    rig.kiosk.on_code(TUBE)
    rig.kiosk.on_code(qr(people[3]))
    rig.kiosk.on_code(qr(people[4]))
    wait_for(browser, lambda d: text(d, "tube-count") == "2/3")

    click(browser, "undo")                                   # undo last person
    wait_for(browser, lambda d: text(d, "tube-count") == "1/3")
    assert browser.find_element(By.ID, "last").get_attribute("data-kind") == "undone"
    assert text(browser, "last-name") == "" and "ĐÃ XOÁ" in text(browser, "last-kind")
    shoot(browser, "12-undone")
    assert [k for k, _ in rig.store.open_tube_state().persons] == [rig.kiosk.state.tube.person_keys[0]]

    click(browser, "close")                                  # close tube
    wait_for(browser, lambda d: "Chưa mở ống" in text(d, "tube-code"))
    assert rig.store.open_tube_state() is None and rig.store.outbox_counts()["pending"] == 1

    rig.kiosk.on_code(b"DT00000002")
    rig.kiosk.on_code(qr(people[5]))
    wait_for(browser, lambda d: text(d, "tube-code") == "DT00000002")
    click(browser, "cancel")                                 # cancel, with a reason from the dialog
    wait_for(browser, lambda d: d.find_element(By.ID, "cancel-dialog").is_displayed())
    browser.find_element(By.CSS_SELECTOR, "[data-reason='tube-damaged']").click()
    wait_for(browser, lambda d: "Chưa mở ống" in text(d, "tube-code"))
    assert "ĐÃ HUỶ ỐNG" in text(browser, "last-kind")
    shoot(browser, "13-tube-cancelled")
    bodies = [json.loads(item.body) for item in rig.store.pending(10)]
    assert [(b["tube_code"], b["status"], b["cancel_reason"]) for b in bodies] == [
        ("DT00000001", "closed", None), ("DT00000002", "cancelled", "tube-damaged")]
    assert rig.store.day_counts("2000-01-01") == {"people": 1, "tubes": 1}

    click(browser, "sign-out")                               # sign out
    wait_for(browser, lambda d: text(d, "staff") == "chưa đăng nhập")
    assert rig.kiosk.state.staff_id is None
    wait_for(browser, lambda d: text(d, "notice") != "")
    shoot(browser, "14-signed-out")
    rig.hub.signal("signed-in", "Xin chào NV-07 — đã đăng nhập", "NV-07")
    wait_for(browser, lambda d: text(d, "notice") == "Xin chào NV-07 — đã đăng nhập")


HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>&amp;'


def test_markup_in_a_scanned_name_is_shown_as_text(rig, browser, people):
    browser.get(rig.url)
    rig.kiosk.on_code(TUBE)
    sample_id = rig.kiosk.state.tube.sample_id
    # Straight into the store: the parsers refuse such names, the display must not rely on that.
    rig.store.add_person(sample_id, "k-hostile", wire.Person("personal-qr", "0010930<b>17", HOSTILE,
                                                             "1987-01-18"), "2021-08-20T09:00:00+07:00")
    rig.hub.signal("accepted", HOSTILE, "1/3")
    wait_for(browser, lambda d: text(d, "last-name") == HOSTILE)
    rig.hub.signal("duplicate", "x", HOSTILE)
    wait_for(browser, lambda d: d.find_element(By.ID, "last").get_attribute("data-kind") == "duplicate")
    assert text(browser, "last-name") == HOSTILE
    assert browser.find_element(By.CSS_SELECTOR, "#slots li.filled .who").text == HOSTILE
    time.sleep(0.3)
    assert browser.execute_script("return window.__pwned === undefined")
    assert not browser.find_elements(By.CSS_SELECTOR, "main img:not(#preview), main script")
    shoot(browser, "10-hostile-name")


def test_live_replay_with_preview(rig, browser, tmp_path):
    """A replayed camera session, paced like a camera: the page follows it and shows the preview."""
    session = write_session(tmp_path / "frames", people=4, pool_size=3, seed=7)
    rig.kiosk.state = replace(rig.kiosk.state, staff_id="NV01", staff_name="Lê Thị Hoa")
    browser.get(rig.url)
    source = ReplaySource(str(tmp_path / "frames"), fps=20)
    runner = threading.Thread(target=rig.kiosk.run, args=(source,), daemon=True)
    runner.start()
    wait_for(browser, lambda d: d.execute_script(
        "const i = document.getElementById('preview'); return i.complete && i.naturalWidth > 0"), 10)
    names = {p.full_name for _, persons in session.tubes for p in persons}
    wait_for(browser, lambda d: text(d, "last-name") in names, 10)
    shoot(browser, "11-live-preview")
    runner.join(timeout=30)
    wait_for(browser, lambda d: text(d, "today-people") == str(session.people)
             and text(d, "today-tubes") == str(len(session.tubes)), 5)
