"""The Mosquitto ACL a clinic's broker needs, made from the rooms file and the device profiles
(`arcroom broker acl`), so that it cannot drift from the lights it must let through.

A broker drops a publish its ACL refuses without telling the sender, so a missing rule shows
only as a light that never answers. Each light gets exactly what its profile uses:

- the service writes its command (and report request) topics and reads its state and
  availability topics;
- the device reads and writes under its own part of the topic tree (`<its topic>/#`: firmware
  subscribes with wildcards and publishes more than Arcroom reads) and logs in as `<room>-<light>`,
  unless its profile names a `bridge` account that every light of the family shares
  (Zigbee2MQTT, which owns its whole prefix);
- Home Assistant reads the service's topics and writes only its command topics; each room gets
  a wall-button account that may write only that room's panic topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.domain.profiles import Profile
from app.domain.rooms import Light, Room
from app.mqtt import topics

_PLACEHOLDERS = ("{topic}", "{node}")
HA_COMMANDS = (topics.PANIC, topics.PANIC_CLEAR, topics.SESSION, topics.SCENE, topics.VOLUME, topics.MUSIC, topics.TALK)


@dataclass
class Account:
    name: str
    about: str
    rules: dict[str, set[str]] = field(default_factory=dict)  # topic filter -> {"read", "write"}

    def allow(self, access: str, topic_filter: str) -> None:
        self.rules.setdefault(topic_filter, set()).update({"read", "write"} if access == "readwrite" else {access})

    def lines(self) -> list[str]:
        out = [f"# {self.about}", f"user {self.name}"]
        for topic_filter in sorted(self.rules):
            access = self.rules[topic_filter]
            out.append(f"topic {'readwrite' if len(access) == 2 else next(iter(access))} {topic_filter}")
        return out


def device_account(room: Room, light: Light, profile: Profile) -> str:
    """The broker account a light's device logs in with."""
    return profile.bridge or f"{room.id}-{light.name}"


def own_part(profile: Profile, template: str, topic: str) -> str:
    """The device's own part of the tree a topic lies in: `cmnd/{topic}/Backlog` -> `cmnd/lamp/#`."""
    end = max((template.find(p) + len(p) for p in _PLACEHOLDERS if p in template), default=len(template))
    return f"{profile.render(template[:end], topic)}/#"


def mosquitto_acl(
    rooms: Iterable[Room],
    profiles: Mapping[str, Profile],
    *,
    service: str = "arcroom",
    home_assistant: str | None = "homeassistant",
    wall_buttons: bool = True,
) -> str:
    rooms = list(rooms)
    arcroom = Account(service, "Arcroom: its own topics, Home Assistant discovery, and each light's topics")
    arcroom.allow("readwrite", f"{topics.ROOT}/#")
    arcroom.allow("readwrite", f"{topics.DISCOVERY_PREFIX}/#")
    accounts: dict[str, Account] = {}
    for room in rooms:
        for light in room.lights:
            profile = profiles[light.profile]
            _light_rules(arcroom, accounts, room, light, profile)
    blocks = [arcroom]
    if home_assistant:
        ha = Account(home_assistant, "Home Assistant: reads Arcroom, writes only its command topics and its own")
        ha.allow("read", f"{topics.ROOT}/#")
        for command in HA_COMMANDS:
            ha.allow("write", command)
        ha.allow("readwrite", topics.PANIC_FALLBACK)
        ha.allow("readwrite", f"{topics.DISCOVERY_PREFIX}/#")
        # Its panic fallback (deploy/home-assistant/) drives the lights itself while Arcroom is down.
        for room in rooms:
            for light in room.lights:
                profile = profiles[light.profile]
                for topic in _commands(profile, light):
                    ha.allow("write", topic)
                for topic in _reports(profile, light):
                    ha.allow("read", topic)
                if profile.bridge:  # its integration reads the bridge's own topics too
                    ha.allow("readwrite", f"{profile.render(profile.command.topic, light.topic).split('/', 1)[0]}/#")
        blocks.append(ha)
    if wall_buttons:
        for room in rooms:
            button = Account(
                f"wallbutton-{room.id}", f"A wall button in {room.name}: that room's panic and nothing else"
            )
            button.allow("write", topics.for_room(topics.PANIC, room.id))
            blocks.append(button)
    blocks += [accounts[name] for name in sorted(accounts)]
    header = [
        "# Mosquitto ACL for Arcroom, made by `arcroom broker acl` from the rooms file and the device",
        "# profiles: make it again whenever a light is added or moved. mosquitto.conf: acl_file, with",
        "# password_file and allow_anonymous false; one account per `user` below (mosquitto_passwd).",
    ]
    return "\n\n".join("\n".join(block) for block in [header, *(a.lines() for a in blocks)]) + "\n"


def _light_rules(arcroom: Account, accounts: dict[str, Account], room: Room, light: Light, profile: Profile) -> None:
    name = device_account(room, light, profile)
    command = profile.command
    for topic in _commands(profile, light):
        arcroom.allow("write", topic)
    for topic in _reports(profile, light):
        arcroom.allow("read", topic)
    if profile.bridge:
        bridge = accounts.setdefault(
            name, Account(name, f"{profile.name}: the bridge every light of this family goes through")
        )
        bridge.allow("readwrite", f"{profile.render(command.topic, light.topic).split('/', 1)[0]}/#")
        return
    device = accounts.setdefault(name, Account(name, f"{room.name}, light {light.name} ({profile.name})"))
    for template in profile.command_templates():
        device.allow("read", own_part(profile, template, light.topic))
    for template in profile.report_templates():
        device.allow("write", own_part(profile, template, light.topic))
    if command.encoding == "jsonrpc":  # its answers go to "<src>/rpc"
        device.allow("write", f"{command.rpc_source}/rpc")


def _commands(profile: Profile, light: Light) -> list[str]:
    return [profile.render(t, light.topic) for t in profile.command_templates()]


def _reports(profile: Profile, light: Light) -> list[str]:
    return [profile.render(t, light.topic) for t in profile.report_templates()]
