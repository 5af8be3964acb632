"""Each track's loudness, measured once with ffmpeg's `ebur128` filter and cached beside the library.

Why ffmpeg: one well-kept program decodes everything a clinic's library holds (mp3, m4a/AAC,
FLAC, Ogg Vorbis/Opus, WAV, ...) and its `ebur128` filter is a BS.1770 meter with a true-peak
measurement (4x oversampled). pyloudnorm would need a separate decoder (libsndfile, under
soundfile, reads no AAC) and measures no true peak. ffmpeg runs as a subprocess, one per file,
so a file that crashes a decoder cannot take the service down.

The cache is a JSON file, by default `.arcroom-loudness.json` in the library folder, keyed by
the path relative to the library (as playlists name it) with the file's size and mtime: a
file that changed is measured again, one that did not is never measured twice. A file that
cannot be decoded is cached with its error too. Everything here blocks: call it off the event
loop (`asyncio.to_thread`) in the service.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from tqdm import tqdm

from app.domain.loudness import LoudnessTarget, Source, TrackLoudness, from_replaygain, gain_db
from app.domain.playlists import Playlist

log = logging.getLogger(__name__)

DEBIAN_PACKAGE = "ffmpeg"
CACHE_NAME = ".arcroom-loudness.json"
ANALYSER = "ffmpeg ebur128 (peak=true)"
AUDIO_SUFFIXES = frozenset(
    {
        ".mp3",
        ".m4a",
        ".m4b",
        ".mp4",
        ".aac",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".wav",
        ".aif",
        ".aiff",
        ".wma",
        ".wv",
        ".ape",
    }
)
SAVE_EVERY = 25  # measurements between cache writes, so an interrupted scan keeps most of its work
_SUMMARY = re.compile(
    r"Integrated loudness:\s*I:\s*(?P<i>-?(?:\d+(?:\.\d+)?|inf))\s*LUFS.*?"
    r"True peak:\s*Peak:\s*(?P<tp>-?(?:\d+(?:\.\d+)?|inf))\s*dBFS",
    re.DOTALL,
)

_COMPONENT = re.compile(r"^\[[\w.-]+ @ 0x[0-9a-f]+\] ")

Analyse = Callable[[Path], TrackLoudness]
DEFAULT_TARGET = LoudnessTarget()


class AnalyserUnavailable(RuntimeError):
    """ffmpeg is not installed."""


class LoudnessError(Exception):
    """A file whose loudness could not be measured."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def ffmpeg_path() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        raise AnalyserUnavailable(
            f"ffmpeg is not installed; it measures loudness. Install it with: sudo apt-get install {DEBIAN_PACKAGE}"
        )
    return found


def measure(path: Path, *, ffmpeg: str | None = None, timeout_s: float = 900) -> TrackLoudness:
    """Integrated loudness and true peak of the file's first audio stream (EBU R128 / BS.1770)."""
    # "file:" keeps a name with a colon from being read as a protocol; -nostdin keeps ffmpeg off the terminal.
    cmd = [
        ffmpeg or ffmpeg_path(),
        "-hide_banner",
        "-nostats",
        "-nostdin",
        "-i",
        f"file:{path}",
        "-map",
        "0:a:0",
        "-af",
        "ebur128=peak=true:framelog=verbose",
        "-f",
        "null",
        "-",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise LoudnessError(path, f"ffmpeg took more than {timeout_s:.0f} s") from None
    except FileNotFoundError:
        raise AnalyserUnavailable(
            f"cannot run {cmd[0]}; install ffmpeg: sudo apt-get install {DEBIAN_PACKAGE}"
        ) from None
    match = _SUMMARY.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise LoudnessError(path, _ffmpeg_reason(done.stderr, path))
    return TrackLoudness(float(match["i"]), float(match["tp"]))


def _ffmpeg_reason(stderr: str, path: Path) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if any("matches no streams" in line for line in lines):
        return "no audio stream"
    # The demuxer's or decoder's own complaint ("[flac @ 0x...] ...") says most; ffmpeg's last line is generic.
    own = [_COMPONENT.sub("", line) for line in lines if _COMPONENT.match(line) and "misdetection" not in line]
    about_file = [line.replace(f"file:{path}: ", "") for line in lines if line.startswith(f"file:{path}")]
    reason = (own or about_file or lines or ["no reason given"])[-1]
    return f"ffmpeg cannot decode it ({reason})"


def read_replaygain(path: Path, *, timeout_s: float = 30) -> TrackLoudness | None:
    """The file's ReplayGain track gain and peak from its tags (via ffprobe), if it has both."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise AnalyserUnavailable(f"ffprobe is not installed. Install it with: sudo apt-get install {DEBIAN_PACKAGE}")
    cmd = [ffprobe, "-v", "error", "-show_entries", "format_tags:stream_tags", "-of", "json", f"file:{path}"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s, check=False)
        data = json.loads(done.stdout or "{}")
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return None
    tags: dict[str, str] = {}
    for part in [data.get("format", {}), *data.get("streams", [])]:
        tags.update({str(k).lower(): str(v) for k, v in (part.get("tags") or {}).items()})
    gain = _number(tags.get("replaygain_track_gain"))
    peak = _number(tags.get("replaygain_track_peak"))
    return None if gain is None or peak is None else from_replaygain(gain, peak)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    match = re.match(r"\s*([-+]?\d+(?:\.\d+)?)", text)
    return float(match.group(1)) if match else None


# --- the cache ---


class CacheEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")

    size: int
    mtime_ns: int
    integrated_lufs: float | None = None
    true_peak_dbtp: float | None = None
    source: Source | None = None
    error: str | None = None

    def loudness(self) -> TrackLoudness | None:
        if self.integrated_lufs is None or self.true_peak_dbtp is None or self.source is None:
            return None
        return TrackLoudness(self.integrated_lufs, self.true_peak_dbtp, self.source)


class CacheFile(BaseModel):
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")

    version: Literal[1] = 1
    analyser: str = ANALYSER
    tracks: dict[str, CacheEntry] = {}


class LoudnessCache:
    """The measurements of one library's files, in a JSON file (written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None  # why the file on disk was not used, if it was not
        self._data = CacheFile()
        self._dirty = False
        if path.exists():
            try:
                self._data = CacheFile.model_validate_json(path.read_bytes())
            except (OSError, ValidationError, ValueError) as exc:
                # Only a cache: start again (it is rewritten on save), but say so.
                self.problem = f"{path}: unreadable loudness cache, measuring again ({_first_line(exc)})"
                log.warning(self.problem)
            else:
                if self._data.analyser != ANALYSER:
                    self.problem = f"{path}: made by {self._data.analyser!r}, measuring again with {ANALYSER!r}"
                    self._data = CacheFile()

    @classmethod
    def beside(cls, library: Path, path: Path | None = None) -> LoudnessCache:
        """The cache of a library: `path`, or the default file in the library folder."""
        return cls(path if path is not None else library / CACHE_NAME)

    def __len__(self) -> int:
        return len(self._data.tracks)

    def get(self, rel: str, stat: os.stat_result) -> CacheEntry | None:
        """The entry for a file if it is still the file that was measured (same size and mtime)."""
        entry = self._data.tracks.get(rel)
        if entry is None or entry.size != stat.st_size or entry.mtime_ns != stat.st_mtime_ns:
            return None
        return entry

    def put(self, rel: str, stat: os.stat_result, result: TrackLoudness | str) -> CacheEntry:
        if isinstance(result, str):
            entry = CacheEntry(size=stat.st_size, mtime_ns=stat.st_mtime_ns, error=result)
        else:
            entry = CacheEntry(
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                integrated_lufs=result.integrated_lufs,
                true_peak_dbtp=result.true_peak_dbtp,
                source=result.source,
            )
        self._data.tracks[rel] = entry
        self._dirty = True
        return entry

    def prune(self, keep: Iterable[str]) -> int:
        """Forget files that are gone; returns how many."""
        keep = set(keep)
        gone = [rel for rel in self._data.tracks if rel not in keep]
        for rel in gone:
            del self._data.tracks[rel]
        self._dirty = self._dirty or bool(gone)
        return len(gone)

    def save(self) -> None:
        """Write the file if anything changed (raises OSError if it cannot be written)."""
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            data = self._data.model_copy(update={"tracks": dict(sorted(self._data.tracks.items()))})
            tmp.write_text(data.model_dump_json(indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self._dirty = False


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- scanning ---


@dataclass
class ScanResult:
    """What a scan did, and every file's loudness (or error) by relative path."""

    files: int = 0
    measured: int = 0  # analyser runs
    from_tags: int = 0  # ReplayGain tags read instead
    reused: int = 0  # taken from the cache
    removed: int = 0  # cache entries of files no longer there
    loudness: dict[str, TrackLoudness] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    not_saved: str | None = None  # why the cache could not be written, if it could not


def audio_files(library: Path) -> list[str]:
    """The library's audio files (by suffix), as sorted relative POSIX paths; hidden files and folders skipped."""
    out = []
    for root, dirs, files in os.walk(library):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_SUFFIXES:
                out.append(Path(root, name).relative_to(library).as_posix())
    return sorted(out)


def scan(
    library: Path,
    rels: Iterable[str],
    cache: LoudnessCache,
    *,
    analyse: Analyse = measure,
    jobs: int = 1,
    replaygain: bool = False,
    progress: bool = False,
    prune: bool = False,
) -> ScanResult:
    """Loudness of the given files of a library: from the cache, else from tags (if asked), else measured."""
    result = ScanResult()
    todo: list[tuple[str, os.stat_result]] = []
    rels = list(dict.fromkeys(rels))
    for rel in rels:
        try:
            stat = (library / rel).stat()
        except OSError as exc:
            result.errors[rel] = "missing" if isinstance(exc, FileNotFoundError) else exc.strerror or str(exc)
            continue
        result.files += 1
        entry = cache.get(rel, stat)
        if entry is None:
            todo.append((rel, stat))
            continue
        result.reused += 1
        _record(result, rel, entry)
    if prune:
        result.removed = cache.prune(rels)

    if replaygain:
        untagged = []
        for rel, stat in todo:
            tagged = read_replaygain(library / rel)
            if tagged is None:
                untagged.append((rel, stat))
                continue
            result.from_tags += 1
            _record(result, rel, cache.put(rel, stat, tagged))
        todo = untagged

    bar = tqdm(
        total=len(todo),
        unit="track",
        desc="measuring loudness",
        file=sys.stderr,
        disable=not (progress and todo),
        dynamic_ncols=True,
    )
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(_measure_one, analyse, library / rel): (rel, stat) for rel, stat in todo}
            for n, future in enumerate(as_completed(futures), start=1):
                rel, stat = futures[future]
                result.measured += 1
                _record(result, rel, cache.put(rel, stat, future.result()))
                bar.update(1)
                if n % SAVE_EVERY == 0:
                    result.not_saved = _save(cache)
    finally:
        bar.close()
        result.not_saved = _save(cache)
    return result


def _measure_one(analyse: Analyse, path: Path) -> TrackLoudness | str:
    try:
        return analyse(path)
    except LoudnessError as exc:
        return exc.reason


def _record(result: ScanResult, rel: str, entry: CacheEntry) -> None:
    loudness = entry.loudness()
    if loudness is not None:
        result.loudness[rel] = loudness
    else:
        result.errors[rel] = entry.error or "not measured"


def _save(cache: LoudnessCache) -> str | None:
    try:
        cache.save()
    except OSError as exc:
        return f"cannot write {cache.path}: {exc.strerror or exc} (pass --cache PATH to keep it elsewhere)"
    return None


def scan_library(
    library: Path,
    cache: LoudnessCache,
    *,
    analyse: Analyse = measure,
    jobs: int = 1,
    replaygain: bool = False,
    progress: bool = False,
) -> ScanResult:
    """Every audio file in the library; entries of files that are gone leave the cache."""
    return scan(
        library,
        audio_files(library),
        cache,
        analyse=analyse,
        jobs=jobs,
        replaygain=replaygain,
        progress=progress,
        prune=True,
    )


def playlist_files(playlist: Playlist) -> list[str]:
    """The playlist's local files in order (URLs left out), each once."""
    return list(dict.fromkeys(t.path for seg in playlist.segments.values() for t in seg.tracks if not t.is_url))


def gains_for(
    playlist: Playlist, library: Path, cache: LoudnessCache, target: LoudnessTarget = DEFAULT_TARGET
) -> dict[str, float]:
    """path -> gain_db for `build_plan(gains=...)`: cached measurements only (nothing is measured; a file
    not measured yet, or changed since, plays at 0 dB). A few stat calls: call it off the event loop."""
    out: dict[str, float] = {}
    for rel in playlist_files(playlist):
        try:
            entry = cache.get(rel, (library / rel).stat())
        except OSError:
            continue
        loudness = entry.loudness() if entry is not None else None
        if loudness is not None:
            out[rel] = gain_db(loudness, target)
    return out


def describe(loudness: TrackLoudness, target: LoudnessTarget) -> str:
    """ "-23.1 LUFS  -9.8 dBTP  gain  +5.1 dB -> -18.0 LUFS" (the peak "-inf" for silence)."""
    gain = gain_db(loudness, target)
    peak = "  -inf" if math.isinf(loudness.true_peak_dbtp) else f"{loudness.true_peak_dbtp:6.1f}"
    tag = " (ReplayGain tags)" if loudness.source == "replaygain" else ""
    return (
        f"{loudness.integrated_lufs:6.1f} LUFS {peak} dBTP  gain {gain:+5.1f} dB -> "
        f"{loudness.integrated_lufs + gain:6.1f} LUFS{tag}"
    )


def levels(
    results: Mapping[str, TrackLoudness], rels: Iterable[str], target: LoudnessTarget
) -> tuple[list[float | None], list[float | None]]:
    """Integrated loudness of each file in order, before and after its gain (None: not measured)."""
    before: list[float | None] = []
    after: list[float | None] = []
    for rel in rels:
        loudness = results.get(rel)
        before.append(None if loudness is None else loudness.integrated_lufs)
        after.append(None if loudness is None else loudness.integrated_lufs + gain_db(loudness, target))
    return before, after


class PlaylistGains:
    """The gains a room's plans use: each library's cache, read again whenever its file changes.

    Blocking (the cache file, a stat per track): the director calls it with `asyncio.to_thread`.
    """

    def __init__(
        self,
        libraries: Mapping[str, Path],
        target: LoudnessTarget | None,
        caches: Mapping[str, Path] | None = None,
    ) -> None:
        self._libraries = dict(libraries)
        self._target = target
        self._cache_paths = dict(caches or {})
        self._caches: dict[str, tuple[tuple[int, int] | None, LoudnessCache]] = {}
        self._said: set[str] = set()

    def for_playlist(self, playlist: Playlist) -> dict[str, float]:
        """path -> gain_db for the playlist's measured files ({} without matching or measurements)."""
        library = self._libraries.get(playlist.library)
        if self._target is None or library is None:
            return {}
        cache = self._cache(playlist.library, library)
        gains = gains_for(playlist, library, cache, self._target)
        if not gains and playlist.library not in self._said:
            self._said.add(playlist.library)
            log.info(
                "no loudness measurements for the %r library (%s): its tracks play at 0 dB; "
                "run `arcroom library scan` to match their loudness",
                playlist.library,
                cache.path,
            )
        return gains

    def _cache(self, name: str, library: Path) -> LoudnessCache:
        path = self._cache_paths.get(name) or library / CACHE_NAME
        try:
            st = path.stat()
            key: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        known = self._caches.get(name)
        if known is None or known[0] != key:
            known = (key, LoudnessCache(path))
            self._caches[name] = known
        return known[1]
