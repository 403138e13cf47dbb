"""The console in headless Chromium against a real central server: sign in, read the fleet and its
chart, look up a tube and a person, upload a results file, download an export, read the audit log;
screenshots of each page at 1366×768 (and the fleet on a tablet) for docs/central.md."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from central.console.views import AUDIT_PAGE
from central.results import LabResult
from samplepoint import wire
from samplepoint.httpserver import BackgroundServer
from tests.central.console.conftest import PASSWORD
from tests.kiosk.display.display_rig import browser, set_viewport  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "console"
VN = timezone(timedelta(hours=7))
NOW = datetime(2021, 8, 20, 16, 30, tzinfo=VN)
SITES = {"SITE-CL-01": "Trạm Y tế Phường 1, Cao Lãnh", "SITE-CL-02": "Trường THCS Kim Hồng",
         "SITE-SD-01": "Nhà văn hoá Sa Đéc"}
NAMES = ["NGUYỄN VĂN AN", "TRẦN THỊ BÌNH", "LÊ HOÀNG CƯỜNG", "PHẠM THỊ DUNG", "VÕ MINH ĐỨC"]


def person(n: int) -> wire.Person:
    return wire.Person("personal-qr", f"0870{n:08d}", NAMES[n % len(NAMES)], "1990-05-0" + str(n % 9 + 1),
                       "female" if n % 2 else "male", f"09{n:08d}", f"16297938858617{n:04d}")


def populate(db) -> None:
    """Three sites through a sampling day, one device per state, a positive pool."""
    for index, (site, name) in enumerate(SITES.items()):
        db.add_device(f"DEV-{site[5:]}", site, site_name=name)
    n = 0
    for site, per_hour in (("SITE-CL-01", [4, 9, 14, 12, 6, 3, 8, 11, 7]),
                           ("SITE-CL-02", [2, 5, 7, 9, 8, 4, 2, 0, 1]),
                           ("SITE-SD-01", [0, 3, 6, 4, 5, 7, 6, 3, 2])):
        device = f"DEV-{site[5:]}"
        records = []
        for hour, count in enumerate(per_hour, start=7):
            for k in range(count):
                n += 1
                pool = (person(n), person(n + 1000)) if k % 3 == 0 else (person(n),)
                records.append(wire.SampleRecord(
                    record_id=wire.new_record_id(), tube_code=f"DT{n:08d}", pool_size=len(pool),
                    test_type="rt-pcr", sample_type="swab",
                    collected_at=f"2021-08-20T{hour:02d}:{(k * 7) % 60:02d}:00+07:00",
                    site_id=site, device_id=device, staff_id="staff-1", persons=pool,
                    clock_synchronised=True))
        db.ingest(device, [(r, wire.canonical(r.to_json())) for r in records])
    db.add_results([LabResult("DT00000001", "rt-pcr", "positive", NOW - timedelta(hours=6), "LAB-1"),
                    LabResult("DT00000002", "rt-pcr", "negative", NOW - timedelta(hours=6), "LAB-1")])
    beats = {"DEV-CL-01": (20, 0, 1), "DEV-CL-02": (60, 64, 0), "DEV-SD-01": (3 * 3600, 5, 0)}
    for device, (age_s, queue, quarantined) in beats.items():
        seen = NOW - timedelta(seconds=age_s)
        oldest = (seen - timedelta(minutes=40)).isoformat() if queue else None
        db.record_heartbeat(device, json.dumps({
            "queue_depth": queue, "quarantined": quarantined, "oldest_pending_at": oldest,
            "last_scan_at": (seen - timedelta(minutes=2)).isoformat(), "version": "0.1.0",
            "disk_free_bytes": 2 ** 33, "disk_total_bytes": 2 ** 34,
            "sent_at": (seen - timedelta(minutes=7 if device == "DEV-SD-01" else 0)).isoformat()}),
            seen.astimezone(timezone.utc).isoformat(timespec="milliseconds"))
    db.db.execute("UPDATE devices SET last_seen = (SELECT received_at FROM heartbeats h "
                  "WHERE h.device_id = devices.device_id)")


def audit_history(db, entries: int = 70) -> None:
    """The morning's audit log before the test signs in: more than one page of it."""
    start = datetime.now(timezone.utc) - timedelta(minutes=entries + 5)
    kinds = [("cdc", "sign-in", "10.0.0.5"), ("cdc", "sample-lookup", "DT00000012: 1 found"),
             ("cdc", "person-lookup", "qid …7100: valid"), ("lab", "results-upload",
             "ket-qua-sang.csv: {'created': 40}"), ("cdc", "export", "xlsx, columns vi, since all: 148 rows")]
    with db.transaction() as conn:
        conn.executemany("INSERT INTO audit (at, username, action, detail) VALUES (?,?,?,?)", [
            ((start + timedelta(minutes=n)).isoformat(timespec="milliseconds"), *kinds[n % len(kinds)])
            for n in range(entries)])


@pytest.fixture
def server(console):
    populate(console.db)
    audit_history(console.db)
    console.app.extensions["central_clock"] = lambda: NOW.astimezone(timezone.utc)
    running = BackgroundServer(console.app).start()
    running.db = console.db
    # "localhost": browsers send Secure cookies to it over plain HTTP, as they would over HTTPS.
    running.base = f"http://localhost:{running.port}"
    yield running
    running.stop()


def shoot(driver, name: str, width: int = 1366, height: int = 768) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    set_viewport(driver, width, height)
    time.sleep(0.2)
    # Usable at this size: nothing wider than the screen (wide tables scroll inside their card).
    assert driver.execute_script(
        "return document.documentElement.scrollWidth <= innerWidth + 1"), name
    full = driver.execute_script("return document.documentElement.scrollHeight")
    set_viewport(driver, width, max(height, min(full, 2400)))
    time.sleep(0.1)
    driver.save_screenshot(str(ARTIFACTS / f"console-{name}-{width}x{height}.png"))
    set_viewport(driver, width, height)


def wait_for(driver, condition, timeout: float = 10.0):
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(d))


def test_console_in_chromium(server, browser, tmp_path):  # noqa: F811
    driver = browser
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    set_viewport(driver, 1366, 768)

    driver.get(server.base + "/")
    assert "/console/sign-in" in driver.current_url
    shoot(driver, "sign-in")
    driver.find_element(By.ID, "username").send_keys("admin")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "devices"))

    # Fleet: every device, coloured by state, the chart and today's totals.
    rows = {r.get_attribute("data-device"): r.get_attribute("class")
            for r in driver.find_elements(By.CSS_SELECTOR, "#devices tbody tr")}
    assert rows == {"DEV-CL-01": "state-ok", "DEV-CL-02": "state-lagging",
                    "DEV-SD-01": "state-silent"}
    assert len(driver.find_elements(By.CSS_SELECTOR, "#chart svg polyline")) == 3
    assert driver.find_element(By.ID, "total-today").text == "148"
    assert "Lệch 7 phút" in driver.find_element(By.CSS_SELECTOR, '[data-device="DEV-SD-01"]').text
    shoot(driver, "fleet")
    shoot(driver, "fleet", 800, 1280)

    # A tube, then a person (audited).
    driver.get(server.base + "/console/samples?code=DT00000001")
    assert "Dương tính" in driver.find_element(By.CSS_SELECTOR, "article.sample").text
    driver.find_element(By.ID, "value").send_keys(person(1).qid)
    driver.find_element(By.ID, "look-up").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "status"))
    assert "Mẫu gộp dương tính" in driver.find_element(By.ID, "status").text
    shoot(driver, "samples")

    # A lab's results file with two bad rows.
    results = tmp_path / "ket-qua.csv"
    results.write_text("Mã ống,Loại xét nghiệm,Kết quả,Thời gian có kết quả,Phòng xét nghiệm\n"
                       "DT00000003,RT-PCR,Âm tính,20/08/2021 15:00,LAB-1\n"
                       "DT00000004,RT-PCR,Âm tính,20/08/2021 15:05,LAB-1\n"
                       "DT00000005,RT-PCR,chưa rõ,20/08/2021 15:05,LAB-1\n"
                       "DT09999999,RT-PCR,Âm tính,20/08/2021 15:05,LAB-1\n", encoding="utf-8")
    driver.get(server.base + "/console/results")
    driver.find_element(By.ID, "file").send_keys(str(results))
    driver.find_element(By.ID, "upload").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "summary"))
    lines = [r.find_element(By.CSS_SELECTOR, "td").text
             for r in driver.find_elements(By.CSS_SELECTOR, "#problems tbody tr")]
    assert lines == ["4", "5"]
    shoot(driver, "results")

    # Export: the .xlsx arrives and opens with the ID as text.
    driver.get(server.base + "/console/export")
    shoot(driver, "export")
    driver.find_element(By.ID, "download").click()
    wait_for(driver, lambda d: [p for p in downloads.iterdir() if p.suffix == ".xlsx"], 20)
    (xlsx,) = [p for p in downloads.iterdir() if p.suffix == ".xlsx"]
    sheet = openpyxl.load_workbook(xlsx).worksheets[0]
    ids = [row[13].value for row in sheet.iter_rows(min_row=2)]
    people = server.db.db.execute("SELECT COUNT(*) FROM persons").fetchone()[0]
    assert len(ids) == people and person(1).id_number in ids

    driver.get(server.base + "/console/audit")
    actions = [cell.get_attribute("data-action")
               for cell in driver.find_elements(By.CSS_SELECTOR, "#audit td[data-action]")]
    assert actions[:5] == ["export", "results-upload", "person-lookup", "sample-lookup", "sign-in"]
    assert len(actions) == AUDIT_PAGE and not driver.find_elements(By.ID, "audit-newer")
    shoot(driver, "audit")
    # The next page goes on from the last entry shown, and leads back.
    last = driver.find_elements(By.CSS_SELECTOR, "#audit tbody tr")[-1].get_attribute("data-id")
    driver.find_element(By.ID, "audit-older").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "audit-newer"))
    first = driver.find_element(By.CSS_SELECTOR, "#audit tbody tr").get_attribute("data-id")
    assert int(first) < int(last) and not driver.find_elements(By.ID, "audit-older")
    # Only one user's exports.
    Select(driver.find_element(By.ID, "action")).select_by_value("export")
    driver.find_element(By.ID, "user").send_keys("cdc")
    driver.find_element(By.ID, "filter").click()
    wait_for(driver, lambda d: "action=export" in d.current_url)
    cells = driver.find_elements(By.CSS_SELECTOR, "#audit tbody tr")
    assert cells and {tuple(td.text for td in row.find_elements(By.TAG_NAME, "td")[1:3])
                      for row in cells} == {("cdc", "Xuất dữ liệu")}

    # English on request, remembered across pages.
    driver.get(server.base + "/console/?lang=en")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "Devices at the sampling points" in driver.page_source
    shoot(driver, "fleet-english")
    driver.find_element(By.ID, "sign-out").click()
    wait_for(driver, lambda d: "/console/sign-in" in d.current_url)
