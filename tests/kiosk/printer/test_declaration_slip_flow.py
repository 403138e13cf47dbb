"""From the portal to the table: a volunteer declares for someone without a phone and presses
"In phiếu"; the kiosk prints the slip; the slip's QR, scanned at the table, adds that person."""
import re

import numpy as np

from tests.hotspot.portal_helpers import BASE, csrf_of, valid_form
from hotspot.portal.app import create_app
from kiosk.decode import make_decoder
from kiosk.feedback import LogFeedback
from kiosk.pipeline import Kiosk
from kiosk.printer import slips
from kiosk.printer.devices import DummyPrinters
from kiosk.printer.table import PrinterService
from samplepoint import config as config_module
from samplepoint.clock import system_clock
from samplepoint.pins import pin_entry
from samplepoint.store import Store
from tests.conftest import write_config


def test_volunteer_slip_prints_and_its_qr_is_sampled_at_the_table(tmp_path):
    path = write_config(tmp_path, scan={"code_key_file": str(tmp_path / "code-key")},
                        portal={"volunteer_pins": [pin_entry("TNV01", "555123")]},
                        printer={"backend": "dummy"})
    config = config_module.load(path)
    store = Store(config.db_path)
    portal = create_app(config, store=store).test_client()       # writes the site key
    page = portal.get("/volunteer", base_url=BASE)
    portal.post("/volunteer", base_url=BASE, data={"csrf": csrf_of(page.data), "volunteer": "TNV01",
                                                   "pin": "555123"})
    done = portal.post("/declare/form", base_url=BASE, data=valid_form(portal, 1, "volunteer"))
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', re.search(
        r'action="/declare/print">(.*?)</form>', done.data.decode(), re.S).group(1)))
    assert portal.post("/declare/print", base_url=BASE, data=form).status_code == 200

    dummy = DummyPrinters()
    service = PrinterService(config, store, connect=dummy)
    sent = []
    submit = service.printer.submit
    service.printer.submit = lambda slip: (sent.append(slip), submit(slip))
    try:
        assert service.take_requests() == 1
        service.printer.close()
    finally:
        service.stop()
    assert len(dummy.printed) == 1 and b"\x1dv0" in dummy.printed[0]
    slip = sent[0]
    assert slip.short_code == form["short_code"] and slip.masked_id.endswith("9317")

    image = slips.render(slip, config.printer.paper_mm)
    image.save(tmp_path / "slip.png")
    symbols = make_decoder().decode(np.asarray(image.convert("L")))
    assert len(symbols) == 1

    kiosk = Kiosk(config, store, make_decoder(), LogFeedback(), system_clock("+07:00"))
    kiosk.on_code(b"DT00000001")
    kiosk.on_code(symbols[0].data)
    kinds = [k for k, _ in kiosk.feedback.history]
    assert kinds[-1] == "accepted", kiosk.feedback.history
    tube = store.open_tube_state()
    [(_, person)] = tube.persons
    assert person.full_name == "Nguyễn Lê Khả Hân" and person.declared_on_behalf
    store.close()
