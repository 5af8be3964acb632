"""The service as a separate process, as systemd runs it, that a drill can kill -9 and start again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """`python -m app serve` on a free port, on one database, restartable on the same port."""

    def __init__(
        self, workdir: Path, env: dict[str, str], *, prefix: tuple[str, ...] = (), host: str = "127.0.0.1"
    ) -> None:
        """`prefix`: run it under this command (`ip netns exec NS`); `host`: the address it listens on."""
        self.workdir = workdir
        self.prefix = prefix
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.env = {
            **os.environ,
            "ARCROOM_DATABASE": str(workdir / "arcroom.db"),
            "ARCROOM_AUDIO_OUTPUT": "dummy",
            "ARCROOM_PORT": str(self.port),
            "ARCROOM_HOST": host,
            **env,
        }
        self.log = workdir / "service.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "app", "serve", "--log-level", "info"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"the service did not answer in {timeout_s} s: {self.log.read_text()[-2000:]}")

    def kill9(self) -> None:
        """As a power cut or an OOM kill would: no shutdown, no goodbye on MQTT."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: a hung machine, a VM paused by its host; its connections stay open."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
