"""Shared fixtures for the dev server tests: a seeded server per test module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devserver import DevServer

SEED = Path(__file__).resolve().parent.parent / "config" / "devserver-seed.yaml"


@pytest.fixture(name="server")
def server_fixture() -> Iterator[DevServer]:
    srv = DevServer(SEED, ping_interval=0.5).start()
    try:
        yield srv
    finally:
        srv.stop()
