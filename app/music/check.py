"""`arcroom playlists check`: are a playlist's files there and readable, do their lengths match what
the playlist declares, does each segment fill its phase, and how loud is each track (before and
after its loudness gain), with the largest jump between neighbours?"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from app.audio.probe import MediaProber, Probe
from app.domain.loudness import LoudnessTarget, largest_jump
from app.domain.music_plan import segment_play_s
from app.domain.playlists import Playlist, format_duration
from app.domain.presets import Preset
from app.music.loudness import Analyse, LoudnessCache, describe, levels, measure, playlist_files, scan

DURATION_TOLERANCE_S = 5.0


@dataclass
class PlaylistReport:
    text: str
    missing: int = 0
    unreadable: int = 0
    duration_mismatches: int = 0
    unchecked: list[str] = field(default_factory=list)  # playlists whose library is not configured
    will_loop: int = 0  # segments shorter than their phase's nominal length, set to loop
    measured: int = 0  # loudness analyser runs
    reused: int = 0  # loudness measurements taken from the cache
    not_saved: list[str] = field(default_factory=list)  # caches that could not be written

    @property
    def problems(self) -> int:
        return self.missing + self.unreadable + self.duration_mismatches


@dataclass
class LoudnessCheck:
    """How `playlists check` gets each track's loudness: a cache per library name, measuring what is missing."""

    caches: Mapping[str, LoudnessCache]
    target: LoudnessTarget = field(default_factory=LoudnessTarget)
    analyse: Analyse = measure
    jobs: int = 1
    progress: bool = False


def check_playlists(
    playlists: Mapping[str, Playlist], presets: Mapping[str, Preset], libraries: Mapping[str, Path], probe: bool
) -> str:
    """The report as text (see `playlist_report`)."""
    return playlist_report(playlists, presets, libraries, probe).text


def playlist_report(
    playlists: Mapping[str, Playlist],
    presets: Mapping[str, Preset],
    libraries: Mapping[str, Path],
    probe: bool,
    *,
    prober: Callable[[], MediaProber] = MediaProber,
    loudness: LoudnessCheck | None = None,
) -> PlaylistReport:
    """Check every playlist's files in its library; with `probe`, read each file's length with libVLC;
    with `loudness`, each track's loudness and gain."""
    report = PlaylistReport(text="")
    lines: list[str] = []
    probe_with = prober() if probe else None
    cache: dict[str, Probe] = {}
    try:
        for playlist in sorted(playlists.values(), key=lambda p: p.id):
            lines.extend(_one(playlist, presets, libraries, probe_with, cache, report))
            if loudness is not None:
                lines.extend(_loudness(playlist, libraries, loudness, report))
            lines.append("")
    finally:
        if probe_with is not None:
            probe_with.close()
    summary = (
        f"{len(playlists)} playlist(s): {report.missing} missing, {report.unreadable} unreadable, "
        f"{report.duration_mismatches} length(s) off by more than {DURATION_TOLERANCE_S:.0f} s"
    )
    if report.unchecked:
        summary += f"; files not checked for {', '.join(report.unchecked)} (library not configured: --library DIR)"
    if not probe:
        summary += "; lengths not probed"
    if report.will_loop:
        summary += f"; {report.will_loop} segment(s) shorter than their phase will loop"
    if loudness is not None:
        summary += f"; loudness: {report.measured} file(s) measured, {report.reused} from the cache"
        summary += "".join(f"; {problem}" for problem in report.not_saved)
    lines.append(summary)
    report.text = "\n".join(lines)
    return report


def _one(
    playlist: Playlist,
    presets: Mapping[str, Preset],
    libraries: Mapping[str, Path],
    prober: MediaProber | None,
    cache: dict[str, Probe],
    report: PlaylistReport,
) -> list[str]:
    tracks = [(name, i, t) for name, seg in playlist.segments.items() for i, t in enumerate(seg.tracks)]
    total = sum(t.duration_s for _, _, t in tracks)
    library = libraries.get(playlist.library)
    lines = [
        f"{playlist.id}: {playlist.title}",
        f"  curator: {playlist.curator}",
        f"  {len(tracks)} tracks, {format_duration(total)} declared; library {playlist.library}: "
        f"{library if library is not None else 'not configured'}",
    ]

    for preset_id in playlist.presets:
        preset = presets.get(preset_id)
        if preset is None:
            lines.append(f"  preset {preset_id}: no such preset")
            continue
        lines.append(f"  segments against preset {preset_id} (nominal phase lengths):")
        for phase in preset.phases:
            seg = playlist.segments.get(phase.music)
            if seg is None:
                lines.append(f"    {phase.name:<10} no segment {phase.music!r}")
                continue
            plays = segment_play_s(playlist, phase.music)
            head = (
                f"    {phase.name:<10} {phase.music:<10} {len(seg.tracks):>3} tracks "
                f"{format_duration(seg.total_s):>8} (plays {format_duration(plays)})"
            )
            if phase.duration_min is None:
                lines.append(f"{head}  phase open-ended: {_overrun(seg.overrun)}")
                continue
            nominal = phase.duration_min * 60
            diff = plays - nominal
            if abs(diff) < 1:
                verdict = "fits"
            elif diff < 0 and seg.overrun == "loop":
                report.will_loop += 1
                verdict = f"WARNING short by {format_duration(-diff)}: it will loop"
            elif diff < 0:
                verdict = f"short by {format_duration(-diff)}: {_overrun(seg.overrun)}"
            else:
                verdict = (
                    f"long by {format_duration(diff)}: "
                    f"{'finishes the sounding track' if seg.on_phase_end == 'finish' else 'crossfades'} "
                    "when the phase ends"
                )
            lines.append(f"{head}  phase {format_duration(nominal):>8}  {verdict}")

    if library is None:
        report.unchecked.append(playlist.id)
        lines.append("  files: not checked (library not configured)")
        return lines
    if not Path(library).is_dir():
        report.missing += len(tracks)
        lines.append(f"  files: the library directory {library} does not exist ({len(tracks)} missing)")
        return lines

    found = 0
    problems: list[str] = []
    for name, i, track in tracks:
        where = f"{name}[{i}] {track.path}"
        if track.is_url:
            problems.append(f"    URL         {where}: not checked")
            continue
        path = str(Path(library) / track.path)
        if prober is None:
            if not Path(path).is_file():
                report.missing += 1
                problems.append(f"    MISSING     {where}")
            else:
                found += 1
            continue
        result = cache.get(path)
        if result is None:
            result = cache[path] = prober.probe(path)
        if result.error == "missing":
            report.missing += 1
            problems.append(f"    MISSING     {where}")
        elif result.duration_s is None:
            report.unreadable += 1
            problems.append(f"    UNREADABLE  {where}: {result.error}")
        else:
            found += 1
            diff = result.duration_s - track.duration_s
            if abs(diff) > DURATION_TOLERANCE_S:
                report.duration_mismatches += 1
                sign = "+" if diff > 0 else "-"
                problems.append(
                    f"    LENGTH      {where}: declared {format_duration(track.duration_s)}, "
                    f"file {format_duration(result.duration_s)} ({sign}{format_duration(abs(diff))})"
                )
    status = f"  files: {found} of {len(tracks)} found"
    lines.append(
        status
        + (
            " and readable, lengths as declared"
            if not problems and prober is not None
            else ""
            if problems
            else " (lengths not probed)"
        )
    )
    lines.extend(problems)
    return lines


def _loudness(
    playlist: Playlist, libraries: Mapping[str, Path], check: LoudnessCheck, report: PlaylistReport
) -> list[str]:
    library = libraries.get(playlist.library)
    cache = check.caches.get(playlist.library)
    if library is None or cache is None or not Path(library).is_dir():
        return []
    rels = playlist_files(playlist)
    result = scan(Path(library), rels, cache, analyse=check.analyse, jobs=check.jobs, progress=check.progress)
    report.measured += result.measured
    report.reused += result.reused
    if result.not_saved is not None:
        report.not_saved.append(result.not_saved)
    target = check.target
    lines = [
        (
            f"  loudness (target {target.target_lufs:g} LUFS, true peak at most {target.ceiling_dbtp:g} dBTP; "
            f"{result.measured} measured now, {result.reused} from {cache.path}):"
        )
    ]
    order: list[tuple[str, str]] = []  # (where, path) in playing order
    for name, seg in playlist.segments.items():
        for i, track in enumerate(seg.tracks):
            if not track.is_url:
                order.append((f"{name}[{i}]", track.path))
    shown = [
        (where, path)
        for where, path in order
        if path in result.loudness or result.errors.get(path, "missing") != "missing"
    ]
    width = max((len(f"{where} {path}") for where, path in shown), default=0)
    for where, path in shown:
        label = f"{where} {path}".ljust(width)
        loudness = result.loudness.get(path)
        if loudness is not None:
            lines.append(f"    {label}  {describe(loudness, target)}")
        elif result.errors.get(path, "missing") != "missing":
            lines.append(f"    {label}  not measured: {result.errors[path]}")
    before, after = levels(result.loudness, [path for _, path in order], target)
    jump_before, jump_after = largest_jump(before), largest_jump(after)
    if jump_before is None or jump_after is None:
        lines.append("  largest jump between neighbours: fewer than two neighbouring tracks measured")
    else:
        lines.append(
            f"  largest jump between neighbours: {jump_before[0]:.1f} LU as recorded "
            f"({_pair(order, jump_before[1])}), {jump_after[0]:.1f} LU with the gains "
            f"({_pair(order, jump_after[1])})"
        )
    return lines


def _pair(order: list[tuple[str, str]], i: int) -> str:
    return f"{order[i][0]} -> {order[i + 1][0]}"


def _overrun(overrun: str) -> str:
    return "loops" if overrun == "loop" else "continues into the next segment"
