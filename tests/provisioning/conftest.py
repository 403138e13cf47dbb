"""Fixtures of the provisioning tests."""
from __future__ import annotations

import pytest

from tests.provisioning import booted


@pytest.fixture
def booted_central(tmp_path):
    """A reference central server with no device yet, for a booted device to enrol with."""
    server = booted.start_central(tmp_path)
    yield server
    server.stop()
