"""A portal app on a temp store, and a valid declaration form to start hostile variations from."""
from __future__ import annotations

import re

from hotspot.portal import divisions
from hotspot.portal.app import create_app
from samplepoint import config as config_module
from samplepoint.store import Store
from tests.conftest import write_config

BASE = "http://10.42.0.1"


def make_portal(tmp_path, clock=None, **portal):
    path = write_config(tmp_path, scan={"code_key_file": str(tmp_path / "code-key")}, portal=portal)
    config = config_module.load(path)
    store = Store(config.db_path)
    app = create_app(config, store=store, **({"clock": clock} if clock else {}))
    return app, store, config


def csrf_of(html: bytes | str) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def valid_form(client, people=1, relation="self") -> dict:
    page = client.get(f"/declare/form?province=1&people={people}&relation={relation}", base_url=BASE)
    form = {"csrf": csrf_of(page.data), "province": "1", "people": str(people), "relation": relation,
            "ward": str(next(iter(divisions.wards(1)))), "street": "12 Hàng Bạc", "consent": "yes"}
    for i in range(people):
        form.update({f"name_{i}": "Nguyễn Lê Khả Hân", f"dob_{i}": "18/01/1987",
                     f"gender_{i}": "female", f"id_kind_{i}": "cccd",
                     f"id_number_{i}": "001187029317", f"phone_{i}": "0944713700" if i == 0 else ""})
    if relation != "self":
        form.update({"declarer_name": "Trần Văn Bình", "declarer_phone": "0912345678"})
    return form
