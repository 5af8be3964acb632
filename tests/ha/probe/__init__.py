"""A test-only Home Assistant integration: states, devices, event-entity firings and service calls
over unauthenticated HTTP on the loopback address, so the tests need no login flow.

Copied into the test Home Assistant's custom_components/ by tests/ha/harness.py; never shipped."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from homeassistant.components.http import HomeAssistantView
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

DOMAIN = "arcroom_probe"


async def async_setup(hass: HomeAssistant, config: dict[str, Any]) -> bool:
    fired: list[dict[str, Any]] = []
    changes: dict[str, int] = {}  # entity id -> how often its state (the value, not attributes) changed

    def on_state(event: Event) -> None:
        new = event.data.get("new_state")
        old = event.data.get("old_state")
        if new is not None and (old is None or old.state != new.state):
            changes[new.entity_id] = changes.get(new.entity_id, 0) + 1
        if new is not None and new.entity_id.startswith("event.") and new.state not in ("unknown", "unavailable"):
            fired.append({"entity_id": new.entity_id, "at": new.state, **new.attributes})

    hass.bus.async_listen("state_changed", on_state)
    hass.http.register_view(States())
    hass.http.register_view(Devices())
    hass.http.register_view(Fired(fired))
    hass.http.register_view(Changes(changes))
    hass.http.register_view(Call())
    return True


class States(HomeAssistantView):
    url = "/api/arcroom_probe/states"
    name = "api:arcroom_probe:states"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        hass: HomeAssistant = request.app["hass"]
        registry = er.async_get(hass)
        out = {}
        for state in hass.states.async_all():
            entry = registry.async_get(state.entity_id)
            out[state.entity_id] = {
                "state": state.state,
                "attributes": dict(state.attributes),
                "unique_id": entry.unique_id if entry else None,
                "device_id": entry.device_id if entry else None,
                "entity_category": entry.entity_category if entry else None,
                "capabilities": dict(entry.capabilities or {}) if entry else {},
            }
        return self.json(out)


class Devices(HomeAssistantView):
    url = "/api/arcroom_probe/devices"
    name = "api:arcroom_probe:devices"
    requires_auth = False

    async def get(self, request: web.Request) -> web.Response:
        hass: HomeAssistant = request.app["hass"]
        out = []
        for device in dr.async_get(hass).devices.values():
            out.append(
                {
                    "id": device.id,
                    "name": device.name,
                    "identifiers": sorted(list(i) for i in device.identifiers),
                    "via_device_id": device.via_device_id,
                    "area_id": device.area_id,
                    "configuration_url": device.configuration_url,
                    "sw_version": device.sw_version,
                }
            )
        return self.json(out)


class Fired(HomeAssistantView):
    url = "/api/arcroom_probe/fired"
    name = "api:arcroom_probe:fired"
    requires_auth = False

    def __init__(self, fired: list[dict[str, Any]]) -> None:
        self.fired = fired

    async def get(self, request: web.Request) -> web.Response:
        return self.json(self.fired)


class Changes(HomeAssistantView):
    url = "/api/arcroom_probe/changes"
    name = "api:arcroom_probe:changes"
    requires_auth = False

    def __init__(self, changes: dict[str, int]) -> None:
        self.changes = changes

    async def get(self, request: web.Request) -> web.Response:
        return self.json(self.changes)


class Call(HomeAssistantView):
    url = "/api/arcroom_probe/call/{domain}/{service}"
    name = "api:arcroom_probe:call"
    requires_auth = False

    async def post(self, request: web.Request, domain: str, service: str) -> web.Response:
        hass: HomeAssistant = request.app["hass"]
        data = await request.json()
        await hass.services.async_call(domain, service, data, blocking=True)
        return self.json({"ok": True})
