"""`arcroom check`: what an installer would otherwise learn from a room that stays dark or silent.

Each check gives one line per problem, naming the setting or the file to fix. The settings and
the data files are read as `arcroom serve` reads them (a broken one stops here, as it stops the
service); then the settings against the files, the music against the library, and what the
clinic's broker lets the service do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from app.catalog import Catalog
from app.domain.playlists import default_candidates
from app.mqtt import topics
from app.mqtt.link import LOGIN_SETTINGS, BrokerAddress
from app.music.availability import availability
from app.runtime import library_folders
from app.settings import Settings

BROKER_WAIT_S = 5.0


def settings_against_files(settings: Settings, catalog: Catalog) -> list[str]:
    """Settings that name something the data files do not have (also refused by `arcroom serve`)."""
    problems = [
        f"ARCROOM_TOKENS: token {t.name!r} is for room {room!r}, which {settings.rooms_file} does not have "
        f"(rooms: {', '.join(catalog.rooms)})"
        for t in settings.tokens
        for room in t.rooms or ()
        if room not in catalog.rooms
    ]
    for preset_id, playlist_id in settings.default_playlists.items():
        playlist = catalog.playlists.get(playlist_id)
        if preset_id not in catalog.presets:
            problems.append(
                f"ARCROOM_DEFAULT_PLAYLISTS: no preset {preset_id!r} (presets: {', '.join(catalog.presets)})"
            )
        elif playlist is None:
            problems.append(f"ARCROOM_DEFAULT_PLAYLISTS: no playlist {playlist_id!r} for preset {preset_id!r}")
        elif preset_id not in playlist.presets:
            problems.append(
                f"ARCROOM_DEFAULT_PLAYLISTS: playlist {playlist_id!r} is not made for preset {preset_id!r} "
                f"(it suits: {', '.join(playlist.presets)})"
            )
    return problems


def music_problems(settings: Settings, catalog: Catalog) -> list[str]:
    """The library missing, and each preset's default playlist whose files are not all there."""
    problems = []
    library = settings.music_library
    if library is not None and not library.is_dir():
        problems.append(f"ARCROOM_MUSIC_LIBRARY: {library} is not a folder on this machine")
    libraries = library_folders(settings)
    for preset_id in catalog.presets:
        configured = settings.default_playlists.get(preset_id)
        if configured in catalog.playlists:
            found = availability(catalog.playlists[configured], libraries)
            if not found.complete:
                problems.append(f"ARCROOM_DEFAULT_PLAYLISTS: preset {preset_id!r}: {found.describe()}")
            continue
        for candidate in default_candidates(preset_id, catalog.playlists, libraries.keys()):
            if candidate.library == "demo":
                continue  # generated at the first start
            found = availability(candidate, libraries)
            if not found.complete:
                problems.append(f"preset {preset_id!r}: not its default, {found.describe()}")
    return problems


@dataclass
class _Acks:
    """PUBACKs by message id: an MQTT 5 broker says "Not authorized" where its ACL refuses."""

    codes: dict[int, ReasonCode] = field(default_factory=dict)
    arrived: threading.Condition = field(default_factory=threading.Condition)


def broker_problems(address: BrokerAddress, catalog: Catalog) -> list[str]:
    """Log in as the service and send an empty message (which devices ignore) to every topic the
    service commands: a broker refuses a publish silently to MQTT 3 clients, but tells MQTT 5 ones."""
    acks = _Acks()
    connected: list[ReasonCode] = []
    ready = threading.Event()

    def on_connect(client: mqtt.Client, userdata: object, flags: object, code: ReasonCode, props: object) -> None:
        connected.append(code)
        ready.set()

    def on_publish(client: mqtt.Client, userdata: object, mid: int, code: ReasonCode, props: object) -> None:
        with acks.arrived:
            acks.codes[mid] = code
            acks.arrived.notify_all()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="arcroom-check", protocol=mqtt.MQTTv5)
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set()
    client.on_connect, client.on_publish = on_connect, on_publish
    try:
        client.connect(address.host, address.port, keepalive=10)
    except OSError as exc:
        return [f"ARCROOM_MQTT_URL: cannot reach the broker {address}: {exc}"]
    client.loop_start()
    try:
        if not ready.wait(BROKER_WAIT_S):
            return [f"ARCROOM_MQTT_URL: the broker {address} did not answer within {BROKER_WAIT_S:.0f} s"]
        if connected[0].is_failure:
            refused = f"the broker {address} refused the login of user {address.username!r} ({connected[0]})"
            return [f"{refused}: check {LOGIN_SETTINGS}"]
        return _refused_topics(client, acks, _service_topics(catalog))
    finally:
        client.loop_stop()
        client.disconnect()


def _service_topics(catalog: Catalog) -> list[tuple[str, str]]:
    """(what, topic) for each topic the service publishes to, one per kind under arcroom/."""
    out = [
        ("the service's own topics", f"{topics.ROOT}/check"),
        ("Home Assistant discovery", f"{topics.DISCOVERY_PREFIX}/{topics.ROOT}/check"),
    ]
    for room in catalog.rooms.values():
        for light in room.lights:
            profile = catalog.profiles[light.profile]
            what = f"room {room.id}: light {light.name!r}"
            out += [(what, profile.render(t, light.topic)) for t in profile.command_templates()]
    return out


def _refused_topics(client: mqtt.Client, acks: _Acks, targets: Iterable[tuple[str, str]]) -> list[str]:
    sent = {client.publish(topic, b"", qos=1).mid: (what, topic) for what, topic in targets}
    with acks.arrived:
        acks.arrived.wait_for(lambda: sent.keys() <= acks.codes.keys(), BROKER_WAIT_S)
    problems = []
    for mid, (what, topic) in sent.items():
        code = acks.codes.get(mid)
        if code is None:
            problems.append(f"{what}: the broker did not acknowledge a message on {topic}")
        elif code.is_failure:
            problems.append(
                f"{what}: the broker refuses the service's messages on {topic} ({code}): "
                "make its ACL with `arcroom broker acl`"
            )
    return problems
