"""Service settings from ARCROOM_* environment variables (and an optional .env file)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The data folders ship with the repository; the service runs from a checkout (make run, Docker).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

Role = Literal["therapist", "observer", "device"]
MIN_TOKEN_LENGTH = 16


class Token(BaseModel):
    name: str = Field(min_length=1, description="Who holds it, for the log: e.g. tablet-room-1")
    role: Role
    token: SecretStr

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"tokens must be at least {MIN_TOKEN_LENGTH} characters")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARCROOM_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    database: Path = PROJECT_ROOT / "var" / "arcroom.db"
    rooms_file: Path = PROJECT_ROOT / "rooms.demo.yaml"
    presets_dir: Path = PROJECT_ROOT / "presets"
    device_profiles_dir: Path = PROJECT_ROOT / "device_profiles"
    playlists_dir: Path = PROJECT_ROOT / "playlists"
    scenes_file: Path = PROJECT_ROOT / "scenes.yaml"
    # The clinic's own music; playlists with `library: clinic` resolve their paths against it.
    music_library: Path | None = None
    # Generated ambient audio for the demo playlists, made at the first start.
    demo_music_dir: Path = PROJECT_ROOT / "var" / "demo-music"

    # An external broker; when unset the service runs an embedded one (see mqtt/broker.py).
    mqtt_url: str | None = None
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_client_id: str = "arcroom"
    embedded_broker_host: str = "127.0.0.1"
    embedded_broker_port: int = Field(default=1883, ge=0, le=65535)

    # Replaces every room's audio output, e.g. "dummy" on a machine without sound.
    audio_output: str | None = None
    # Panic: pause the audio at once (0) or after a fade of at most 300 ms.
    panic_audio_fade_ms: int = Field(default=0, ge=0, le=300)
    # Whether time spent in panic counts towards the phase once it is cleared.
    panic_counts_toward_arc: bool = False

    tokens: list[Token] = Field(default_factory=list)

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            raise ValueError("must look like mqtt://host[:port] or mqtts://host[:port]")
        return value

    @model_validator(mode="after")
    def _open_only_on_loopback(self) -> Settings:
        if not self.tokens and not is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on {self.host} with no access tokens: anyone on the network could "
                "control the room. Set ARCROOM_TOKENS (see README, 'Access') or listen on 127.0.0.1."
            )
        return self


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
