"""The MQTT settings: an embedded broker on the network only with accounts, and where the dashboard is."""

from __future__ import annotations

import socket

import pytest
from pydantic import ValidationError

from app.settings import Settings


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_an_embedded_broker_on_the_network_needs_the_services_account() -> None:
    with pytest.raises(
        ValidationError, match=r"refusing to run the embedded MQTT broker on 0\.0\.0\.0 without authentication"
    ):
        make(embedded_broker_host="0.0.0.0")
    s = make(embedded_broker_host="0.0.0.0", mqtt_username="arcroom", mqtt_password="service-password-123")
    assert s.embedded_broker_auth
    # With an external broker the embedded one's host does not matter.
    assert make(embedded_broker_host="0.0.0.0", mqtt_url="mqtt://broker.lan").mqtt_url == "mqtt://broker.lan"


def test_broker_accounts_need_the_services_account_and_long_passwords() -> None:
    wall = {"username": "wall", "password": "wall-password-12345", "publish": ["arcroom/one/panic"]}
    with pytest.raises(ValidationError, match="ARCROOM_EMBEDDED_BROKER_USERS needs the service's own account"):
        make(embedded_broker_users=[wall])
    with pytest.raises(ValidationError, match="broker passwords must be at least 16 characters"):
        make(mqtt_username="arcroom", mqtt_password="x" * 20, embedded_broker_users=[{**wall, "password": "short"}])
    s = make(mqtt_username="arcroom", mqtt_password="x" * 20, embedded_broker_users=[wall])
    assert s.embedded_broker_users[0].publish == ["arcroom/one/panic"]
    assert "wall-password" not in repr(s)


def test_broker_accounts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCROOM_MQTT_USERNAME", "arcroom")
    monkeypatch.setenv("ARCROOM_MQTT_PASSWORD", "service-password-123")
    monkeypatch.setenv(
        "ARCROOM_EMBEDDED_BROKER_USERS", '[{"username": "homeassistant", "password": "ha-password-123456"}]'
    )
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert [(u.username, u.publish) for u in s.embedded_broker_users] == [("homeassistant", ["#"])]


def test_the_dashboard_address_for_home_assistant() -> None:
    assert make().dashboard_url() == "http://127.0.0.1:8000"
    assert make(public_url="https://arcroom.clinic.lan/").dashboard_url() == "https://arcroom.clinic.lan"
    wildcard = make(
        host="0.0.0.0", tokens=[{"name": "t", "role": "therapist", "token": "tablet-Therapist-9xQ"}], port=8100
    )
    assert wildcard.dashboard_url() == f"http://{socket.gethostname()}:8100"
    with pytest.raises(ValidationError, match="must look like http://host"):
        make(public_url="arcroom.lan")
