"""Rooms, their lights and their audio output, as read from the rooms file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["ceiling", "lamp", "accent"]
_ID = r"^[a-z0-9][a-z0-9_-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Light(_Strict):
    name: str = Field(pattern=_ID, max_length=40)
    profile: str = Field(min_length=1, description="A file stem in device_profiles/")
    topic: str = Field(min_length=1, description="The device's id or base topic, as its profile expects")
    role: Role
    # Run a virtual device for this light inside the service (demo rooms, no hardware).
    simulated: bool = False


class Snapcast(_Strict):
    """A room whose music is a Snapcast stream: Arcroom feeds the stream and steers the room's players."""

    host: str = Field(default="127.0.0.1", min_length=1, description="The snapserver's address")
    control_port: int = Field(default=1705, ge=1, le=65535, description="Its JSON-RPC control port (TCP)")
    stream: str = Field(pattern=_ID, max_length=40, description="The snapserver stream's name (?name=...)")
    source: str = Field(
        description="The stream's input as snapserver has it: tcp://HOST:PORT (mode=server) or pipe:///PATH"
    )
    clients: tuple[str, ...] = Field(min_length=1, description="The Snapcast client ids (--hostID) in the room")

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value.startswith("pipe:///") and len(value) > len("pipe:///"):
            return value
        if value.startswith("tcp://"):
            host, _, port = value.removeprefix("tcp://").split("?")[0].rpartition(":")
            if host and port.isdigit() and 0 < int(port) < 65536:
                return value
        raise ValueError("source must be tcp://HOST:PORT (the stream's tcp source in server mode) or pipe:///PATH")


class AudioOutput(_Strict):
    """Where a room's music plays: default, pulse, alsa, dummy, afile:<path> (a WAV file), or snapcast."""

    output: str = "default"
    device: str | None = Field(default=None, description="Sink or ALSA device name, if not the default")
    volume_ceiling_pct: int = Field(default=80, ge=1, le=100)
    volume_pct: int = Field(default=60, ge=0, le=100, description="Starting volume (kept under the ceiling)")
    snapcast: Snapcast | None = Field(default=None, description="With output: snapcast, the stream and its players")

    @field_validator("output")
    @classmethod
    def _known_output(cls, value: str) -> str:
        if value in {"default", "pulse", "alsa", "dummy", "snapcast"}:
            return value
        if value.startswith("afile:") and len(value) > len("afile:"):
            return value
        raise ValueError("output must be default, pulse, alsa, dummy, snapcast or afile:<path>")

    @model_validator(mode="after")
    def _snapcast_named(self) -> AudioOutput:
        if self.output == "snapcast" and self.snapcast is None:
            raise ValueError("output snapcast needs a snapcast: section (host, control_port, stream, source, clients)")
        if self.output != "snapcast" and self.snapcast is not None:
            raise ValueError(f"a snapcast: section is only read with output: snapcast (output is {self.output!r})")
        return self


class Room(_Strict):
    id: str = Field(pattern=_ID, max_length=40)
    name: str = Field(min_length=1)
    lights: tuple[Light, ...] = ()
    audio: AudioOutput = AudioOutput()

    @model_validator(mode="after")
    def _unique_lights(self) -> Room:
        names = [light.name for light in self.lights]
        if len(set(names)) != len(names):
            raise ValueError(f"light names must be unique within a room, got {names}")
        return self


class RoomsFile(_Strict):
    rooms: list[Room] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_rooms(self) -> RoomsFile:
        ids = [room.id for room in self.rooms]
        if len(set(ids)) != len(ids):
            raise ValueError(f"room ids must be unique, got {ids}")
        return self
