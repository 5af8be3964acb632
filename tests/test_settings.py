"""Settings from ARCROOM_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import DEFAULT_QUICK_NOTES, Settings


def test_tokens_and_broker_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCROOM_HOST", "0.0.0.0")
    monkeypatch.setenv(
        "ARCROOM_TOKENS",
        '[{"name": "tablet-1", "role": "therapist", "token": "a-long-enough-token"},'
        ' {"name": "wall", "role": "device", "token": "another-long-token"}]',
    )
    monkeypatch.setenv("ARCROOM_MQTT_URL", "mqtts://broker.clinic.lan:8883")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert [(t.name, t.role) for t in settings.tokens] == [("tablet-1", "therapist"), ("wall", "device")]
    assert settings.mqtt_url == "mqtts://broker.clinic.lan:8883"
    assert "a-long-enough-token" not in repr(settings)  # secrets stay out of logs


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_open_service_is_allowed_on_loopback(host: str) -> None:
    assert Settings(_env_file=None, host=host).host == host  # type: ignore[call-arg]


def test_open_service_is_refused_elsewhere() -> None:
    with pytest.raises(ValidationError, match=r"refusing to listen on 192\.168\.1\.20"):
        Settings(_env_file=None, host="192.168.1.20")  # type: ignore[call-arg]


def test_a_broker_url_must_be_mqtt() -> None:
    with pytest.raises(ValidationError, match="mqtt://host"):
        Settings(_env_file=None, mqtt_url="http://broker")  # type: ignore[call-arg]


def test_quick_notes_are_the_clinic_s_and_each_is_a_short_line(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).quick_notes == list(DEFAULT_QUICK_NOTES)  # type: ignore[call-arg]
    monkeypatch.setenv("ARCROOM_QUICK_NOTES", '["Blanket added", "  Eyeshades off  "]')
    assert Settings(_env_file=None).quick_notes == ["Blanket added", "Eyeshades off"]  # type: ignore[call-arg]
    monkeypatch.setenv("ARCROOM_QUICK_NOTES", '["Blanket added", ""]')
    with pytest.raises(ValidationError, match=r"quick_notes\.1"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_database_is_a_sqlite_file_or_a_postgresql_server_and_its_password_stays_out_of_the_log(
    tmp_path: Path,
) -> None:
    assert Settings(_env_file=None, database="/var/lib/arcroom/arcroom.db").database_file == Path(  # type: ignore[call-arg]
        "/var/lib/arcroom/arcroom.db"
    )
    url = "postgresql://arcroom:s3cret-pw@db.clinic.lan:5433/arcroom"
    on_server = Settings(_env_file=None, database=url)  # type: ignore[call-arg]
    assert on_server.database_file is None and on_server.database == url
    assert on_server.database_shown() == "postgresql://arcroom:***@db.clinic.lan:5433/arcroom"
    assert "s3cret-pw" in on_server.secret_values()  # the log filter hides it wherever it appears
    secret = tmp_path / "db-password"
    secret.write_text("from-a-file\n")
    from_file = Settings(_env_file=None, database="postgresql://arcroom@db/arcroom", database_password_file=secret)  # type: ignore[call-arg]
    assert from_file.database_secret() == "from-a-file"
    given = Settings(_env_file=None, database="postgresql://arcroom@db/arcroom", database_password="pw-in-env")  # type: ignore[call-arg]
    assert given.database_secret() == "pw-in-env" and "pw-in-env" in given.secret_values()


def test_an_instance_needs_the_shared_record_and_broker_and_names_its_mqtt_client() -> None:
    shared = {"database": "postgresql://arcroom@db.clinic.lan/arcroom", "mqtt_url": "mqtt://broker.clinic.lan"}
    assert Settings(_env_file=None, instance="a", **shared).mqtt_client_id == "arcroom-a"  # type: ignore[arg-type]
    chosen = Settings(_env_file=None, instance="a", mqtt_client_id="room-box", **shared)  # type: ignore[arg-type]
    assert chosen.mqtt_client_id == "room-box"
    with pytest.raises(ValidationError, match=r"ARCROOM_INSTANCE=a .* set ARCROOM_DATABASE to a postgresql:// URL"):
        Settings(_env_file=None, instance="a", mqtt_url="mqtt://broker.clinic.lan")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="ARCROOM_INSTANCE=a: two instances share an external broker"):
        Settings(_env_file=None, instance="a", database=shared["database"])  # type: ignore[call-arg]
