"""API tests call the app in-process (its lifespan run, real Mosquitto, SQLite and players):
a real uvicorn adds nothing but start-up time here. Event streams use `live_service`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import Service, serve_in_process


@pytest.fixture
async def service(settings: Settings, clock: ManualClock) -> AsyncIterator[Service]:
    async with serve_in_process(settings, clock) as svc:
        yield svc
