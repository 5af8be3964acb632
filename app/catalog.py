"""Load the data files the service runs on: presets, device profiles, scenes and the rooms file."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from app.config_files import ConfigFileError, line_of, load_yaml, validate_document
from app.domain.playlists import Playlist, check_against_presets
from app.domain.presets import Preset
from app.domain.profiles import Profile, topic_problem
from app.domain.rooms import Room, RoomsFile
from app.domain.scenes import Scene, ScenesFile
from app.settings import Settings

M = TypeVar("M", bound=BaseModel)

# One data folder, or several laid over one another (the shipped folder, then the clinic's).
Folders = Path | Sequence[Path]


def _folders(folders: Folders) -> list[Path]:
    return [folders] if isinstance(folders, Path) else list(folders)


def describe_folders(folders: Folders) -> str:
    return " + ".join(str(f) for f in _folders(folders))


def yaml_files(folders: Folders) -> dict[str, Path]:
    """Every `*.yaml` by file name; a file in a later folder replaces the one of the same name before it."""
    files: dict[str, Path] = {}
    for folder in _folders(folders):
        for path in sorted(folder.glob("*.yaml")):
            files[path.name] = path
    return dict(sorted(files.items()))


def _load_folder(folders: Folders, model: type[M], ident: Callable[[M], str], what: str) -> dict[str, M]:
    """Every `*.yaml` in the folders; each file's stem must equal its id. All problems at once."""
    files = list(yaml_files(folders).values())
    last = _folders(folders)[-1]
    if not files:
        raise ConfigFileError(last, [f"{describe_folders(folders)}: no {what} files (*.yaml) found"])
    items: dict[str, M] = {}
    problems: list[str] = []
    for path in files:
        try:
            data = load_yaml(path)
            item = validate_document(path, data, model)
        except ConfigFileError as exc:
            problems.extend(exc.problems)
            continue
        if ident(item) != path.stem:
            problems.append(f"{path}:{line_of(data, ['id'])}: id: must equal the file name {path.stem!r}")
            continue
        items[ident(item)] = item
    if problems:
        raise ConfigFileError(last, problems)
    return items


def load_presets(directory: Folders, scenes: Collection[str] | None = None) -> dict[str, Preset]:
    presets = _load_folder(directory, Preset, lambda p: p.id, "preset")
    if scenes is not None:
        problems = []
        files = yaml_files(directory)
        for preset in presets.values():
            path = files[f"{preset.id}.yaml"]
            for i, phase in enumerate(preset.phases):
                if phase.scene not in scenes:
                    line = line_of(load_yaml(path), ["phases", i, "scene"])
                    problems.append(
                        f"{path}:{line}: phases[{i}].scene: no scene {phase.scene!r} "
                        f"(have: {', '.join(sorted(scenes))})"
                    )
        if problems:
            raise ConfigFileError(_folders(directory)[-1], problems)
    return presets


def load_profiles(directory: Folders) -> dict[str, Profile]:
    return _load_folder(directory, Profile, lambda p: p.id, "device profile")


def load_playlists(directory: Folders) -> dict[str, Playlist]:
    return _load_folder(directory, Playlist, lambda p: p.id, "playlist")


def load_scenes(path: Path) -> dict[str, Scene]:
    return dict(validate_document(path, load_yaml(path), ScenesFile).scenes)


def load_rooms(path: Path, profiles: Mapping[str, Profile]) -> dict[str, Room]:
    """The rooms file; each light must name a known device profile."""
    data = load_yaml(path)
    rooms = validate_document(path, data, RoomsFile)
    problems = []
    for r, room in enumerate(rooms.rooms):
        for i, light in enumerate(room.lights):
            if light.profile in profiles:
                for topic in profiles[light.profile].topics(light.topic):
                    if (problem := topic_problem(topic)) is not None:
                        line = line_of(data, ["rooms", r, "lights", i, "topic"])
                        problems.append(f"{path}:{line}: rooms[{r}].lights[{i}].topic: {problem}")
                        break
            else:
                line = line_of(data, ["rooms", r, "lights", i, "profile"])
                problems.append(
                    f"{path}:{line}: rooms[{r}].lights[{i}].profile: no device profile "
                    f"{light.profile!r} (have: {', '.join(sorted(profiles)) or 'none'})"
                )
    if problems:
        raise ConfigFileError(path, problems)
    return {room.id: room for room in rooms.rooms}


@dataclass(frozen=True)
class Catalog:
    """The validated data the service runs on, loaded once at start-up."""

    presets: dict[str, Preset]
    rooms: dict[str, Room]
    profiles: dict[str, Profile]
    scenes: dict[str, Scene]
    playlists: dict[str, Playlist]

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalog:
        return cls.load(
            settings.presets_dir,
            settings.rooms_file,
            settings.device_profiles_dir,
            settings.scenes_file,
            settings.playlists_dir,
        )

    @classmethod
    def load(
        cls, presets_dir: Folders, rooms_file: Path, profiles_dir: Folders, scenes_file: Path, playlists_dir: Folders
    ) -> Catalog:
        scenes = load_scenes(scenes_file)
        profiles = load_profiles(profiles_dir)
        presets = load_presets(presets_dir, scenes)
        playlists = load_playlists(playlists_dir)
        problems = check_against_presets(playlists, presets)
        if problems:
            where = describe_folders(playlists_dir)
            raise ConfigFileError(_folders(playlists_dir)[-1], [f"{where}: {p}" for p in problems])
        return cls(presets, load_rooms(rooms_file, profiles), profiles, scenes, playlists)
