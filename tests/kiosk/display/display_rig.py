"""Fixtures for the staff display: a kiosk with its display on an ephemeral loopback port, and scans."""
from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

import pytest

from kiosk.codes import format_personal_qr
from kiosk.decode import make_decoder
from kiosk.display import DisplayService, FanOut
from kiosk.feedback import LogFeedback
from kiosk.framegen import fictional_person
from kiosk.pipeline import Kiosk
from samplepoint import config as config_module
from samplepoint.clock import system_clock
from samplepoint.store import Store
from tests.conftest import write_config


@dataclass
class DisplayRig:
    kiosk: Kiosk
    store: Store
    service: DisplayService

    @property
    def url(self) -> str:
        return self.service.url

    @property
    def hub(self):
        return self.service.hub


@pytest.fixture
def people():
    rng = random.Random(4)
    return [fictional_person(rng) for _ in range(12)]


def qr(person) -> bytes:
    return format_personal_qr(person).encode()


@contextlib.contextmanager
def running_rig(tmp_path, adjust=lambda config: config, **sections):
    """Kiosk + store + display service on 127.0.0.1:<ephemeral>, configured by write_config's
    `sections` (then `adjust`, for values a config file may not hold); torn down after."""
    sections.setdefault("display", {"preview_fps": 10.0, "offline_after_s": 60.0})
    config = adjust(config_module.load(write_config(tmp_path, **sections)))
    store = Store(config.db_path)
    clock = system_clock(config.site.utc_offset)
    service = DisplayService(config, store, clock, port=0)
    service.hub.refresh_s = 0.2
    kiosk = Kiosk(config, store, make_decoder(), FanOut(LogFeedback(), service.hub), clock)
    service.attach(kiosk).start()
    try:
        yield DisplayRig(kiosk, store, service)
    finally:
        service.stop()
        store.close()


@pytest.fixture
def rig(tmp_path):
    """The rig with the test configuration: pool size 3, no printer."""
    with running_rig(tmp_path) as started:
        yield started


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path):
    """Debian's headless Chromium through Selenium, with a fresh profile; quit after the test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=800,480"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def set_viewport(driver, width: int, height: int) -> None:
    """Make the page's viewport exactly width×height (the window adds nothing in headless mode)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


class EventReader:
    """Reads the display's SSE stream on a thread, with arrival times; stops when closed."""

    def __init__(self, url: str):
        import socket
        import threading
        import urllib.parse
        parts = urllib.parse.urlsplit(url)
        self.events: list[tuple[float, dict]] = []
        self._closed = False
        self._sock = socket.create_connection((parts.hostname, parts.port), timeout=0.2)
        self._sock.sendall(f"GET /events HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        import json
        import socket
        import time
        buffer = b""
        while not self._closed:
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.startswith(b"data: "):
                    self.events.append((time.monotonic(), json.loads(line[6:])))

    def first(self, predicate, after: float, timeout: float = 3.0):
        """Arrival time of the first event after `after` whose snapshot satisfies predicate."""
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, snapshot in list(self.events):
                if at >= after and predicate(snapshot):
                    return at, snapshot
            time.sleep(0.005)
        raise AssertionError("no such event on the stream")

    def close(self):
        self._closed = True
        self._thread.join(timeout=2)
        self._sock.close()


# --- reading the page (Selenium) ---------------------------------------------------------------

def text(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By
    return driver.find_element(By.ID, element_id).text


def kind(driver) -> str:
    """The outcome kind the result panel shows (accepted, refused, check-valid…)."""
    from selenium.webdriver.common.by import By
    return driver.find_element(By.ID, "last").get_attribute("data-kind")


def wait_for(driver, condition, timeout=5.0):
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, timeout, poll_frequency=0.02).until(lambda d: condition(d))
