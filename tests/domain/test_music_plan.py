"""The music plan: rules on small examples, then properties over random arcs and playlists."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.catalog import load_playlists, load_presets
from app.domain.events import Event, EventType
from app.domain.music_plan import (
    END_FADE_S,
    GENTLER_FADE_S,
    RESUME_FADE_S,
    START_FADE_S,
    STEP_MOMENTS,
    MusicPlan,
    PlannedTrack,
    PlaylistChoice,
    build_plan,
    build_session_plan,
    session_plan_steps,
)
from app.domain.playlists import Playlist
from app.domain.presets import Preset
from app.domain.session import PhaseSpan, SessionInfo, replay

ROOT = Path(__file__).resolve().parents[2]
PRESETS = load_presets(ROOT / "presets")
PLAYLISTS = load_playlists(ROOT / "playlists")
MIN = 60.0
EPS = 1e-6


def playlist(
    preset: Preset, segments: dict[str, dict[str, Any]], crossfade_s: float = 8, default: dict[str, Any] | None = None
) -> Playlist:
    """Segments given as {music: {"tracks": [seconds or (seconds, {track options}), ...], ...options}};
    others get `default`."""
    segs = {}
    for phase in preset.phases:
        spec = dict(segments.get(phase.music, default or {"tracks": [100]}))
        lengths = spec.pop("tracks")
        tracks = []
        for i, item in enumerate(lengths):
            seconds, options = item if isinstance(item, tuple) else (item, {})
            tracks.append(
                {
                    "path": f"{phase.music}/{i}.flac",
                    "title": f"{phase.music} {i}",
                    "artist": "A",
                    "duration_s": seconds,
                    **options,
                }
            )
        spec["tracks"] = tracks
        segs[phase.music] = spec
    return Playlist.model_validate(
        {
            "id": "p",
            "title": "P",
            "curator": "C",
            "source": "S",
            "presets": [preset.id],
            "library": "demo",
            "crossfade_s": crossfade_s,
            "segments": segs,
        }
    )


class Session:
    """A session's events, as the engine would record them; times in seconds from 0."""

    def __init__(self, preset_id: str = "ketamine_im") -> None:
        self.info = SessionInfo(id="s", room="r", preset=PRESETS[preset_id])
        self.events = [Event(seq=0, at=0.0, type=EventType.STARTED)]

    def add(self, at: float, type_: EventType, **data: Any) -> Session:
        self.events.append(Event(seq=len(self.events), at=at, type=type_, data=data))
        return self

    def phases(self, now: float) -> list[PhaseSpan]:
        return replay(self.info, self.events, now).phases

    def frozen(self, now: float) -> bool:
        return replay(self.info, self.events, now).frozen


# --- the rules, on examples ---


def test_the_first_track_starts_with_the_arc_and_fades_in() -> None:
    s = Session()
    plan = build_plan(playlist(s.info.preset, {}), s.phases(0), 0)
    first = plan.tracks[0]
    assert (first.segment, first.index, first.start, first.fade_in_s, first.offset_s) == (
        "arrival",
        0,
        0,
        START_FADE_S,
        0,
    )
    assert first.gain(0) == 0 and first.gain(START_FADE_S) == 1


def test_arrival_before_the_dose_loops_up_to_the_horizon() -> None:
    s = Session()
    plan = build_plan(playlist(s.info.preset, {"arrival": {"tracks": [100, 60]}}), s.phases(500), 500, horizon_s=3600)
    assert plan.end == 500 + 3600
    assert {t.segment for t in plan.tracks} == {"arrival"}
    assert [t.index for t in plan.tracks[:5]] == [0, 1, 0, 1, 0]
    assert plan.tracks[-1].start < plan.end <= plan.tracks[-1].end


def test_tracks_crossfade_into_each_other() -> None:
    s = Session()
    plan = build_plan(playlist(s.info.preset, {"arrival": {"tracks": [100, 60], "crossfade_s": 5}}), s.phases(0), 0)
    a, b = plan.tracks[:2]
    assert (a.end, a.fade_out_s) == (100, 5) and (b.start, b.fade_in_s, b.end) == (95, 5, 155)
    assert plan.at(97) == [a, b] and plan.at(94) == [a] and plan.at(100) == [b]
    # Equal power: mid-crossfade both at sin(45 degrees), so the loudness stays.
    assert a.gain(97.5) ** 2 + b.gain(97.5) ** 2 == pytest.approx(1)
    assert plan.next_after(50) == b


def test_fades_are_clamped_to_a_third_of_the_shortest_track() -> None:
    s = Session()
    plan = build_plan(playlist(s.info.preset, {"arrival": {"tracks": [300, 15]}}, crossfade_s=30), s.phases(0), 0)
    assert max(max(t.fade_in_s, t.fade_out_s) for t in plan.tracks) == 5


def test_a_phase_change_crossfades_into_the_new_segment() -> None:
    s = Session().add(130, EventType.DOSE_GIVEN)
    pl = playlist(s.info.preset, {"arrival": {"tracks": [100], "phase_end_crossfade_s": 20}})
    plan = build_plan(pl, s.phases(130), 130)
    old = next(t for t in plan.tracks if t.sounds_at(129.9) and t.segment == "arrival" and t.start > 0)
    new = next(t for t in plan.tracks if t.segment == "onset")
    assert (old.end, old.fade_out_s) == (150, 20) and (new.start, new.fade_in_s, new.index) == (130, 20, 0)


def test_finish_lets_the_sounding_track_end_first() -> None:
    s = Session().add(130, EventType.DOSE_GIVEN)
    pl = playlist(s.info.preset, {"arrival": {"tracks": [100], "on_phase_end": "finish"}})
    plan = build_plan(pl, s.phases(130), 130)
    new = next(t for t in plan.tracks if t.segment == "onset")
    # Arrival loops 0-100, 92-192: the dose at 130 lets that one finish, crossfading at 184.
    assert new.start == 184 and new.index == 0
    assert plan.at(170)[0].segment == "arrival" and len(plan.at(170)) == 1


def test_a_phase_that_ends_during_a_crossfade_changes_when_it_is_over() -> None:
    s = Session().add(94, EventType.DOSE_GIVEN)  # arrival's first crossfade runs 92..100
    pl = playlist(s.info.preset, {"arrival": {"tracks": [100]}})
    plan = build_plan(pl, s.phases(94), 94)
    new = next(t for t in plan.tracks if t.segment == "onset")
    assert new.start == 100
    assert all(len(plan.at(t)) <= 2 for t in range(90, 130))


def test_overrun_loop_plays_the_segment_again() -> None:
    s = Session().add(0, EventType.DOSE_GIVEN)  # onset: 5 min
    plan = build_plan(playlist(s.info.preset, {"onset": {"tracks": [100, 60]}}), s.phases(0), 0)
    assert [t.index for t in plan.tracks if t.segment == "onset"][:4] == [0, 1, 0, 1]


def test_overrun_continue_goes_on_into_the_next_segment_which_then_starts_after_it() -> None:
    s = Session().add(0, EventType.DOSE_GIVEN)  # onset 0-300, peak 300-1800
    pl = playlist(
        s.info.preset,
        {
            "onset": {"tracks": [100, 100], "overrun": "continue", "on_phase_end": "finish"},
            "peak": {"tracks": [150, 400, 500]},
        },
    )
    plan = build_plan(pl, s.phases(0), 0)
    order = [(t.segment, t.index) for t in plan.tracks if t.segment in ("onset", "peak")][:6]
    # Onset's music runs out at ~192 s, before the phase ends at 300: peak's first track is
    # borrowed, and the peak phase carries on from its second track.
    assert order == [("onset", 0), ("onset", 1), ("peak", 0), ("peak", 1), ("peak", 2), ("peak", 0)]
    peak1 = next(t for t in plan.tracks if (t.segment, t.index) == ("peak", 1))
    assert peak1.start == 192 + 150 - 16  # no change at the phase boundary (300): the music is ahead


def test_a_pause_stops_the_music_and_resumes_it_from_the_same_place() -> None:
    s = Session().add(0, EventType.DOSE_GIVEN)
    pl = playlist(s.info.preset, {"onset": {"tracks": [200]}})
    plan = build_plan(pl, s.phases(500), 500, pauses=[(50, 110)])
    before, after = [t for t in plan.tracks if t.segment == "onset" and t.index == 0][:2]
    assert (before.start, before.end, before.offset_s) == (0, 50, 0)
    assert (after.start, after.offset_s, after.fade_in_s, after.end) == (110, 50, RESUME_FADE_S, 260)
    assert plan.at(80) == []


def test_an_open_pause_is_planned_as_if_it_resumed_at_once() -> None:
    s = Session().add(0, EventType.DOSE_GIVEN)
    pl = playlist(s.info.preset, {"onset": {"tracks": [200]}})
    plan = build_plan(pl, s.phases(90), 90, pauses=[(50, None)])
    assert plan.paused_at == 50
    (cont,) = plan.at(50)
    assert (cont.start, cont.offset_s, cont.fade_in_s) == (50, 50, RESUME_FADE_S)
    resumed = plan.shifted(50, 70)  # resumed at 120
    (cont2,) = resumed.at(120)
    assert (cont2.start, cont2.offset_s, cont2.end) == (120, 50, 270) and resumed.paused_at is None
    closed = build_plan(pl, s.phases(120), 120, pauses=[(50, 120)])
    assert closed.at(120) == [cont2]


def test_shifting_a_plan_splits_what_sounds_at_the_pause_like_a_pause_does() -> None:
    s = Session().add(0, EventType.DOSE_GIVEN)
    pl = playlist(s.info.preset, {"onset": {"tracks": [200, 100]}})
    plan = build_plan(pl, s.phases(10), 10)  # made before the pause: nothing split at 50
    shifted = plan.shifted(50, 60)
    closed = build_plan(pl, s.phases(110), 110, pauses=[(50, 110)])
    assert [t for t in shifted.tracks if t.start < 50] == [t for t in closed.tracks if t.start < 50]
    assert shifted.at(110) == closed.at(110) and shifted.at(110)[0].offset_s == 50
    assert shifted.at(80) == []
    overlaps_are_crossfades(shifted)
    # Only an approximation past the next phase change, which the shift moves too: re-plan.
    assert shifted.next_after(200) != closed.next_after(200)


def test_a_skip_ends_the_sounding_track_with_a_crossfade_and_starts_the_next() -> None:
    s = Session().add(0, EventType.DOSE_GIVEN)
    pl = playlist(s.info.preset, {"onset": {"tracks": [200, 100]}})
    plan = build_plan(pl, s.phases(60), 60, skips=[60])
    skipped, nxt = [t for t in plan.tracks if t.segment == "onset"][:2]
    assert (skipped.index, skipped.end, skipped.fade_out_s) == (0, 68, 8)
    assert (nxt.index, nxt.start, nxt.fade_in_s) == (1, 60, 8)


def test_a_skip_during_a_crossfade_cuts_the_new_track_at_once() -> None:
    s = Session().add(0, EventType.DOSE_GIVEN)
    pl = playlist(s.info.preset, {"onset": {"tracks": [100, 100, 100]}})
    plan = build_plan(pl, s.phases(93), 93, skips=[92])  # track 1 starts at 92 and fails at once
    onset = [t for t in plan.tracks if t.segment == "onset"]
    assert [(t.index, t.start) for t in onset[:3]] == [(0, 0), (2, 92), (0, 184)]
    assert onset[1].fade_in_s == 8 and onset[0].end == 100


def test_when_the_session_ends_the_music_fades_out() -> None:
    s = Session().add(0, EventType.DOSE_GIVEN).add(1000, EventType.ENDED)
    plan = build_plan(playlist(s.info.preset, {}), s.phases(1000), 1000)
    last = plan.tracks[-1]
    assert plan.end == 1000 and last.end == 1000 + END_FADE_S and last.fade_out_s == END_FADE_S
    assert all(t.start < 1000 for t in plan.tracks)


def test_a_playlist_without_a_segment_the_arc_needs_is_refused() -> None:
    s = Session()
    pl = playlist(s.info.preset, {})
    pl = pl.model_copy(update={"segments": {k: v for k, v in pl.segments.items() if k != "arrival"}})
    with pytest.raises(ValueError, match="no segment 'arrival'"):
        build_plan(pl, s.phases(0), 0)


def test_no_phases_no_plan() -> None:
    assert build_plan(playlist(PRESETS["ketamine_im"], {}), [], 0).tracks == []


def test_each_track_carries_its_gain() -> None:
    s = Session()
    plan = build_plan(
        playlist(s.info.preset, {"arrival": {"tracks": [100, 60]}}), s.phases(0), 0, gains={"arrival/1.flac": -6.5}
    )
    assert [(t.path, t.gain_db) for t in plan.tracks[:3]] == [
        ("arrival/0.flac", 0),
        ("arrival/1.flac", -6.5),
        ("arrival/0.flac", 0),
    ]


# --- gapless joins ---

GAPLESS = {"join": "gapless"}


def test_a_gapless_join_starts_the_next_movement_exactly_at_the_end_without_fades() -> None:
    s = Session()
    pl = playlist(s.info.preset, {"arrival": {"tracks": [100, (60, GAPLESS), 80]}})
    passacaglia, fugue, after = build_plan(pl, s.phases(0), 0).tracks[:3]
    assert (passacaglia.end, passacaglia.fade_out_s, passacaglia.gapless) == (100, 0, False)
    assert (fugue.index, fugue.start, fugue.fade_in_s, fugue.gapless) == (1, 100, 0, True)
    # The join after the run is a crossfade again, and the loop back to the first track too.
    assert (fugue.end, fugue.fade_out_s, after.start, after.fade_in_s, after.gapless) == (160, 8, 152, 8, False)


def test_a_phase_change_lets_a_gapless_run_finish_where_the_segment_says_finish() -> None:
    s = Session().add(50, EventType.DOSE_GIVEN)
    pl = playlist(s.info.preset, {"arrival": {"tracks": [100, (60, GAPLESS)], "on_phase_end": "finish"}})
    plan = build_plan(pl, s.phases(50), 50)
    arrival = [t for t in plan.tracks if t.segment == "arrival"]
    assert [(t.index, t.start, t.end, t.gapless) for t in arrival] == [(0, 0, 100, False), (1, 100, 160, True)]
    onset = next(t for t in plan.tracks if t.segment == "onset")
    assert (onset.start, onset.fade_in_s) == (152, 8)


def test_a_phase_change_crossfades_out_of_a_gapless_run_where_the_segment_says_crossfade() -> None:
    s = Session().add(50, EventType.DOSE_GIVEN)
    pl = playlist(s.info.preset, {"arrival": {"tracks": [100, (60, GAPLESS)], "phase_end_crossfade_s": 20}})
    plan = build_plan(pl, s.phases(50), 50)
    assert [(t.segment, t.index, t.start, t.end) for t in plan.tracks[:2]] == [
        ("arrival", 0, 0, 70),
        ("onset", 0, 50, 150),
    ]


def test_after_a_skip_the_next_movement_comes_in_with_a_crossfade() -> None:
    s = Session()
    pl = playlist(s.info.preset, {"arrival": {"tracks": [100, (60, GAPLESS)]}})
    plan = build_plan(pl, s.phases(30), 30, skips=[30])
    skipped, fugue = plan.tracks[:2]
    assert (skipped.end, skipped.fade_out_s) == (38, 8)
    assert (fugue.index, fugue.start, fugue.fade_in_s, fugue.gapless) == (1, 30, 8, False)


def test_a_pause_at_the_join_resumes_with_the_next_movement() -> None:
    s = Session()
    pl = playlist(s.info.preset, {"arrival": {"tracks": [100, (60, GAPLESS)]}})
    plan = build_plan(pl, s.phases(200), 200, pauses=[(100, 130)])
    first, fugue = plan.tracks[:2]
    assert (first.end, fugue.index, fugue.start, fugue.fade_in_s) == (100, 1, 130, RESUME_FADE_S)
    assert plan.at(115) == []


def test_a_gapless_first_track_is_refused() -> None:
    with pytest.raises(ValueError, match="first track of a segment cannot be `join: gapless`"):
        playlist(PRESETS["ketamine_im"], {"arrival": {"tracks": [(100, GAPLESS), 60]}})


# --- gentler steering ---


def gentle_playlist(preset: Preset, **arrival: Any) -> Playlist:
    # Intensities 2 5 1 4 3: the median is 3, so gentler means tracks 0, 2 and 4.
    tracks = [(100, {"intensity": i}) for i in (2, 5, 1, 4, 3)]
    return playlist(
        preset,
        {
            "arrival": {"tracks": tracks, "crossfade_s": 0, **arrival},
            "onset": {"tracks": [(100, {"intensity": 5}), (100, {"intensity": 1})]},
        },
    )


def test_gentler_takes_the_segment_s_gentle_half_from_then_on_and_keeps_the_past() -> None:
    s = Session()
    pl = gentle_playlist(s.info.preset)
    before = build_plan(pl, s.phases(150), 150)
    after = build_plan(pl, s.phases(150), 150, gentler_from=150)
    assert [t.index for t in before.tracks[:7]] == [0, 1, 2, 3, 4, 0, 1]
    # Track 1 (intensity 5) sounds at 150: it gives way at once, fading out over 8 s (the segment has
    # no crossfade: never a cut) while the next gentle track fades in; from then on only intensities
    # at or below 3, in order, looping.
    assert [(t.index, t.start) for t in after.tracks[:6]] == [(0, 0), (1, 100), (2, 150), (4, 250), (0, 350), (2, 450)]
    intense, gentle = after.tracks[1], after.tracks[2]
    assert (intense.end, intense.fade_out_s, gentle.fade_in_s) == (150 + GENTLER_FADE_S, GENTLER_FADE_S, GENTLER_FADE_S)
    assert after.tracks[:1] == before.tracks[:1]  # what played before the request is unchanged


def test_gentler_lets_a_calm_track_play_on() -> None:
    s = Session()
    pl = gentle_playlist(s.info.preset)
    # Track 2 (intensity 1) sounds at 250: it plays to its end, and the steering takes the next ones.
    plan = build_plan(pl, s.phases(250), 250, gentler_from=250)
    assert [(t.index, t.start, t.end) for t in plan.tracks[2:4]] == [(2, 200, 300), (4, 300, 400)]


def test_gentler_steering_ends_with_its_phase_and_never_runs_ahead() -> None:
    s = Session().add(350, EventType.DOSE_GIVEN)
    pl = gentle_playlist(s.info.preset, overrun="continue", on_phase_end="finish")
    plan = build_plan(pl, s.phases(350), 350, gentler_from=50)
    arrival = [(t.segment, t.index) for t in plan.tracks if t.start < 400]
    # Out of gentle tracks at 300, arrival starts its gentle ones again instead of borrowing onset's music.
    assert arrival == [("arrival", 0), ("arrival", 2), ("arrival", 4), ("arrival", 0)]
    onset = [t.index for t in plan.tracks if t.segment == "onset"][:3]
    assert onset == [0, 1, 0]  # the next phase's music as curated, intense track included


def test_gentler_passes_over_a_whole_piece() -> None:
    s = Session()
    tracks = [
        (100, {"intensity": 1}),
        (100, {"intensity": 5}),
        (100, {"intensity": 1, **GAPLESS}),
        (100, {"intensity": 2}),
    ]
    pl = playlist(s.info.preset, {"arrival": {"tracks": tracks, "crossfade_s": 0}})
    assert pl.segments["arrival"].median_intensity == 2  # pieces: 1, 5 (tracks 1-2), 2
    plan = build_plan(pl, s.phases(0), 0, gentler_from=0)
    assert [t.index for t in plan.tracks[:4]] == [0, 3, 0, 3]


def test_an_untagged_segment_is_not_steered() -> None:
    s = Session()
    pl = playlist(s.info.preset, {"arrival": {"tracks": [100, 60, 80]}})
    assert build_plan(pl, s.phases(0), 0, gentler_from=0) == build_plan(pl, s.phases(0), 0)


# --- properties ---


def overlaps_are_crossfades(plan: MusicPlan) -> None:
    """At most two at once, overlapping only in their fades; a gapless join touches (zero overlap) with no fades."""
    ts = sorted(plan.tracks, key=lambda t: (t.start, t.end))
    # A gapless track starts where the track before it in its segment ends, neither fading there
    # (any third track sounding across the join is caught below: the two have no fades to overlap in).
    ending = {(t.segment, t.index, round(t.end, 6)): t for t in ts}
    for b in ts:
        if b.gapless:
            a = ending.get((b.segment, b.index - 1, round(b.start, 6)))
            assert a is not None and a.fade_out_s == 0 and b.fade_in_s == 0, f"gapless {b}"
    # Never more than two at once: sweep the starts (+1) and ends (-1), ends first at a tie.
    level = 0
    for _, step in sorted([(t.start, 1) for t in ts] + [(t.end - EPS, -1) for t in ts]):
        level += step
        assert level <= 2, "three tracks at once"
    for i, a in enumerate(ts):
        assert a.end > a.start
        for b in ts[i + 1 :]:
            if b.start >= a.end - EPS:
                break
            lo, hi = b.start, min(a.end, b.end)
            assert lo >= a.end - a.fade_out_s - EPS, f"{a} overlaps {b} outside its fade-out"
            assert hi <= b.start + b.fade_in_s + EPS, f"{b} overlaps {a} outside its fade-in"


def uncovered(plan: MusicPlan, start: float) -> list[tuple[float, float]]:
    assert plan.end is not None
    out, t = [], start
    for tr in sorted(plan.tracks, key=lambda x: x.start):
        if tr.start > t + EPS:
            out.append((t, min(tr.start, plan.end)))
        t = max(t, tr.end)
        if t >= plan.end:
            break
    if t < plan.end - EPS:
        out.append((t, plan.end))
    return [(a, b) for a, b in out if b > a + EPS]


def paused_parts(pauses: Sequence[tuple[float, float | None]], start: float, end: float) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for a, b in sorted((a, b) for a, b in pauses if b is not None):
        a, b = max(a, start), min(b, end)
        if b <= a + EPS:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def identity(t: PlannedTrack) -> tuple[Any, ...]:
    return (t.segment, t.phase, t.index, t.path, round(t.start, 6), round(t.offset_s, 6), round(t.fade_in_s, 6))


def same_past(old: MusicPlan, new: MusicPlan, now: float) -> None:
    """What `old` had already played before `now` is what `new` says played."""
    cut = min(now, old.paused_at if old.paused_at is not None else math.inf, old.end or math.inf)
    before = sorted((t for t in old.tracks if t.start < cut - EPS), key=identity)
    after = sorted((t for t in new.tracks if t.start < cut - EPS), key=identity)
    assert [identity(t) for t in before] == [identity(t) for t in after]
    for o, n in zip(before, after, strict=False):
        if o.end < cut - EPS:  # over before now (what ends at now may still change, by what happens at now)
            assert (o.end, o.fade_out_s) == pytest.approx((n.end, n.fade_out_s)), f"rewrote {o} as {n}"
        else:
            assert n.end >= cut - EPS


track_spec = st.tuples(
    st.integers(20, 900),
    st.fixed_dictionaries(
        {
            "join": st.sampled_from(["crossfade", "crossfade", "gapless"]),
            "intensity": st.sampled_from([None, 1, 2, 3, 4, 5]),
        }
    ),
)


def _first_not_gapless(tracks: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    return [(tracks[0][0], {**tracks[0][1], "join": "crossfade"}), *tracks[1:]]


segment_spec = st.fixed_dictionaries(
    {
        "tracks": st.lists(track_spec, min_size=1, max_size=4).map(_first_not_gapless),
        "overrun": st.sampled_from(["loop", "continue"]),
        "on_phase_end": st.sampled_from(["finish", "crossfade"]),
        "phase_end_crossfade_s": st.sampled_from([0, 5, 20, 45]),
        "crossfade_s": st.sampled_from([None, 0, 4, 12]),
    }
)
ACTIONS = [
    "advance",
    "extend",
    "booster",
    "hold",
    "resume",
    "panic",
    "clear",
    "pause",
    "unpause",
    "skip",
    "gentler",
    "note",
]
steps = st.lists(st.tuples(st.floats(0, 150), st.sampled_from(ACTIONS)), max_size=14)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    preset_id=st.sampled_from(["ketamine_im", "mdma", "psilocybin", "lsd"]),
    data=st.data(),
    dose_min=st.floats(0, 90),
    crossfade=st.sampled_from([0, 4, 8, 12]),
    actions=steps,
)
def test_every_replan_covers_the_arc_overlaps_only_in_crossfades_and_keeps_the_past(
    preset_id: str, data: st.DataObject, dose_min: float, crossfade: float, actions: list[tuple[float, str]]
) -> None:
    preset = PRESETS[preset_id]
    specs = {p.music: data.draw(segment_spec, label=p.music) for p in preset.phases}
    pl = playlist(preset, specs, crossfade_s=crossfade)
    s = Session(preset_id)
    pauses: list[tuple[float, float | None]] = []
    skips: list[float] = []
    gentler: list[float] = []

    def plan_at(now: float) -> MusicPlan:
        plan = build_plan(
            pl,
            s.phases(now),
            now,
            pauses=pauses,
            skips=skips,
            horizon_s=4 * 3600,
            arc_frozen=s.frozen(now),
            gentler_from=gentler,
        )
        overlaps_are_crossfades(plan)
        closed_pauses = paused_parts(pauses, 0, plan.end or 0)
        silent = uncovered(plan, 0)
        assert len(silent) == len(closed_pauses), f"dead air outside a pause: {silent} vs {closed_pauses}"
        assert all(g == pytest.approx(p, abs=1e-5) for g, p in zip(silent, closed_pauses, strict=False)), "dead air"
        assert all(not plan.at((a + b) / 2) for a, b in closed_pauses)
        return plan

    now = dose_min * MIN
    previous = plan_at(0)
    same_past(plan_at(0), previous, 0)
    s.add(now, EventType.DOSE_GIVEN)
    current = plan_at(now)
    same_past(previous, current, now)
    for delay_min, action in actions:
        now += delay_min * MIN
        state = replay(s.info, s.events, now)
        if state.ended_at is not None:
            break
        music_paused = bool(pauses) and pauses[-1][1] is None
        if action == "advance" and state.phase != "closing" and state.phase_index < len(state.phases) - 1:
            s.add(now, EventType.PHASE_ADVANCED)
        elif action == "extend" and state.phase_remaining_s is not None:
            s.add(now, EventType.PHASE_EXTENDED, minutes=15)
        elif action == "booster" and preset.booster is not None and len(state.boosters_at) < preset.booster.max_count:
            s.add(now, EventType.BOOSTER_GIVEN)
        elif action == "hold" and not state.held:
            s.add(now, EventType.HOLD)
        elif action == "resume" and state.held:
            s.add(now, EventType.RESUME)
        elif action == "panic" and not state.panic:
            s.add(now, EventType.PANIC)
            if not music_paused:
                pauses.append((now, None))
        elif action == "clear" and state.panic:
            s.add(now, EventType.PANIC_CLEARED)
            if music_paused:
                pauses[-1] = (pauses[-1][0], now)
        elif action == "pause" and not music_paused:
            pauses.append((now, None))
        elif action == "unpause" and music_paused and not state.panic:
            pauses[-1] = (pauses[-1][0], now)
        elif action == "skip" and not music_paused:
            skips.append(now)
        elif action == "gentler":
            gentler.append(now)
        else:
            s.add(now, EventType.NOTE, text="nothing")
        previous, current = current, plan_at(now)
        same_past(previous, current, now)


def test_a_twelve_hour_lsd_arc_with_the_demo_music_has_no_dead_air() -> None:
    s = Session("lsd").add(600, EventType.DOSE_GIVEN).add(3 * 3600, EventType.PHASE_EXTENDED, minutes=45)
    plan = build_plan(PLAYLISTS["demo_lsd"], s.phases(3 * 3600), 3 * 3600)
    overlaps_are_crossfades(plan)
    assert uncovered(plan, 0) == []
    assert plan.end is not None and plan.end >= 12 * 3600
    phases = s.phases(3 * 3600)
    for span in phases:
        assert span.start is not None
        assert plan.at(span.start + 60)[-1].segment == span.music, span.name


def test_a_long_plan_is_built_in_slices_that_give_the_same_plan() -> None:
    """The service builds plans a slice at a time between its other work (a panic must not wait
    for a plan of hundreds of tracks): the slices make exactly the plan built at one go."""
    preset = PRESETS["lsd"]
    demo = PLAYLISTS["demo_lsd"]
    t0 = 1_800_000_000.0
    events = [
        Event(seq=0, at=t0, type=EventType.STARTED, data={"preset": "lsd", "playlist": demo.id}),
        Event(seq=1, at=t0 + 60, type=EventType.DOSE_GIVEN, data={}),
    ]
    now = t0 + 600
    phases = replay(SessionInfo(id="s", room="r", preset=preset), events, now).phases
    choices = [PlaylistChoice(t0, demo)]
    steps = session_plan_steps(choices, phases, now, pauses=[(t0 + 300, t0 + 320)])
    slices = 0
    while True:
        try:
            next(steps)
            slices += 1
        except StopIteration as done:
            sliced: MusicPlan = done.value
            break
    whole = build_session_plan(choices, phases, now, pauses=[(t0 + 300, t0 + 320)])
    assert sliced == whole and len(whole.tracks) > 300
    assert slices >= len(whole.tracks) // STEP_MOMENTS  # about a slice per STEP_MOMENTS tracks
