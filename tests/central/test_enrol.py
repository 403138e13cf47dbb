"""Enrolment against the real central server: good, reused, expired and wrong codes, and a flood."""
from __future__ import annotations

import json
from pathlib import Path
import stat
from datetime import datetime, timedelta, timezone

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from central import enrol as central_enrol
from central.app import create_app
from central.db import CentralDB
from central.rate_limits import SharedRateLimiter
from tests.conftest import write_config
from provisioning.enrol import EnrolError, enrol
from samplepoint import config as config_module
from samplepoint.cli import main as cli_main
from samplepoint.durable import write_atomic


def device(tmp_path, central_url, device_id="DEV-NEW-01", site_id="SITE-TEST"):
    folder = tmp_path / device_id
    folder.mkdir()
    path = write_config(folder, central_url, device={"id": device_id}, site={"id": site_id})
    config = config_module.load(path)
    code_file = folder / "device" / "enrol-code"
    return config, code_file


def put_code(code_file, code):
    write_atomic(code_file, code + "\n", mode=0o600)


def test_good_code_enrols_stores_token_0600_and_forgets_the_code(tmp_path, central):
    code, _ = central_enrol.issue_code(central.db, "campaign-1", uses=2, valid_hours=24, sites=["SITE-TEST"])
    config, code_file = device(tmp_path, central.url)
    boot_copy = tmp_path / "boot-enrol-code"
    put_code(code_file, code)
    boot_copy.write_text(code)
    assert enrol(config, code_file, [boot_copy]) == "enrolled"
    token_file = config.central.token_file
    assert stat.S_IMODE(__import__("os").stat(token_file).st_mode) == 0o600
    assert not code_file.exists() and not boot_copy.exists()
    token = open(token_file).read().strip()
    answer = requests.get(central.url + "/api/v1/device", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.json()["device_id"] == "DEV-NEW-01"
    assert "DEV-NEW-01" in [row["device_id"] for row in central.db.devices()]
    # Running again (service restarted) is a no-op, not a second use of the code.
    put_code(code_file, code)
    assert enrol(config, code_file) == "already enrolled"
    assert not code_file.exists()


def test_reused_code_is_refused_once_its_uses_are_spent(tmp_path, central):
    code, _ = central_enrol.issue_code(central.db, "campaign-1", uses=1, valid_hours=24, sites=["SITE-TEST"])
    first, first_file = device(tmp_path, central.url, "DEV-A")
    second, second_file = device(tmp_path, central.url, "DEV-B")
    put_code(first_file, code)
    put_code(second_file, code)
    assert enrol(first, first_file) == "enrolled"
    with pytest.raises(EnrolError, match="410.*used up"):
        enrol(second, second_file)
    assert second_file.exists(), "a refused code stays so the technician can see it"


def test_expired_code_is_refused(tmp_path, central):
    past = datetime.now(timezone.utc) - timedelta(hours=2)
    code, _ = central_enrol.issue_code(central.db, "old", uses=5, valid_hours=1, now=past, sites=["SITE-TEST"])
    config, code_file = device(tmp_path, central.url)
    put_code(code_file, code)
    with pytest.raises(EnrolError, match="410.*expired"):
        enrol(config, code_file)


@pytest.mark.parametrize("wrong", ["SP-AAAA-BBBB-CCCC", "not a code", "SP-" + "A" * 60])
def test_wrong_code_is_refused(tmp_path, central, wrong):
    central_enrol.issue_code(central.db, "campaign-1", uses=5, valid_hours=24, sites=["SITE-TEST"])
    config, code_file = device(tmp_path, central.url)
    put_code(code_file, wrong)
    with pytest.raises(EnrolError, match="403"):
        enrol(config, code_file)


def test_a_code_cannot_take_over_an_enrolled_device(tmp_path, central):
    code, _ = central_enrol.issue_code(central.db, "campaign-1", uses=5, valid_hours=24, sites=["SITE-TEST"])
    config, code_file = device(tmp_path, central.url, "DEV-TEST-01")      # the fixture's device
    put_code(code_file, code)
    with pytest.raises(EnrolError, match="409"):
        enrol(config, code_file)
    assert central.db.device_for_token(central.token) is not None


def test_a_flood_of_attempts_is_rate_limited_even_for_the_right_code(tmp_path, central):
    code, _ = central_enrol.issue_code(central.db, "campaign-1", uses=5, valid_hours=24, sites=["SITE-TEST"])
    statuses = []
    for n in range(40):
        answer = requests.post(central.url + "/api/v1/enrol", timeout=5,
                               json={"code": f"SP-AAAA-AAAA-{n:04d}"[:17], "device_id": f"X{n}",
                                     "site_id": "S"})
        statuses.append(answer.status_code)
    assert statuses[:10] == [403] * 10
    assert set(statuses[10:]) == {429}
    late = requests.post(central.url + "/api/v1/enrol", timeout=5,
                         json={"code": code, "device_id": "DEV-LATE", "site_id": "S"})
    assert late.status_code == 429 and int(late.headers["Retry-After"]) >= 1
    assert "DEV-LATE" not in [row["device_id"] for row in central.db.devices()]


def test_device_retries_through_rate_limit_then_enrols(tmp_path, central, monkeypatch):
    code, _ = central_enrol.issue_code(central.db, "campaign-1", uses=1, valid_hours=24, sites=["SITE-TEST"])
    clock = [1_000_000.0]
    limiter = SharedRateLimiter(central.db, "enrol", per_client=1, window_s=60, clock=lambda: clock[0])
    monkeypatch.setattr(central_enrol, "_limiter", lambda: limiter)
    limiter.allow("127.0.0.1")            # the window is already spent
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        clock[0] += seconds

    config, code_file = device(tmp_path, central.url)
    put_code(code_file, code)
    assert enrol(config, code_file, retry_for=60, sleep=sleep) == "enrolled"
    assert waits and waits[0] >= 1


def test_codes_are_well_formed_and_normalised():
    code = central_enrol.new_code()
    assert len(code) == 17 and code.startswith("SP-")
    compact = central_enrol.normalise_code(code)
    assert central_enrol.normalise_code(code.lower().replace("-", " ")) == compact
    assert central_enrol.normalise_code("SP-0000-1111-IIII") is None


def test_cli_issues_a_code_that_enrols(tmp_path, capsys):
    db = CentralDB(tmp_path / "central.db")
    assert cli_main(["central", "init", "--db", str(db.path)]) == 0
    assert cli_main(["central", "enrol-code", "--db", str(db.path), "--campaign", "c", "--uses", "3",
                     "--site", "S1"]) == 0
    code = capsys.readouterr().out.strip()
    client = create_app(db).test_client()
    answer = client.post("/api/v1/enrol", json={"code": code, "device_id": "D1", "site_id": "S1"})
    assert answer.status_code == 201 and answer.get_json()["token"]
    assert cli_main(["central", "enrol-code", "--db", str(db.path), "--campaign", "c", "--uses", "0",
                     "--site", "S1"]) == 2


@settings(max_examples=150, deadline=None)
@given(body=st.one_of(st.binary(max_size=300),
                      st.dictionaries(st.sampled_from(["code", "device_id", "site_id", "x"]),
                                      st.one_of(st.text(max_size=80), st.integers(), st.none(),
                                                st.lists(st.integers(), max_size=3)), max_size=4)))
def test_hostile_enrol_bodies_never_crash(tmp_path_factory, body):
    app = create_app(CentralDB(tmp_path_factory.mktemp("c") / "c.db"))
    app.extensions["enrol_limiter"] = SharedRateLimiter(app.extensions["central_db"], "enrol",
                                                        per_client=10**6, overall=10**6)
    data = body if isinstance(body, bytes) else json.dumps(body)
    answer = app.test_client().post("/api/v1/enrol", data=data, content_type="application/json")
    assert answer.status_code in (400, 403)
    assert answer.is_json


def test_cli_enrol_with_a_code_on_the_command_line(tmp_path, central, capsys):
    code, _ = central_enrol.issue_code(central.db, "campaign-1", uses=1, valid_hours=24, sites=["SITE-TEST"])
    path = write_config(tmp_path, central.url, device={"id": "DEV-CLI"})
    assert cli_main(["enrol", "--config", str(path), "--code", code]) == 0
    assert capsys.readouterr().out.strip() == "enrolled"
    assert not (tmp_path / "device" / "enrol-code").exists()
    assert cli_main(["enrol", "--config", str(path), "--code", "SP-AAAA-AAAA-AAAA"]) == 0
    assert capsys.readouterr().out.strip() == "already enrolled"
    other = tmp_path / "other"
    other.mkdir()
    path = write_config(other, central.url, device={"id": "DEV-CLI-2"})
    assert cli_main(["enrol", "--config", str(path), "--code", code]) == 1
    assert "used up" in capsys.readouterr().err


def test_unreachable_central_is_a_temporary_failure(tmp_path, capsys):
    path = write_config(tmp_path, "http://127.0.0.1:9", device={"id": "DEV-OFF"})
    assert cli_main(["enrol", "--config", str(path), "--code", "SP-ABCD-EFGH-JKLM"]) == 75
    assert "check the uplink" in capsys.readouterr().err
    assert (tmp_path / "device" / "enrol-code").exists(), "the code is kept for the retry"


def test_a_boot_copy_already_gone_is_not_reported_on_a_read_only_boot_partition(tmp_path, caplog,
                                                                                 monkeypatch):
    """First boot moved the code off the card; the enrol unit sees /boot/firmware read-only, where
    unlink says EROFS whether or not the file exists (seen on the virtual Pi's FAT partition)."""
    import errno
    import logging

    from provisioning import enrol
    present = tmp_path / "present-code"
    present.write_text("SP-ABCD")
    real_unlink = Path.unlink

    def read_only_unlink(self, missing_ok=False):
        if self.parent == tmp_path / "boot":
            raise OSError(errno.EROFS, "Read-only file system")
        return real_unlink(self, missing_ok)
    monkeypatch.setattr(Path, "unlink", read_only_unlink)
    with caplog.at_level(logging.INFO, logger="provisioning.enrol"):
        enrol._forget([present, tmp_path / "boot" / "enrol-code"])
    assert not present.exists()
    assert "delete it by hand" not in caplog.text
