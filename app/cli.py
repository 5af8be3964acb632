"""The `arcroom` command: serve, presets, simulate, playlists check, library scan, backup, restore, export, health."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import socket
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError

from app.backup import BackupError
from app.catalog import describe_folders, load_playlists, load_presets
from app.config_files import ConfigFileError
from app.domain.clock import ManualClock
from app.domain.errors import DomainError
from app.domain.loudness import LoudnessTarget
from app.domain.presets import Preset
from app.domain.report import clock_offset
from app.domain.rooms import Room
from app.engine import Notice, SessionEngine
from app.settings import Settings, Token, data_folder_problems, token_weakness
from app.store import SqliteStore
from app.stores import open_store


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="arcroom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service (settings from ARCROOM_* variables)")
    serve.add_argument("--host", help="overrides ARCROOM_HOST")
    serve.add_argument("--port", type=int, help="overrides ARCROOM_PORT")
    serve.add_argument("--log-level", default="info")

    sub.add_parser("presets", help="list the substance presets as a table")

    sim = sub.add_parser("simulate", help="print the timeline of phases and cues for a preset")
    sim.add_argument("preset")
    sim.add_argument(
        "--booster-at", metavar="H:MM", type=_hours_minutes, help="give the booster this long after the first dose"
    )
    sim.add_argument(
        "--extend",
        metavar="PHASE=MIN",
        action="append",
        default=[],
        type=_phase_minutes,
        help="extend a phase by MIN minutes when it begins (repeatable)",
    )

    playlists = sub.add_parser("playlists", help="playlists: check their files against a music library")
    playlists_sub = playlists.add_subparsers(dest="playlists_command", required=True)
    check = playlists_sub.add_parser(
        "check", help="missing or unreadable files, declared vs probed lengths, each segment's total against its phase"
    )
    check.add_argument("playlist", nargs="*", help="the playlists to check (default: every one)")
    check.add_argument("--library", type=Path, help="the clinic's music library (default: ARCROOM_MUSIC_LIBRARY)")
    check.add_argument("--no-probe", action="store_true", help="do not open the files with libVLC to measure them")
    check.add_argument("--no-loudness", action="store_true", help="do not report the tracks' loudness")
    _loudness_options(check)

    library = sub.add_parser("library", help="the clinic's music library: loudness")
    library_sub = library.add_subparsers(dest="library_command", required=True)
    scan = library_sub.add_parser(
        "scan",
        help="measure every audio file's loudness (EBU R128) into the cache; "
        "files measured before and unchanged are not measured again",
    )
    scan.add_argument("--library", type=Path, help="the music library (default: ARCROOM_MUSIC_LIBRARY)")
    scan.add_argument(
        "--replaygain",
        action="store_true",
        help="where a file has ReplayGain 2.0 tags, use them instead of measuring it",
    )
    scan.add_argument("--list", action="store_true", help="print every file's loudness and gain")
    _loudness_options(scan)

    backup = sub.add_parser("backup", help="copy the database while the service runs (SQLite online backup)")
    backup.add_argument(
        "dest", help="a new file, or a folder to put arcroom-<UTC time>.db in (ending in /: created if need be)"
    )
    db = sub.add_parser("db", help="the record's database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    copy = db_sub.add_parser(
        "copy",
        help="copy the whole record to an empty database and check it event for event (e.g. a SQLite file to "
        "PostgreSQL); stop the service first",
    )
    copy.add_argument("source", help="a SQLite file's path or a postgresql:// URL (password: in the URL or PGPASSWORD)")
    copy.add_argument("target", help="the same, empty")
    db_sub.add_parser(
        "upgrade",
        help="apply the schema migrations the database lacks (the service also does at start-up), and say which",
    )
    restore = sub.add_parser("restore", help="replace the database with a backup; refused while the service runs")
    restore.add_argument("src", type=Path, help="a file made by `arcroom backup`")
    export = sub.add_parser("export", help="a session's events (JSON) and report (JSON, CSV) as files")
    export.add_argument("session", help="the session id")
    export.add_argument("dir", type=Path, help="the folder to write them to (created if needed)")
    purge = sub.add_parser("purge", help="destroy finished sessions' personal data (client label, notes, readings)")
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("session", nargs="?", help="one finished session's id")
    which.add_argument("--older-than", type=float, metavar="DAYS", help="every session that ended this long ago")
    health = sub.add_parser("health", help="exit 0 if the service on this machine answers /api/health")
    health.add_argument("--port", type=int, help="overrides ARCROOM_PORT")
    health.add_argument("--timeout", type=float, default=4.0, metavar="S")

    devices = sub.add_parser(
        "simulate-lights",
        help="run every light of a rooms file as a simulated device with its own broker account, until Ctrl-C",
    )
    devices.add_argument("rooms_file", nargs="?", type=Path, help="default: ARCROOM_ROOMS_FILE")
    devices.add_argument("--broker", help="mqtt://host[:port] (default: ARCROOM_MQTT_URL)")
    devices.add_argument(
        "--passwords", type=Path, help="a file of account:password lines (default: every device anonymous)"
    )

    sub.add_parser(
        "check",
        help="check the settings, data files, music library and broker as the service would use them; "
        "one line per problem, exit 1 if any",
    )

    broker = sub.add_parser("broker", help="the clinic's MQTT broker")
    broker_sub = broker.add_subparsers(dest="broker_command", required=True)
    acl = broker_sub.add_parser(
        "acl", help="print the Mosquitto ACL for the rooms file and device profiles (every light, every account)"
    )
    acl.add_argument(
        "--service-user", help="the service's broker account (default: ARCROOM_MQTT_USERNAME, else arcroom)"
    )
    acl.add_argument("--ha-user", default="homeassistant", help="Home Assistant's account ('' for none)")
    acl.add_argument("--no-wall-buttons", action="store_true", help="no wallbutton-<room> accounts")

    token = sub.add_parser("token", help="tokens for tablets, wall buttons and Home Assistant")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    new_token = token_sub.add_parser("new", help="print a new strong token as an entry for ARCROOM_TOKENS")
    new_token.add_argument("--name", required=True, help="who holds it, for the log: e.g. tablet-room-1")
    new_token.add_argument("--role", required=True, choices=["therapist", "observer", "device"])
    new_token.add_argument("--rooms", help="the rooms it is for, comma-separated (default: every room)")

    args = parser.parse_args(argv)
    if args.command == "token":
        # Before the settings are read: a weak token there is what this command replaces.
        return _new_token(args.name, args.role, args.rooms)
    try:
        settings = Settings(
            **{k: v for k, v in {"host": getattr(args, "host", None), "port": getattr(args, "port", None)}.items() if v}
        )
        if args.command == "serve":
            return _serve(settings, args.log_level)
        if args.command == "purge":
            return _purge(settings, args.session, args.older_than)
        if args.command in {"backup", "restore", "export", "health"}:
            return _data_command(settings, args)
        if args.command == "db" and args.db_command == "copy":
            return _db_copy(args.source, args.target)
        if args.command == "db":
            return _db_upgrade(settings)
        if args.command == "library":
            return _scan_library(settings, args)
        if args.command == "broker":
            return _broker_acl(settings, args)
        if args.command == "check":
            return _check(settings)
        if args.command == "simulate-lights":
            return _simulate_lights(settings, args)
        presets = load_presets(settings.presets_dir)
        if args.command == "playlists":
            return _check_playlists(settings, presets, args)
        if args.command == "presets":
            print(presets_table(presets.values()))
            return 0
        if args.preset not in presets:
            print(f"arcroom: no preset {args.preset!r}; have: {', '.join(sorted(presets))}", file=sys.stderr)
            return 2
        print(asyncio.run(simulate(presets[args.preset], args.booster_at, dict(args.extend))))
        return 0
    except ConfigFileError as exc:
        print(f"arcroom: cannot start, a data file is invalid:\n{exc}", file=sys.stderr)
        return 2
    except (ValidationError, SettingsError) as exc:
        for line in settings_errors(exc):
            print(f"arcroom: invalid setting {line}", file=sys.stderr)
        return 2
    except BackupError as exc:
        print(f"arcroom {args.command}: {exc}", file=sys.stderr)
        return 1
    except DomainError as exc:  # what the API would answer with a 404 or 409
        print(f"arcroom {args.command}: {exc.message}", file=sys.stderr)
        return 2


def _simulate_lights(settings: Settings, args: argparse.Namespace) -> int:
    from app.catalog import load_profiles, load_rooms
    from app.mqtt.link import BrokerAddress
    from app.simulators.devices import read_passwords, run_devices

    url = args.broker or settings.mqtt_url
    if not url:
        print("arcroom simulate-lights: give --broker mqtt://host[:port] (or set ARCROOM_MQTT_URL)", file=sys.stderr)
        return 2
    profiles = load_profiles(settings.device_profiles_dir)
    rooms = load_rooms(args.rooms_file or settings.rooms_file, profiles)
    try:
        passwords = read_passwords(args.passwords) if args.passwords else {}
    except (OSError, ValueError) as exc:
        print(f"arcroom simulate-lights: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the devices leave the broker
        asyncio.run(run_devices(rooms, profiles, BrokerAddress.from_url(url), passwords))
    return 0


def _check(settings: Settings) -> int:
    from app.catalog import Catalog
    from app.checks import broker_problems, music_problems, settings_against_files
    from app.mqtt.link import BrokerAddress

    catalog = Catalog.from_settings(settings)  # a broken file: main() says which, line and field
    problems = settings_against_files(settings, catalog) + music_problems(settings, catalog)
    if settings.mqtt_url:
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        problems += broker_problems(
            BrokerAddress.from_url(settings.mqtt_url, settings.mqtt_username, password), catalog
        )
    for problem in problems:
        print(problem)
    lights = sum(len(room.lights) for room in catalog.rooms.values())
    broker = settings.mqtt_url or "the embedded broker (nothing to check)"
    print(
        f"arcroom check: {len(problems) or 'no'} problem(s); {len(catalog.rooms)} room(s), {lights} light(s), "
        f"{len(catalog.playlists)} playlist(s), broker {broker}",
        file=sys.stderr,
    )
    return 1 if problems else 0


def _broker_acl(settings: Settings, args: argparse.Namespace) -> int:
    from app.catalog import load_profiles, load_rooms
    from app.mqtt.acl import mosquitto_acl

    profiles = load_profiles(settings.device_profiles_dir)
    rooms = load_rooms(settings.rooms_file, profiles)
    print(
        mosquitto_acl(
            rooms.values(),
            profiles,
            service=args.service_user or settings.mqtt_username or "arcroom",
            home_assistant=args.ha_user or None,
            wall_buttons=not args.no_wall_buttons,
        ),
        end="",
    )
    return 0


def _new_token(name: str, role: str, rooms: str | None) -> int:
    secret = secrets.token_urlsafe(24)  # 192 bits, 32 characters
    while token_weakness(secret) is not None:  # by chance "your" or "xxxx" in it: about 1 in 20,000
        secret = secrets.token_urlsafe(24)
    entry: dict[str, object] = {"name": name, "role": role, "token": secret}
    if rooms:
        entry["rooms"] = [r.strip() for r in rooms.split(",") if r.strip()]
    try:
        Token.model_validate(entry)
    except ValidationError as exc:
        print(f"arcroom token new: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    print(json.dumps(entry))
    print(
        "arcroom: add this entry to the JSON list in ARCROOM_TOKENS, restart the service, and give the token to "
        f"{name} (the tablet asks for it once)",
        file=sys.stderr,
    )
    return 0


def _port_taken(host: str, port: int) -> str | None:
    """Why the HTTP port cannot be listened on, before anything starts (broker, lights, music)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return (
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (another service? set ARCROOM_PORT or --port)"
            )
    return None


def _purge(settings: Settings, session_id: str | None, older_than_days: float | None) -> int:
    import time

    from app.retention import purge_older_than

    if settings.database_file is not None and not settings.database_file.exists():
        print(f"arcroom purge: no database at {settings.database_file}", file=sys.stderr)
        return 2
    store = open_store(settings.database, settings.database_secret())
    try:
        if older_than_days is not None:
            purged = purge_older_than(store, older_than_days, time.time(), "arcroom purge")
            print(f"purged the personal data of {len(purged)} session(s) that ended over {older_than_days:g} days ago")
            return 0
        assert session_id is not None
        if store.session(session_id) is None:
            print(f"arcroom purge: no session {session_id!r}", file=sys.stderr)
            return 2
        try:
            done = store.purge(session_id, time.time(), "arcroom purge", "arcroom purge")
        except ValueError as exc:
            print(f"arcroom purge: {exc}", file=sys.stderr)
            return 2
        print(f"purged session {session_id}" if done else f"session {session_id} was already purged")
        return 0
    finally:
        store.close()


def _serve(settings: Settings, log_level: str) -> int:
    import uvicorn

    from app import heap
    from app.api.app import create_app
    from app.logs import configure_logging
    from app.service_lock import DatabaseInUse, database_lock

    configure_logging(log_level, settings.log_format, settings.secret_values())
    problems = data_folder_problems(settings)
    if problems:
        print("arcroom: cannot start:\n" + "\n".join(f"  {p}" for p in problems), file=sys.stderr)
        return 2
    logging.getLogger("app.cli").info(
        "data files: presets %s; device profiles %s; playlists %s; scenes %s; rooms %s; database %s",
        describe_folders(settings.presets_dir),
        describe_folders(settings.device_profiles_dir),
        describe_folders(settings.playlists_dir),
        settings.scenes_file,
        settings.rooms_file,
        settings.database_shown(),
    )
    if (problem := _port_taken(settings.host, settings.port)) is not None:
        print(f"arcroom: {problem}", file=sys.stderr)
        return 2
    app = create_app(settings)
    frozen = heap.settle()
    logging.getLogger("app.cli").debug("start-up heap frozen: %d objects", frozen)
    try:
        # Held for as long as the service runs: `arcroom restore` (or a second service) is refused.
        # (On PostgreSQL the server keeps the record whole with several writers: no file to lock.)
        lock = (
            contextlib.nullcontext()
            if settings.database_file is None
            else database_lock(settings.database_file, "arcroom serve")
        )
        with lock:
            # Open event streams (every tablet holds one) would otherwise keep a shutdown waiting for ever.
            uvicorn.run(
                app,
                host=settings.host,
                port=settings.port,
                log_level=log_level,
                log_config=None,
                timeout_graceful_shutdown=3,
            )
    except DatabaseInUse as exc:
        print(f"arcroom: cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


def _db_upgrade(settings: Settings) -> int:
    from app import schema

    database = settings.database_file
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        uri = schema.sqlite_uri(database)
    else:
        uri = schema.postgres_uri(str(settings.database), settings.database_secret())
    try:
        applied = schema.upgrade(uri)
    except Exception as exc:  # noqa: BLE001 - whatever the driver says is what the clinic needs to read
        print(f"arcroom db upgrade: {settings.database_shown()}: {exc}", file=sys.stderr)
        return 1
    shown = settings.database_shown()
    print(f"{shown}: applied {', '.join(applied)}" if applied else f"{shown}: up to date")
    return 0


def _db_copy(source: str, target: str) -> int:
    from app.db_copy import CopyRefused, copy_record
    from app.service_lock import DatabaseInUse, database_lock
    from app.stores import is_postgres_url

    if not is_postgres_url(source) and not Path(source).is_file():
        print(f"arcroom db copy: no database at {source}", file=sys.stderr)
        return 2
    try:
        # A SQLite source is locked as the service locks it: a copy of a record still being written is refused.
        lock = contextlib.nullcontext() if is_postgres_url(source) else database_lock(Path(source), "arcroom db copy")
        with lock:
            source_store, target_store = open_store(source), open_store(target)
            try:
                copied = copy_record(source_store, target_store)
            finally:
                source_store.close()
                target_store.close()
    except (CopyRefused, DatabaseInUse, DomainError) as exc:
        print(f"arcroom db copy: {exc}", file=sys.stderr)
        return 1
    print(
        f"copied {copied.sessions} sessions, {copied.events} events, {copied.keys} keys and {copied.room_events} "
        "room events; every one reads back the same from the target"
    )
    return 0


def _data_command(settings: Settings, args: argparse.Namespace) -> int:
    from app import backup
    from app.health_probe import degraded_because, probe

    database = settings.database_file
    if database is None and args.command == "backup":
        from app.backup_postgres import pg_backup

        dest = Path(args.dest)
        if args.dest.endswith("/"):
            dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        dump = pg_backup(str(settings.database), settings.database_secret(), dest)
        print(
            f"backed up {settings.database_shown()} to {dump.path} with pg_dump: {dump.size_bytes} bytes "
            "(pg_restore reads it into an empty database)"
        )
        return 0
    if database is None and args.command in ("restore", "export"):
        print(
            f"arcroom {args.command}: the record is on a PostgreSQL server ({settings.database_shown()}); this "
            "command works on a SQLite file: restore a dump with pg_restore, read a session with the API "
            "(docs/configuration.md, 'The record on PostgreSQL')",
            file=sys.stderr,
        )
        return 2
    if args.command == "backup":
        dest = Path(args.dest)
        if args.dest.endswith("/"):  # a folder, which Path() would not tell from a file name
            dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        assert database is not None
        copy = backup.backup(database, dest)
        print(
            f"backed up {database} to {copy.path}: {copy.sessions} sessions, {copy.events} events, "
            f"{copy.size_bytes} bytes"
        )
    elif args.command == "restore":
        assert database is not None
        restored = backup.restore(args.src, database)
        if restored.previous is not None:
            print(
                f"kept the replaced database as {restored.previous.path} ({restored.previous.sessions} sessions, "
                f"{restored.previous.events} events)"
            )
        print(
            f"restored {args.src} to {restored.database.path}: {restored.database.sessions} sessions, "
            f"{restored.database.events} events"
        )
    elif args.command == "export":
        assert database is not None
        for path in backup.export_session(database, args.session, args.dir, tz=settings.tz):
            print(path)
    else:
        answered, text = probe(settings.host, settings.port, args.timeout)
        print(text, file=sys.stdout if answered else sys.stderr)
        if not answered:
            return 1
        problems = degraded_because(text)
        for problem in problems:
            print(f"arcroom: degraded: {problem}", file=sys.stderr)
        # Non-zero when degraded: Docker then shows "unhealthy", which someone sees (it restarts nothing).
        return 1 if problems else 0
    return 0


def _check_playlists(settings: Settings, presets: dict[str, Preset], args: argparse.Namespace) -> int:
    import shutil

    from app.music.check import LoudnessCheck, playlist_report
    from app.music.loudness import DEBIAN_PACKAGE, LoudnessCache
    from app.runtime import library_folders

    playlists = load_playlists(settings.playlists_dir)
    if unknown := [name for name in args.playlist if name not in playlists]:
        print(
            f"arcroom: no playlist {', '.join(map(repr, unknown))}; have: {', '.join(sorted(playlists))}",
            file=sys.stderr,
        )
        return 2
    if args.playlist:
        playlists = {name: playlists[name] for name in args.playlist}
    clinic = args.library or settings.music_library
    libraries = library_folders(settings.model_copy(update={"music_library": clinic}))
    demo = [p.id for p in playlists.values() if p.library == "demo"]
    if demo and not any(settings.demo_music_dir.glob("*.wav")):
        # Checking changes nothing: the demo music is made by the service's first start, not here.
        print(
            f"arcroom: the demo playlists ({', '.join(demo)}) are not checked: their music is generated "
            f"at the service's first start, into {settings.demo_music_dir}",
            file=sys.stderr,
        )
        playlists = {k: p for k, p in playlists.items() if p.library != "demo"}
    loudness = None
    if not args.no_loudness:
        if shutil.which("ffmpeg") is None:
            print(
                f"arcroom: ffmpeg is not installed, so loudness is not reported "
                f"(sudo apt-get install {DEBIAN_PACKAGE})",
                file=sys.stderr,
            )
        else:
            caches = {"demo": LoudnessCache.beside(settings.demo_music_dir)}
            if clinic is not None:
                caches["clinic"] = LoudnessCache.beside(clinic, args.cache)
            loudness = LoudnessCheck(caches, _target(args), jobs=args.jobs, progress=True)
    report = playlist_report(playlists, presets, libraries, not args.no_probe, loudness=loudness)
    print(report.text)
    return 1 if report.problems else 0


def _loudness_options(parser: argparse.ArgumentParser) -> None:
    from app.domain.loudness import DEFAULT_CEILING_DBTP, DEFAULT_TARGET_LUFS
    from app.music.loudness import CACHE_NAME

    parser.add_argument(
        "--cache",
        type=Path,
        help=f"the clinic library's loudness cache (default: {CACHE_NAME} "
        "in the library folder; set it if the library is read-only)",
    )
    parser.add_argument(
        "--target-lufs",
        type=float,
        default=DEFAULT_TARGET_LUFS,
        help="the loudness every track is brought to (default: %(default)s LUFS)",
    )
    parser.add_argument(
        "--ceiling-dbtp",
        type=float,
        default=DEFAULT_CEILING_DBTP,
        help="the true peak no track exceeds after its gain (default: %(default)s dBTP)",
    )
    parser.add_argument(
        "--jobs", type=int, default=min(4, os.cpu_count() or 1), help="files measured at once (default: %(default)s)"
    )


def _target(args: argparse.Namespace) -> LoudnessTarget:
    try:
        return LoudnessTarget(target_lufs=args.target_lufs, ceiling_dbtp=args.ceiling_dbtp)
    except ValueError as exc:
        raise SystemExit(f"arcroom: {exc}") from None


def _scan_library(settings: Settings, args: argparse.Namespace) -> int:
    from app.domain.loudness import gain_db
    from app.music.loudness import AnalyserUnavailable, LoudnessCache, describe, scan_library

    library = args.library or settings.music_library
    if library is None:
        print("arcroom: no music library: pass --library DIR or set ARCROOM_MUSIC_LIBRARY", file=sys.stderr)
        return 2
    if not library.is_dir():
        print(f"arcroom: the music library {library} is not a directory", file=sys.stderr)
        return 2
    target = _target(args)
    cache = LoudnessCache.beside(library, args.cache)
    if cache.problem:
        print(f"arcroom: {cache.problem}", file=sys.stderr)
    try:
        result = scan_library(library, cache, jobs=max(1, args.jobs), replaygain=args.replaygain, progress=True)
    except AnalyserUnavailable as exc:
        print(f"arcroom: {exc}", file=sys.stderr)
        return 2
    print(
        f"library {library}: {result.files} audio file(s): {result.measured} analysed now, {result.reused} from "
        f"the cache, {result.from_tags} from ReplayGain tags; {len(result.errors)} could not be measured"
    )
    print(
        f"cache {cache.path}: {len(cache)} file(s)"
        + (f", {result.removed} gone and forgotten" if result.removed else "")
    )
    if args.list:
        width = max((len(rel) for rel in result.loudness), default=0)
        for rel, loudness in sorted(result.loudness.items()):
            print(f"  {rel.ljust(width)}  {describe(loudness, target)}")
    measured = [lo for lo in result.loudness.values() if lo.integrated_lufs > -70]
    if measured:
        before = [lo.integrated_lufs for lo in measured]
        after = [lo.integrated_lufs + gain_db(lo, target) for lo in measured]
        print(
            f"loudness as recorded: {min(before):.1f} .. {max(before):.1f} LUFS "
            f"(spread {max(before) - min(before):.1f} LU)"
        )
        print(
            f"with the gains (target {target.target_lufs:g} LUFS, true peak at most {target.ceiling_dbtp:g} dBTP): "
            f"{min(after):.1f} .. {max(after):.1f} LUFS (spread {max(after) - min(after):.1f} LU)"
        )
    for rel, error in sorted(result.errors.items()):
        print(f"  NOT MEASURED  {rel}: {error}")
    if result.not_saved:
        print(f"arcroom: {result.not_saved}", file=sys.stderr)
        return 1
    return 1 if result.errors else 0


def settings_errors(exc: ValidationError | SettingsError) -> list[str]:
    """One line per bad setting, naming the variable and the part of it, never quoting its value
    (it may be a token): ARCROOM_TOKENS[0].role: Input should be 'therapist', 'observer' or 'device'."""
    if isinstance(exc, SettingsError):
        # pydantic-settings could not decode a variable (ARCROOM_TOKENS is JSON); the cause says why.
        field = re.search(r'field "([^"]+)"', str(exc))
        name = f"ARCROOM_{field.group(1).upper()}" if field else "(unknown)"
        source = " in .env" if "DotEnv" in str(exc) else ""
        cause = exc.__cause__
        if isinstance(cause, json.JSONDecodeError):
            return [f"{name}{source}: not valid JSON ({cause.msg} at character {cause.pos + 1})"]
        return [f"{name}{source}: cannot be read ({type(cause).__name__ if cause else exc})"]
    lines = []
    for error in exc.errors(include_url=False):
        if error["type"] == "default_factory_not_called":  # follows from another error, listed already
            continue
        loc = error["loc"]
        name = f"ARCROOM_{str(loc[0]).upper()}" if loc else "(settings)"
        name += "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
        lines.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
    return lines


def _hours_minutes(text: str) -> float:
    match = re.fullmatch(r"(\d+):([0-5]\d)|(\d+)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not H:MM or minutes")
    if match.group(3):
        return float(match.group(3))
    return int(match.group(1)) * 60 + int(match.group(2))


def _phase_minutes(text: str) -> tuple[str, float]:
    phase, _, minutes = text.partition("=")
    try:
        return phase.strip(), float(minutes)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not PHASE=MINUTES") from None


def _hm(minutes: float) -> str:
    return f"{int(minutes // 60)}:{round(minutes % 60):02d}"


def presets_table(presets: Iterable[Preset]) -> str:
    rows = [("id", "name", "arc", "min. obs.", "booster", "phases")]
    for p in presets:
        rows.append(
            (
                p.id,
                p.name,
                _hm(p.nominal_arc_min),
                _hm(p.min_observation_min),
                "yes" if p.booster else "-",
                " > ".join(ph.name for ph in p.phases),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] for r in rows)


async def simulate(preset: Preset, booster_at_min: float | None = None, extend: dict[str, float] | None = None) -> str:
    """Run the real engine on a manual clock and print what it fires, relative to the dose."""
    extend = dict(extend or {})
    unknown = set(extend) - {p.name for p in preset.phases}
    if unknown:
        raise SystemExit(f"arcroom: preset {preset.id!r} has no phase {', '.join(sorted(unknown))}")
    if booster_at_min is not None:
        booster = preset.booster
        if booster is None:
            raise SystemExit(f"arcroom: preset {preset.id!r} has no booster")
        if not booster.offer_from_min <= booster_at_min <= booster.offer_until_min:
            raise SystemExit(
                f"arcroom: a booster at {_hm(booster_at_min)} is outside the preset's window "
                f"({_hm(booster.offer_from_min)}-{_hm(booster.offer_until_min)} after the first dose)"
            )
    clock = ManualClock(0.0)
    engine = SessionEngine(
        SqliteStore(":memory:"), {preset.id: preset}, {"sim": Room(id="sim", name="simulation")}, clock
    )
    lines = [f"{preset.name} ({preset.id})", f"source: {preset.source}", f"{'time':>6}  what"]
    notices: list[Notice] = []
    engine.listen(notices.append)
    runner = asyncio.create_task(engine.run())
    session = engine.session("sim")
    try:
        session.start(preset.id)
        session.dose()
        booster_pending = booster_at_min is not None
        observed = False
        while True:
            while notices:
                n = notices.pop(0)
                t = clock_offset(n.at).rsplit(":", 1)[0].rjust(6)
                if n.kind == "phase" and n.state.phase != "arrival":
                    length = (
                        "open-ended"
                        if n.state.phase_remaining_s is None
                        else f"{n.state.phase_remaining_s / 60:.0f} min"
                    )
                    lines.append(
                        f"{t}  phase  {n.state.phase:<10} {length:<11} scene {n.state.scene}, music {n.state.music}"
                    )
                    if n.state.phase in extend:
                        minutes = extend.pop(n.state.phase)
                        session.extend(minutes)
                        lines.append(f"{t}  extend {n.state.phase} +{minutes:g} min")
                elif n.kind == "cue":
                    lines.append(f"{t}  cue    {n.detail['id']:<24} {n.detail['label']}")
                elif n.kind == "event" and n.detail.get("type") == "booster_given":
                    assert preset.booster is not None
                    lines.append(
                        f"{t}  booster given: {preset.booster.extends_phase} +{preset.booster.extend_min:g} min"
                    )
            state = session.state()
            assert state is not None and state.min_observation_until is not None
            if not observed and clock.now() >= state.min_observation_until:
                observed = True
                lines.append(f"{_hm(clock.now() / 60):>6}  minimum observation time reached: the session may end")
            if state.phase == "closing" and observed and not booster_pending:
                break
            if booster_pending and booster_at_min is not None and clock.now() >= booster_at_min * 60:
                booster_pending = False
                session.dose(booster=True)
                continue
            step = min(60.0, max(0.0, state.min_observation_until - clock.now()) or 60.0)
            if booster_pending and booster_at_min is not None:
                step = min(step, booster_at_min * 60 - clock.now())
            await clock.advance(step)
    finally:
        runner.cancel()
    return "\n".join(lines)
