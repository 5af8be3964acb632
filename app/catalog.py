"""Load the data files the service runs on: presets and the rooms file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.config_files import ConfigFileError, line_of, load_model, load_yaml, validate_document
from app.domain.presets import Preset
from app.domain.rooms import Room, RoomsFile


def load_presets(directory: Path) -> dict[str, Preset]:
    """Every `*.yaml` in the folder; the file stem must equal the preset's id."""
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigFileError(directory, [f"{directory}: no preset files (*.yaml) found"])
    presets: dict[str, Preset] = {}
    problems: list[str] = []
    for path in files:
        try:
            data = load_yaml(path)
            preset = validate_document(path, data, Preset)
        except ConfigFileError as exc:
            problems.extend(exc.problems)
            continue
        if preset.id != path.stem:
            problems.append(f"{path}:{line_of(data, ['id'])}: id: must equal the file name {path.stem!r}")
            continue
        presets[preset.id] = preset
    if problems:
        raise ConfigFileError(directory, problems)
    return presets


def load_rooms(path: Path, profiles_dir: Path) -> dict[str, Room]:
    """The rooms file; each light must name a profile that exists in `profiles_dir`."""
    data = load_yaml(path)
    rooms = validate_document(path, data, RoomsFile)
    known = {p.stem for p in profiles_dir.glob("*.yaml")}
    problems = []
    for r, room in enumerate(rooms.rooms):
        for i, light in enumerate(room.lights):
            if light.profile not in known:
                line = line_of(data, ["rooms", r, "lights", i, "profile"])
                problems.append(f"{path}:{line}: rooms[{r}].lights[{i}].profile: no device profile "
                                f"{light.profile!r} in {profiles_dir} (have: {', '.join(sorted(known)) or 'none'})")
    if problems:
        raise ConfigFileError(path, problems)
    return {room.id: room for room in rooms.rooms}


@dataclass(frozen=True)
class Catalog:
    """The validated data the service runs on, loaded once at start-up."""

    presets: dict[str, Preset]
    rooms: dict[str, Room]

    @classmethod
    def load(cls, presets_dir: Path, rooms_file: Path, profiles_dir: Path) -> Catalog:
        return cls(load_presets(presets_dir), load_rooms(rooms_file, profiles_dir))


__all__ = ["Catalog", "load_model", "load_presets", "load_rooms"]
