"""The loudness walk-through in docs/music.md, run as written: a folder of mp3/m4a/flac tones a newcomer makes,
`arcroom library scan` twice (the second measures nothing) and `arcroom playlists check`; and the
figures it quotes are the ones these commands print."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_part() -> tuple[str, list[str]]:
    """The walk-through's commands and the output lines it quotes (without the "..." elisions)."""
    text = (ROOT / "docs" / "music.md").read_text()
    part = text[text.index("## Loudness") :]
    commands = re.search(r"```sh\n(.*?)```", part, re.DOTALL)
    assert commands is not None
    quoted = re.search(r"```\n(.*?)```", part[commands.end() :], re.DOTALL)
    assert quoted is not None
    return commands.group(1), [line for line in quoted.group(1).splitlines() if line.strip() != "..."]


def same_figures(quoted: str, printed: str) -> bool:
    """The same line, numbers allowed to differ by 0.2 (another build of ffmpeg's encoders)."""
    a, b = quoted.split(), printed.split()
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        try:
            if abs(float(x.rstrip(",)")) - float(y.rstrip(",)"))) > 0.2:
                return False
        except ValueError:
            return False
    return True


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    home = tmp_path_factory.mktemp("home")
    commands, _ = readme_part()
    # The page calls the installed command; here it is this interpreter's, whatever its venv.
    script = commands.replace(".venv/bin/arcroom", f"{shlex.quote(sys.executable)} -m app")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return home, done.stdout.replace(str(home), "~"), done.stderr


def test_the_scan_measures_each_file_once_and_the_second_scan_none(walkthrough: tuple[Path, str, str]) -> None:
    home, out, err = walkthrough
    first, second = [line for line in out.splitlines() if line.startswith("library ~/arcroom-tones/music:")]
    assert "3 audio file(s): 3 analysed now, 0 from the cache" in first
    assert "3 audio file(s): 0 analysed now, 3 from the cache" in second
    assert "measuring loudness: 100%" in err and "3/3" in err  # the progress bar, on stderr
    cache = json.loads((home / "arcroom-tones" / "music" / ".arcroom-loudness.json").read_text())
    assert sorted(cache["tracks"]) == ["loud.mp3", "quiet.m4a", "tone.flac"]
    spread = re.findall(r"\(spread (\d+\.\d) LU\)", out)
    assert float(spread[0]) == pytest.approx(12, abs=0.6) and float(spread[1]) <= 1.0  # as recorded, with gains


def test_the_check_reports_each_track_s_loudness_the_largest_jump_and_the_loops(
    walkthrough: tuple[Path, str, str],
) -> None:
    _, out, _ = walkthrough
    assert "files: 18 of 18 found and readable, lengths as declared" in out
    assert re.search(
        r"    arrival\[0\] quiet\.m4a +-2\d\.\d LUFS +-1\d\.\d dBTP  gain +\+\d+\.\d dB -> "
        r"+-18\.0 LUFS",
        out,
    )
    jump = re.search(
        r"largest jump between neighbours: (\d+\.\d) LU as recorded \(arrival\[0\] -> arrival\[1\]\), "
        r"(\d+\.\d) LU with the gains",
        out,
    )
    assert jump is not None and float(jump[1]) > 11 and float(jump[2]) <= 1
    assert (
        out.count("WARNING short by") == 3
        and "peak         3 tracks     6:00 (plays 5:44)  phase    25:00  WARNING short by 19:16: it will loop" in out
    )
    assert out.rstrip().endswith(
        "3 segment(s) shorter than their phase will loop; loudness: 0 file(s) measured, 3 from the cache"
    )


def test_the_readme_quotes_what_the_commands_print(walkthrough: tuple[Path, str, str]) -> None:
    _, out, _ = walkthrough
    _, quoted = readme_part()
    printed = out.splitlines()
    for line in quoted:
        assert any(same_figures(line, p) for p in printed), f"docs/music.md quotes a line nothing printed: {line}"


def test_a_scan_without_a_library_or_of_a_missing_one_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    monkeypatch.delenv("ARCROOM_MUSIC_LIBRARY", raising=False)
    assert main(["library", "scan"]) == 2
    assert "no music library: pass --library DIR or set ARCROOM_MUSIC_LIBRARY" in capsys.readouterr().err
    assert main(["library", "scan", "--library", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit, match=r"target loudness 3\.0 LUFS is outside -40\.\.-5 LUFS"):
        main(["library", "scan", "--library", str(tmp_path), "--target-lufs", "3"])


def test_a_file_that_cannot_be_measured_is_named_and_the_scan_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    (tmp_path / "broken.flac").write_bytes(b"fLaC and then nothing" * 20)
    assert main(["library", "scan", "--library", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "1 audio file(s): 1 analysed now" in out and "NOT MEASURED  broken.flac: ffmpeg cannot decode it" in out
