"""Service settings from ARCROOM_* environment variables (and an optional .env file)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
# The shipped data files (presets, scenes, device profiles, playlists, demo rooms): package data in
# an installed wheel (pyproject.toml maps them to app/shipped), the repository itself in a checkout.
_PACKAGED = PACKAGE_DIR / "shipped"
IN_CHECKOUT = not _PACKAGED.is_dir() and (PROJECT_ROOT / "pyproject.toml").is_file()
SHIPPED_DIR = PROJECT_ROOT if IN_CHECKOUT else _PACKAGED
# Where an installed service keeps its files unless told otherwise (the systemd unit's
# StateDirectory= and ConfigurationDirectory=); a checkout keeps them in var/ as it always has.
INSTALLED_DATA_DIR = Path("/var/lib/arcroom")
INSTALLED_CONFIG_DIR = Path("/etc/arcroom")

Role = Literal["therapist", "observer", "device"]
MIN_TOKEN_LENGTH = 16
# What facilitators write most often, so it takes one tap (the clinic replaces them: quick_notes).
DEFAULT_QUICK_NOTES = (
    "Resting quietly",
    "Tearful, supported",
    "Water offered",
    "Bathroom break, accompanied",
    "Asked for the music to change",
    "Talking; facilitator listening",
)


def instance_client_id() -> str:
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c in "-_")[:20] or "host"
    return f"arcroom-{host}-{secrets.token_hex(3)}"


# Words of a placeholder copied from a document rather than a token made for the clinic.
_PLACEHOLDER_WORDS = ("change", "example", "placeholder", "random", "xxxx", "your")
MIN_DISTINCT_CHARACTERS = 8
MAKE_ONE = "make one with: arcroom token new --name NAME --role ROLE"


def token_weakness(secret: str) -> str | None:
    """Why `secret` is too weak to stand between the network and a room, or None."""
    if len(secret) < MIN_TOKEN_LENGTH:
        return f"tokens must be at least {MIN_TOKEN_LENGTH} characters ({MAKE_ONE})"
    if not all(33 <= ord(c) < 127 for c in secret):
        return f"a token may hold only printable ASCII characters, without spaces ({MAKE_ONE})"
    lowered = secret.lower()
    if word := next((w for w in _PLACEHOLDER_WORDS if w in lowered), None):
        return f"this token looks like a placeholder (it has {word!r} in it), not one made for the clinic ({MAKE_ONE})"
    if len(set(secret)) < MIN_DISTINCT_CHARACTERS:
        return f"this token has fewer than {MIN_DISTINCT_CHARACTERS} different characters: easy to guess ({MAKE_ONE})"
    return None


class Token(BaseModel):
    name: str = Field(min_length=1, description="Who holds it, for the log: e.g. tablet-room-1")
    role: Role
    token: SecretStr
    rooms: list[str] | None = Field(
        default=None,
        min_length=1,
        description="The rooms it may act in and read (every room when left out); panic is allowed in every room",
    )

    @field_validator("token")
    @classmethod
    def _strong_enough(cls, value: SecretStr) -> SecretStr:
        if (weakness := token_weakness(value.get_secret_value())) is not None:
            raise ValueError(weakness)
        return value


class BrokerUser(BaseModel):
    """An account on the embedded broker (a wall button, Home Assistant, a light), and what it may publish."""

    username: str = Field(min_length=1, max_length=64)
    password: SecretStr
    publish: list[str] = Field(
        default_factory=lambda: ["#"],
        description="Topic filters it may publish to (MQTT wildcards); everything when left out",
    )

    @field_validator("password")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"broker passwords must be at least {MIN_TOKEN_LENGTH} characters")
        return value


def _path_list(value: Any) -> Any:
    """A folder, or several separated by ':' (like PATH), as one environment variable can give them."""
    if isinstance(value, str):
        return [Path(part) for part in value.split(os.pathsep) if part]
    if isinstance(value, Path):
        return [value]
    return value


# Data folders searched in order; a file in a later folder replaces the one of the same name before it.
Folders = Annotated[tuple[Path, ...], NoDecode, BeforeValidator(_path_list)]


def _comma_list(value: Any) -> Any:
    """ "a, b" as one environment variable gives it; a list as code gives it."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


_HOST_NAME = re.compile(r"(\*|(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?)")
_ORIGIN = re.compile(r"https?://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?/?")


def _host_pattern(value: str) -> str:
    value = value.lower()
    if _HOST_NAME.fullmatch(value) or is_ip_address(value.strip("[]")):
        return value.strip("[]")
    raise ValueError(f"{value[:80]!r} is not a host name (give names without a port, e.g. arcroom.clinic.example)")


def _origin(value: str) -> str:
    if _ORIGIN.fullmatch(value.lower()):
        return value.lower().rstrip("/")
    raise ValueError(f"{value[:80]!r} is not an origin like https://arcroom.clinic.example[:port]")


HostList = Annotated[tuple[Annotated[str, AfterValidator(_host_pattern)], ...], NoDecode, BeforeValidator(_comma_list)]
OriginList = Annotated[tuple[Annotated[str, AfterValidator(_origin)], ...], NoDecode, BeforeValidator(_comma_list)]


def default_data_dir() -> Path:
    return PROJECT_ROOT / "var" if IN_CHECKOUT else INSTALLED_DATA_DIR


def default_config_dir() -> Path | None:
    return INSTALLED_CONFIG_DIR if not IN_CHECKOUT and INSTALLED_CONFIG_DIR.is_dir() else None


def _overlaid(folder: str) -> Any:
    """The shipped folder, then the config folder's folder of the same name if there is one."""

    def folders(data: dict[str, Any]) -> tuple[Path, ...]:
        config_dir: Path | None = data.get("config_dir")
        clinic = None if config_dir is None else config_dir / folder
        return (SHIPPED_DIR / folder,) + ((clinic,) if clinic is not None and clinic.is_dir() else ())

    return folders


def _config_file(name: str, shipped: str) -> Any:
    """The config folder's file if there is one, else the shipped one."""

    def path(data: dict[str, Any]) -> Path:
        config_dir: Path | None = data.get("config_dir")
        if config_dir is not None and (config_dir / name).is_file():
            return config_dir / name
        return SHIPPED_DIR / shipped

    return path


def _in_data_dir(name: str) -> Any:
    def path(data: dict[str, Any]) -> Path:
        return Path(data.get("data_dir") or default_data_dir()) / name

    return path


def local_timezone() -> str:
    """This machine's IANA zone name: TZ, else the zone /etc/localtime links to, else /etc/timezone; UTC if none."""
    candidates = [os.environ.get("TZ", "").removeprefix(":")]
    with contextlib.suppress(OSError):
        target = str(Path("/etc/localtime").resolve())
        candidates.append(target.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in target else "")
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    for name in candidates:
        if name and _zone(name) is not None:
            return name
    return "UTC"


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: not a zone key at all (e.g. "../x")
        return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARCROOM_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # The clinic's own files, laid over the shipped ones: presets/, device_profiles/ and playlists/
    # add to (or, file by file, replace) the shipped folders; rooms.yaml and scenes.yaml replace the
    # shipped demo rooms and scenes. The settings below override any of this one by one.
    config_dir: Path | None = Field(default_factory=default_config_dir)
    # What the service writes: the database and the generated demo music.
    data_dir: Path = Field(default_factory=default_data_dir)
    # A SQLite file's path, or a PostgreSQL server's postgresql://user@host[:port]/dbname URL.
    database: Path | str = Field(default_factory=_in_data_dir("arcroom.db"))
    # The PostgreSQL user's password, when not in the URL: given here, or in a file (a secret).
    database_password: SecretStr | None = None
    database_password_file: Path | None = None
    rooms_file: Path = Field(default_factory=_config_file("rooms.yaml", "rooms.demo.yaml"))
    presets_dir: Folders = Field(default_factory=_overlaid("presets"))
    device_profiles_dir: Folders = Field(default_factory=_overlaid("device_profiles"))
    playlists_dir: Folders = Field(default_factory=_overlaid("playlists"))
    scenes_file: Path = Field(default_factory=_config_file("scenes.yaml", "scenes.yaml"))
    # The clinic's own music; playlists with `library: clinic` resolve their paths against it.
    music_library: Path | None = None
    # Preset id -> the playlist its sessions play when none is chosen, as JSON. Without an entry:
    # the first of the clinic's playlists for it whose files are all there, else the demo one.
    default_playlists: dict[str, str] = Field(default_factory=dict)
    # Generated ambient audio for the demo playlists, made at the first start.
    demo_music_dir: Path = Field(default_factory=_in_data_dir("demo-music"))

    # This instance's name, with a standby: two instances on one PostgreSQL record take turns to
    # run the rooms, the database deciding which (app/leadership.py, docs/two-machines.md).
    instance: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=40)

    # An external broker; when unset the service runs an embedded one (see mqtt/broker.py).
    mqtt_url: str | None = None
    # The service's own account. With the embedded broker it is also the account the broker
    # requires of the service (and of the simulated lights, which run inside it).
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    # Unique per running instance by default (arcroom-<host>-<random>): a fixed id shared by two
    # instances on one broker makes each knock the other off, over and over.
    mqtt_client_id: str = Field(default_factory=lambda: instance_client_id(), min_length=1, max_length=64)
    # At start-up, how long to listen for another instance that already runs these rooms on the
    # broker before the lights are told anything (see app/mqtt/instances.py).
    mqtt_claim_wait_ms: int = Field(default=300, ge=0, le=5000)
    embedded_broker_host: str = "127.0.0.1"
    embedded_broker_port: int = Field(default=1883, ge=0, le=65535)
    # More accounts on the embedded broker, as JSON: [{"username", "password", "publish": [filters]}].
    embedded_broker_users: list[BrokerUser] = Field(default_factory=list)
    # The dashboard's address as a browser elsewhere reaches it (Home Assistant's "Visit device"
    # link); by default http://<host>:<port>, with this machine's name for a wildcard host.
    public_url: str | None = None

    # Replaces every room's audio output, e.g. "dummy" on a machine without sound.
    audio_output: str | None = None
    # Panic: pause the audio at once (0) or after a fade of at most 300 ms.
    panic_audio_fade_ms: int = Field(default=0, ge=0, le=300)
    # Whether time spent in panic counts towards the phase once it is cleared.
    panic_counts_toward_arc: bool = False
    # The clinic's time zone (an IANA name, e.g. Europe/Berlin): the dates and times of the reports
    # and of the REMS form (its treatment date is the clinic's date, not UTC's). Default: this machine's.
    timezone: str = Field(default_factory=local_timezone)
    # One-tap notes on the tablet's Notes tab, in the clinic's words (ARCROOM_QUICK_NOTES, a JSON list).
    quick_notes: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]] = Field(
        default_factory=lambda: list(DEFAULT_QUICK_NOTES), max_length=24
    )
    # Data retention (docs/operations.md, "Data retention"): a session's personal data is destroyed this many
    # days after it ended; unset: kept until `arcroom purge`.
    retention_days: float | None = Field(default=None, gt=0, le=36500)

    # Loudness matching (docs/music.md, "Loudness"): every track is turned toward this integrated
    # loudness with its true peak kept under the ceiling, from the measurements of `arcroom library scan`.
    loudness_match: bool = True
    loudness_target_lufs: float = Field(default=-18.0, ge=-40, le=-5)
    loudness_ceiling_dbtp: float = Field(default=-1.0, ge=-20, le=0)
    loudness_max_boost_db: float = Field(default=12.0, ge=0, le=30)
    # The clinic library's loudness cache, when not in the library folder (`library scan --cache`).
    loudness_cache: Path | None = None
    # Talk: the music ducks by talk_duck_db over talk_fade_s, comes back over talk_restore_s,
    # and Talk ends by itself after talk_timeout_s if nobody releases it.
    talk_duck_db: float = Field(default=-12.0, ge=-40, le=-3)
    talk_fade_s: float = Field(default=1.0, ge=0.1, le=10)
    talk_restore_s: float = Field(default=3.0, ge=0.1, le=30)
    talk_timeout_s: float = Field(default=300.0, ge=10, le=3600)

    # --- Access, names and logs (docs/configuration.md, "Access"; docs/architecture.md, "Reliability") ---
    tokens: list[Token] = Field(default_factory=list)
    # The names this service answers to (the Host header), comma-separated; "*.clinic.example" and "*"
    # allowed. Loopback names and addresses always are. Default: loopback only without tokens (a web
    # page cannot rebind its own name onto an open service), any name with tokens.
    allowed_hosts: HostList = ()
    # Origins, besides the service's own, whose pages may send commands: e.g. https://arcroom.clinic.example
    # when a proxy serves the dashboard under a name other than the one this service hears.
    allowed_origins: OriginList = ()
    # text: one line per record; json: one JSON object per line (journald, Loki). Neither shows a secret.
    log_format: Literal["text", "json"] = "text"

    @field_validator("tokens")
    @classmethod
    def _distinct_tokens(cls, value: list[Token]) -> list[Token]:
        seen: dict[str, str] = {}
        for token in value:
            secret = token.token.get_secret_value()
            if secret in seen:
                raise ValueError(f"tokens {seen[secret]!r} and {token.name!r} are the same token; give each its own")
            seen[secret] = token.name
        return value

    def secret_values(self) -> list[str]:
        """What must never appear in a log: every token, the MQTT password and the database's (alone or in
        a URL)."""
        values = [t.token.get_secret_value() for t in self.tokens]
        if self.mqtt_password is not None:
            values.append(self.mqtt_password.get_secret_value())
        if self.mqtt_url and (password := urlsplit(self.mqtt_url).password):
            values += [password, unquote(password)]
        if self.database_file is None and (password := urlsplit(str(self.database)).password):
            values += [password, unquote(password)]
        if self.database_password is not None:
            values.append(self.database_password.get_secret_value())
        return values

    @field_validator("timezone", mode="before")
    @classmethod
    def _empty_is_local(cls, value: Any) -> Any:
        # ARCROOM_TIMEZONE= (e.g. compose's ${TZ:-}) means "not set", as for the other settings.
        return local_timezone() if value == "" else value

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        if _zone(value) is None:
            raise ValueError(
                f"{value[:60]!r} is not an IANA time zone name (e.g. Europe/Berlin, America/New_York, UTC)"
            )
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
            raise ValueError("must look like mqtt://host[:port] or mqtts://host[:port]")
        return value

    @field_validator("database", mode="before")
    @classmethod
    def _database_is_a_file_or_postgres(cls, value: Any) -> Any:
        if isinstance(value, str) and "://" in value:
            # Any other URL would otherwise be taken as a relative path: a SQLite file in a folder "mysql:".
            if not value.startswith(("postgresql://", "postgres://")):
                scheme = value.split("://", 1)[0]
                raise ValueError(
                    f"is a {scheme}:// URL: give a SQLite file's path (/var/lib/arcroom/arcroom.db) or a "
                    "PostgreSQL URL (postgresql://arcroom@db.clinic.lan/arcroom)"
                )
            return value
        return Path(value) if isinstance(value, str) else value

    @property
    def database_file(self) -> Path | None:
        """The SQLite file the record is in; None when it is on a PostgreSQL server."""
        return self.database if isinstance(self.database, Path) else None

    def database_secret(self) -> str | None:
        """The PostgreSQL user's password from ARCROOM_DATABASE_PASSWORD or its file, if either is set."""
        if self.database_password is not None:
            return self.database_password.get_secret_value()
        if self.database_password_file is not None:
            return self.database_password_file.read_text().strip()
        return None

    def database_shown(self) -> str:
        """The database as a log line may show it: a URL without its password."""
        if self.database_file is not None:
            return str(self.database_file)
        parts = urlsplit(str(self.database))
        if parts.password is None:
            return str(self.database)
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()

    @field_validator("public_url")
    @classmethod
    def _public_url_http(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must look like http://host[:port] or https://host[:port]")
        return value.rstrip("/")

    @field_validator("config_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("config_dir")
    @classmethod
    def _config_dir_exists(cls, value: Path | None) -> Path | None:
        # Strict: a mistyped folder would otherwise run the demo rooms instead of the clinic's.
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a folder")
        return value

    @model_validator(mode="after")
    def _open_only_on_loopback(self) -> Settings:
        if not self.tokens and not is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on {self.host} with no access tokens: anyone on the network could "
                "control the room. Set ARCROOM_TOKENS (see docs/configuration.md, 'Access') or listen on 127.0.0.1."
            )
        return self

    @model_validator(mode="after")
    def _instance_named_everywhere(self) -> Settings:
        if self.instance is None:
            return self
        if self.database_file is not None:
            raise ValueError(
                f"ARCROOM_INSTANCE={self.instance} names one of two instances, which share the record on "
                "PostgreSQL: set ARCROOM_DATABASE to a postgresql:// URL (see docs/two-machines.md)"
            )
        if self.mqtt_url is None:
            raise ValueError(
                f"ARCROOM_INSTANCE={self.instance}: two instances share an external broker (the embedded one "
                "stops with its instance): set ARCROOM_MQTT_URL (see docs/two-machines.md)"
            )
        if "mqtt_client_id" not in self.model_fields_set:
            self.mqtt_client_id = f"arcroom-{self.instance}"  # the broker's log and ACLs name it
        return self

    @model_validator(mode="after")
    def _embedded_broker_open_only_on_loopback(self) -> Settings:
        if self.mqtt_url is None and not is_loopback(self.embedded_broker_host) and not self.embedded_broker_auth:
            raise ValueError(
                f"refusing to run the embedded MQTT broker on {self.embedded_broker_host} without authentication: "
                "anyone on the network could trigger a panic or drive a room. Set ARCROOM_MQTT_USERNAME and "
                "ARCROOM_MQTT_PASSWORD (see docs/mqtt.md), or listen on 127.0.0.1."
            )
        if self.mqtt_url is None and self.embedded_broker_users and not self.embedded_broker_auth:
            raise ValueError(
                "ARCROOM_EMBEDDED_BROKER_USERS needs the service's own account as well: set ARCROOM_MQTT_USERNAME "
                "and ARCROOM_MQTT_PASSWORD (see docs/mqtt.md)"
            )
        return self

    @property
    def embedded_broker_auth(self) -> bool:
        """The embedded broker asks for a username and password (the service's own account is set)."""
        return bool(self.mqtt_username and self.mqtt_password and self.mqtt_password.get_secret_value())

    def dashboard_url(self) -> str:
        if self.public_url:
            return self.public_url
        host = self.host
        if host in {"0.0.0.0", "::", ""}:
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def data_folder_problems(settings: Settings) -> list[str]:
    """Create the folders the service writes to; say which cannot be written, and what to do."""
    problems = []
    folders = [settings.demo_music_dir] if settings.database_file is None else [settings.database_file.parent]
    for folder in dict.fromkeys([*folders, settings.demo_music_dir]):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            writable = os.access(folder, os.W_OK)
        except OSError as exc:
            problems.append(f"cannot create {folder}: {exc.strerror or exc}")
            continue
        if not writable:
            problems.append(f"cannot write to {folder}")
    if problems:
        problems.append(
            "set ARCROOM_DATA_DIR to a folder this user may write to, or run Arcroom as the "
            "service (see docs/operations.md, 'Install as a service')"
        )
    return problems
