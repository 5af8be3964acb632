"""Device profiles: how one family of lights is spoken to over MQTT, as data.

A profile maps the abstract light state onto a device's topics, keys, scales and units; the
codec (app/lighting/codec.py) reads it. Adding a device family is adding a YAML file.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.domain.light import TemperatureUnit, TransitionUnit

Scalar = str | bool | int


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PowerField(_Strict):
    key: str
    on: Scalar = "ON"
    off: Scalar = "OFF"


class BrightnessField(_Strict):
    key: str
    max: int = Field(gt=0, le=65535, description="Device value for 100 %: 254, 255, 100, ...")
    # WLED reports brightness 0 when off and has no separate power field in that topic.
    zero_means_off: bool = False


class ColorTempField(_Strict):
    key: str
    unit: TemperatureUnit
    min: int = Field(gt=0, description="Lowest value in the device's unit")
    max: int = Field(gt=0)

    @model_validator(mode="after")
    def _range(self) -> ColorTempField:
        if self.max <= self.min:
            raise ValueError("max must be greater than min")
        return self


class RgbField(_Strict):
    key: str
    format: Literal["object", "csv", "hex", "nested_list"]


class TransitionField(_Strict):
    key: str
    unit: TransitionUnit
    max_s: float = Field(gt=0, description="The longest fade the device does natively")
    # Extra fields sent with a native transition / with an instant change (Tasmota's Fade 1 / 0).
    with_transition: dict[str, Scalar] = Field(default_factory=dict)
    without_transition: dict[str, Scalar] = Field(default_factory=dict)
    # Whether an instant change sends `key: 0` (most devices) or leaves the key out.
    send_zero: bool = True


class CommandSpec(_Strict):
    topic: str = Field(description="Template: {topic} is the light's topic, {node} its first path segment")
    encoding: Literal["json", "backlog", "jsonrpc"]
    qos: Literal[0, 1, 2] = 1
    retain: bool = False
    rpc_method: str | None = None
    rpc_params: dict[str, Any] = Field(default_factory=dict, description="Fixed params, e.g. {id: 0}")
    rpc_source: str = "arcroom"
    power: PowerField
    brightness: BrightnessField
    color_temp: ColorTempField | None = None
    rgb: RgbField | None = None
    transition: TransitionField | None = None
    static: dict[str, Scalar] = Field(default_factory=dict, description="Sent with every command")

    @model_validator(mode="after")
    def _rpc(self) -> CommandSpec:
        if self.encoding == "jsonrpc" and not self.rpc_method:
            raise ValueError("encoding jsonrpc needs rpc_method")
        return self


class StateSpec(_Strict):
    topics: list[str] = Field(min_length=1)
    encoding: Literal["json", "plain"]
    path: str | None = Field(default=None, description="Dotted path to the light's object in the JSON")
    match: dict[str, Scalar] = Field(default_factory=dict, description="Only messages with these values")
    power: PowerField | None = None
    brightness: BrightnessField | None = None
    color_temp: ColorTempField | None = None
    request_topic: str | None = Field(default=None, description="Where to ask for a fresh report")
    request_payload: str = ""


class AvailabilitySpec(_Strict):
    topic: str
    encoding: Literal["json", "plain"]
    key: str | None = None
    online: Scalar
    offline: Scalar

    @model_validator(mode="after")
    def _key(self) -> AvailabilitySpec:
        if self.encoding == "json" and not self.key:
            raise ValueError("json availability needs key")
        return self


class Profile(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    topic_is: str = Field(description="What the light's `topic` in the rooms file means for this family")
    docs: str = ""
    simulator: str | None = Field(default=None, description="The virtual device that speaks this dialect")
    bridge: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The broker account every light of this family goes through (a bridge such as Zigbee2MQTT); "
        "without one, each light's device logs in as <room>-<light> (arcroom broker acl)",
    )
    command: CommandSpec
    state: StateSpec | None = None
    availability: AvailabilitySpec | None = None

    @field_validator("command")
    @classmethod
    def _no_retained_backlog(cls, command: CommandSpec) -> CommandSpec:
        # A retained power command replays whenever the device reconnects ("ghost switching").
        if command.encoding == "backlog" and command.retain:
            raise ValueError("backlog (Tasmota) commands must never be retained")
        return command

    def render(self, template: str, topic: str) -> str:
        return template.format(topic=topic, node=topic.split("/", 1)[0])

    def command_templates(self) -> list[str]:
        """The topics the service sends to: commands, and the request for a fresh report."""
        templates = [self.command.topic]
        if self.state is not None and self.state.request_topic:
            templates.append(self.state.request_topic)
        return templates

    def report_templates(self) -> list[str]:
        """The topics the device reports on: its state and its availability."""
        templates = list(self.state.topics) if self.state is not None else []
        if self.availability is not None:
            templates.append(self.availability.topic)
        return templates

    def topics(self, topic: str) -> list[str]:
        """Every topic a light of this profile is commanded, read and watched on."""
        return [self.render(t, topic) for t in self.command_templates() + self.report_templates()]


# MQTT 3.1.1/5: a topic name is UTF-8 of at most 65535 bytes; `+` and `#` are filter wildcards.
MAX_TOPIC_BYTES = 65535


def topic_problem(topic: str) -> str | None:
    """Why `topic` cannot be published or subscribed to as one light's topic, or None."""
    if "+" in topic or "#" in topic:
        return f"{topic!r} contains an MQTT wildcard (+ or #): a light needs its own exact topic"
    if "\x00" in topic:
        return f"{topic!r} contains a NUL character"
    if topic.startswith("/") or topic.endswith("/") or "//" in topic:
        return f"{topic!r} has an empty level (a leading, trailing or double /)"
    if len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
        return f"the topic is longer than MQTT allows ({MAX_TOPIC_BYTES} bytes)"
    return None
