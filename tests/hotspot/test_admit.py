"""Policy `open`: the unprivileged portal only records "Done" in the store; the root admit loop turns
the store into nft set edits. Hostile addresses never reach nft and never make a 500."""
from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotspot import admit, firewall
from hotspot.portal.app import create_app
from samplepoint import config as config_module
from samplepoint.store import Store
from tests.conftest import write_config
from tests.hotspot.portal_helpers import BASE, csrf_of

NOW = 1_800_000_000.0


def open_portal(tmp_path, policy="open"):
    path = write_config(tmp_path, scan={"code_key_file": str(tmp_path / "code-key")},
                        hotspot={"policy": policy})
    config = config_module.load(path)
    store = Store(config.db_path)
    return create_app(config, store=store, clock=lambda: NOW).test_client(), store, config


def press_done(client, address):
    env = {"REMOTE_ADDR": address}
    page = client.get("/", base_url=BASE, environ_base=env)
    return client.post("/done", data={"csrf": csrf_of(page.data)}, base_url=BASE, environ_base=env)


def test_done_records_the_phone_for_the_admit_loop(tmp_path):
    client, store, _ = open_portal(tmp_path)
    assert press_done(client, "10.42.0.50").status_code == 200
    assert store.admitted_clients(admit._iso(NOW)) == {"10.42.0.50": admit._iso(NOW + 12 * 3600)}
    assert store.admitted_clients(admit._iso(NOW + 12 * 3600)) == {}      # expired, and deleted


def test_walled_policy_records_nobody(tmp_path):
    client, store, _ = open_portal(tmp_path, "walled")
    assert press_done(client, "10.42.0.50").status_code == 200
    assert store.admitted_clients(admit._iso(NOW)) == {}


@pytest.mark.parametrize("address", ["?", "::1", "fe80::1", "10.42.0.1; flush ruleset", ""])
def test_done_from_a_non_ipv4_client_is_refused_cleanly(tmp_path, address):
    client, store, _ = open_portal(tmp_path)
    response = press_done(client, address)
    assert response.status_code == 400 and b"<html" in response.data.lower()
    assert store.admitted_clients(admit._iso(NOW)) == {}


@given(st.dictionaries(st.text(max_size=40) | st.ip_addresses(v=4).map(str), st.floats(-10, 1e6)),
       st.sets(st.text(max_size=40) | st.ip_addresses(v=4).map(str)))
def test_only_clean_ipv4_addresses_reach_the_nft_script(wanted, present):
    add, remove = firewall.plan(wanted, present)
    for address in [a for a, _ in add] + remove:
        assert firewall.client_address(address) == address
    script = firewall.nft_script(add, remove)
    assert all(line.startswith(("add element", "delete element")) for line in script.splitlines())
    assert not set(a for a, _ in add) & set(remove)


class FakeNft:
    def __init__(self, present=(), fail=False):
        self.present, self.fail, self.scripts = set(present), fail, []

    def present_elements(self):
        return None if self.fail else set(self.present)

    def apply_script(self, script):
        self.scripts.append(script)
        for line in script.splitlines():
            verb, address = line.split()[0], line.split("{ ")[1].split()[0]
            (self.present.add if verb == "add" else self.present.discard)(address)
        return True


def test_sync_adds_new_removes_expired_and_stale(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    store.admit_client("10.42.0.50", admit._iso(NOW + 60))
    store.admit_client("10.42.0.51", admit._iso(NOW - 1))
    nft = FakeNft(present={"10.42.0.99"})          # left from before a restart
    assert admit.sync_once(store, NOW, nft) == 2
    assert nft.present == {"10.42.0.50"}
    assert "10.42.0.50 timeout 60s" in nft.scripts[0]
    assert admit.sync_once(store, NOW, nft) == 0     # nothing to do: no nft call
    assert admit.sync_once(store, NOW + 61, nft) == 1 and nft.present == set()
    assert admit.sync_once(store, NOW, FakeNft(fail=True)) is None


def test_loop_waits_for_the_portal_to_create_the_database(tmp_path):
    config = config_module.load(write_config(tmp_path, hotspot={"policy": "open"}))
    stop, nft = threading.Event(), FakeNft()
    loop = threading.Thread(target=admit.run, args=(config, stop),
                            kwargs={"nft": nft, "clock": lambda: NOW})
    loop.start()
    try:
        stop.wait(0.3)
        assert not config.db_path.exists()          # root must not create it before the portal
        Store(config.db_path).admit_client("10.42.0.60", admit._iso(NOW + 600))
        for _ in range(50):
            if nft.present:
                break
            stop.wait(0.1)
        assert nft.present == {"10.42.0.60"}
    finally:
        stop.set()
        loop.join(5)


def test_walled_policy_loop_exits_at_once(tmp_path):
    config = config_module.load(write_config(tmp_path))
    assert admit.run(config, nft=FakeNft()) == 0
