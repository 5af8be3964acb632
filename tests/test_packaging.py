"""The wheel installs into a fresh virtual environment outside the checkout and serves the shipped demo.

One test on purpose (about 20 s): it builds the wheel, makes a venv and installs the dependencies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["presets", "playlists", "device_profiles"]


def run(*args: str | Path, **kwargs: object) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        check=False,
        capture_output=True,
        text=True,  # type: ignore[call-overload]
        timeout=300,
        **kwargs,
    )
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


def expected_wheel_files() -> set[str]:
    files = {f"app/shipped/{name}" for name in ("scenes.yaml", "rooms.demo.yaml")}
    files |= {f"app/shipped/{folder}/{p.name}" for folder in SHIPPED for p in (ROOT / folder).glob("*.yaml")}
    files |= {
        f"app/{p.relative_to(ROOT / 'app')}"
        for p in (ROOT / "app").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    return files


def health(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except OSError:
        return None


def test_the_wheel_serves_the_shipped_demo_from_a_fresh_venv_outside_the_checkout(tmp_path: Path) -> None:
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--quiet",
        "--disable-pip-version-check",
        "-w",
        tmp_path / "dist",
        ROOT,
    )
    (wheel,) = (tmp_path / "dist").glob("arcroom-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert expected_wheel_files() - names == set()
    assert not [n for n in names if n.split("/")[0] in {"tests", "var", "presets", "playlists", "device_profiles"}]

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARCROOM_", "PYTHON", "VIRTUAL_ENV"))}
    site_packages = Path(
        run(venv / "bin" / "python", "-c", "import app; print(app.__file__)", cwd=elsewhere, env=env).strip()
    ).parent.parent
    assert site_packages.is_relative_to(venv)  # the installed package, not the checkout

    presets = run(venv / "bin" / "arcroom", "presets", cwd=elsewhere, env=env)
    assert all(p.stem in presets for p in (ROOT / "presets").glob("*.yaml"))

    port = free_port()
    data = tmp_path / "data"
    serve_env = env | {"ARCROOM_PORT": str(port), "ARCROOM_AUDIO_OUTPUT": "dummy", "ARCROOM_DATA_DIR": str(data)}
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        service = subprocess.Popen(
            [venv / "bin" / "arcroom", "serve"], cwd=elsewhere, env=serve_env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and service.poll() is None:
            answer = health(port)
            if answer is not None and answer["status"] == "ok":
                break
            time.sleep(0.2)
        assert answer is not None and answer["status"] == "ok", log_path.read_text()
        assert answer["rooms"] == 1  # the shipped demo room
        # What the Docker image's HEALTHCHECK runs.
        assert json.loads(run(venv / "bin" / "arcroom", "health", cwd=elsewhere, env=serve_env))["status"] == "ok"
    finally:
        service.terminate()
        service.wait(timeout=30)
    # uvicorn shuts down cleanly, then ends by the signal it got (which systemd counts as a clean stop).
    assert service.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in log_path.read_text()
    assert (data / "arcroom.db").is_file() and len(list((data / "demo-music").glob("*.wav"))) >= 8
    written = [p for p in site_packages.rglob("*") if p.suffix in {".db", ".wav"} or p.name == "var"]
    assert written == []  # nothing generated inside the package
    stopped = subprocess.run(
        [venv / "bin" / "arcroom", "health"], cwd=elsewhere, env=serve_env, check=False, capture_output=True, text=True
    )
    assert stopped.returncode == 1 and "Connection refused" in stopped.stderr
