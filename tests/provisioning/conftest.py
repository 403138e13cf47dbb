"""Fixtures of the provisioning tests."""
from __future__ import annotations

import pytest

from tests.provisioning import booted


@pytest.fixture(scope="module")
def booted_link():
    """The network namespace the booted devices of a test module live in (one at a time), with a
    veth pair to the host (removed after)."""
    with booted.Link() as link:
        yield link


@pytest.fixture
def booted_central(tmp_path, booted_link):
    """A reference central server with no device yet, for a booted device to enrol with, listening
    on the host end of the device's link."""
    server = booted.start_central(tmp_path, host=booted_link.host_ip)
    server.link = booted_link
    yield server
    server.stop()
