"""deploy/caddy/Caddyfile, as shipped, in a real Caddy in front of the service: HTTPS from its own
certificate authority (`tls internal`), the API through it, and an event stream that arrives at
once rather than when a buffer fills."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.domain.clock import ManualClock
from app.settings import Settings
from tests.conftest import serve
from tests.support import free_port, wait_for_port

CADDYFILE = Path(__file__).resolve().parents[1] / "deploy" / "caddy" / "Caddyfile"


@pytest.fixture
def caddy(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """(Caddy's HTTPS port, the service's port), Caddy running the shipped site block."""
    binary = shutil.which("caddy")
    assert binary is not None, "caddy is not installed: run ./dev test, or apt-get install caddy"
    https, upstream = free_port(), free_port()
    # The test's own global options: no admin endpoint, no change to this machine's trust store, no port 80.
    config = tmp_path / "Caddyfile"
    config.write_text(
        f"{{\n\tadmin off\n\tskip_install_trust\n\thttp_port {free_port()}\n}}\n\n{CADDYFILE.read_text()}"
    )
    env = {
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        "ARCROOM_SITE": f"https://localhost:{https}",
        "ARCROOM_UPSTREAM": f"127.0.0.1:{upstream}",
    }
    log = (tmp_path / "caddy.log").open("wb")
    process = subprocess.Popen(
        [binary, "run", "--adapter", "caddyfile", "--config", str(config)], env=env, stdout=log, stderr=log
    )
    try:
        wait_for_port(https, timeout=20)
        yield https, upstream
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


async def test_the_shipped_caddyfile_serves_the_api_and_streams_over_https(
    caddy: tuple[int, int], settings: Settings, clock: ManualClock
) -> None:
    https, upstream = caddy
    async with serve(settings, clock, port=upstream), httpx.AsyncClient(verify=False, timeout=15) as client:
        base = f"https://localhost:{https}"
        r = await client.get(f"{base}/api/health")
        assert r.status_code == 200 and r.json()["rooms"] == 2
        assert r.http_version in ("HTTP/1.1", "HTTP/2")
        async with asyncio.timeout(10), client.stream("GET", f"{base}/api/rooms/one/stream") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    assert line == "event: state"
                    break
