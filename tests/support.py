"""Test and benchmark support: a private Mosquitto on a free port, and a plain MQTT observer."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

WAIT_S = 15  # generous upper bound for anything on loopback, reconnects included
# For test clients of a service under uvicorn, which closes a connection idle for 5 s: a client that
# reused one at that moment got a ReadError (seen under load, after a browser test's pause). The
# client lets its idle connections go first.
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=1.0)


# Ports for servers the tests start: each pytest-xdist worker takes them from its own block, below
# the kernel's ephemeral range (32768-60999), so two workers never pick the same free port in the
# moment between one finding it and binding it.
_PORT_BLOCK = 1500
_PORT_BASE = 20000
_next_port = 0


def free_port() -> int:
    global _next_port
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    block = _PORT_BASE + (int(worker) if worker.isdigit() else 0) % 8 * _PORT_BLOCK
    for _ in range(_PORT_BLOCK):
        port = block + _next_port
        _next_port = (_next_port + 1) % _PORT_BLOCK
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (or lingering): the next one
            return port
    raise RuntimeError(f"no free port in {block}-{block + _PORT_BLOCK - 1}")


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on port {port} after {timeout} s")


class Mosquitto:
    """A private broker on a free port, which a test may stop and start again on the same port."""

    def __init__(self, workdir: Path, also_on: str | None = None, *, log_publishes: bool = False) -> None:
        """`also_on`: one more address to listen on (a namespace's side of a veth pair);
        `log_publishes`: its log names the client of every message it receives (`published_by`)."""
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("mosquitto is not installed: run ./dev test, or apt-get install mosquitto")
        self.binary = binary
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + (f"listener {self.port} {also_on}\n" if also_on else "")
            + "allow_anonymous true\npersistence false\n"
            # as we recommend for a clinic's broker: see docs/mqtt.md
            "set_tcp_nodelay true\n" + ("log_dest stderr\nlog_type all\nlog_timestamp false\n" if log_publishes else "")
        )
        self.log = workdir / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=log, stderr=log)
        wait_for_port(self.port)

    def published_by(self, client_id: str, since: int = 0) -> list[str]:
        """The topics the broker received a message on from `client_id`, from byte `since` of its log."""
        with self.log.open("rb") as log:
            log.seek(since)
            text = log.read().decode("utf-8", "replace")
        found = re.findall(rf"Received PUBLISH from {re.escape(client_id)} \(d\d, q\d, r\d, m\d+, '([^']*)'", text)
        return list(found)

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut would: no goodbye to any client."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class Postgres:
    """A private PostgreSQL cluster on a free port (Debian's server binaries, `initdb` in a
    temporary folder), run as an unprivileged user as PostgreSQL requires; `fsync` off unless
    asked for (tests need no durability across a power cut; benchmarks measure it)."""

    def __init__(self, workdir: Path, *, fsync: bool = False, also_on: str | None = None) -> None:
        """`also_on`: one more address to listen on and trust (a namespace's side of a veth pair)."""
        self.fsync = fsync
        self.also_on = also_on
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise RuntimeError("PostgreSQL is not installed: run ./dev test, or apt-get install postgresql")
        self.bin = found[-1].parent
        self.port = free_port()
        self.dir = workdir / "pgdata"
        self.log = workdir / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(workdir, "postgres")
            workdir.chmod(0o700)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._initialised = False

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if not self._initialised:
            self._run(str(self.bin / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
            if self.also_on:
                with (self.dir / "pg_hba.conf").open("a") as hba:
                    hba.write(f"host all all {self.also_on}/24 trust\n")
            self._initialised = True
        listen = "127.0.0.1" + (f",{self.also_on}" if self.also_on else "")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses={listen} -c fsync={'on' if self.fsync else 'off'}"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: a clean shutdown; `immediate`: as a crash or a power cut would."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "stop")

    def database(self, name: str) -> str:
        """A new, empty database on this server: its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@asynccontextmanager
async def observer(port: int, *topic_filters: str) -> AsyncIterator[aiomqtt.Client]:
    """A plain MQTT client, independent of the code under test."""
    async with aiomqtt.Client("127.0.0.1", port, identifier=unique("observer"), timeout=WAIT_S) as client:
        for topic_filter in topic_filters:
            await client.subscribe(topic_filter, qos=1)
        yield client


async def next_message(
    client: aiomqtt.Client, topic: str, accept: Callable[[aiomqtt.Message], bool] = lambda m: True
) -> aiomqtt.Message:
    """The next message on `topic` that `accept`s, within WAIT_S."""
    async with asyncio.timeout(WAIT_S):
        async for message in client.messages:
            if message.topic.matches(topic) and accept(message):
                return message
    raise AssertionError("message iteration ended")  # pragma: no cover - aiomqtt raises instead


class Sniffer:
    """Every message on the broker, in order, as the room's lights would see them."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def to(self, topic: str) -> list[str]:
        return [payload for t, payload in self.messages if t == topic]

    def json_to(self, topic: str) -> list[dict[str, object]]:
        out = []
        for payload in self.to(topic):
            try:
                value = json.loads(payload)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    async def wait_for(self, topic: str, **fields: object) -> dict[str, object]:
        """The first JSON command on `topic` with these field values, within WAIT_S."""
        async with asyncio.timeout(WAIT_S):
            while True:
                for payload in self.json_to(topic):
                    if all(payload.get(k) == v for k, v in fields.items()):
                        return payload
                await asyncio.sleep(0.02)


@asynccontextmanager
async def sniffing(port: int) -> AsyncIterator[Sniffer]:
    sniffer = Sniffer()
    async with observer(port, "#") as client:

        async def collect() -> None:
            async for m in client.messages:
                sniffer.messages.append((m.topic.value, bytes(m.payload).decode("utf-8", "replace")))  # type: ignore[arg-type]

        task = asyncio.create_task(collect())
        try:
            yield sniffer
        finally:
            task.cancel()


def rooms_with_lights(prefix: str) -> str:
    """Room one with two Zigbee lights on topics unique to the test; room two without lights."""
    return f"""\
rooms:
  - id: one
    name: Room one
    lights:
      - {{name: ceiling, profile: zigbee2mqtt, topic: {prefix}_ceiling, role: ceiling}}
      - {{name: lamp, profile: zigbee2mqtt, topic: {prefix}_lamp, role: lamp}}
    audio: {{output: dummy, volume_ceiling_pct: 70}}
  - id: two
    name: Room two
    audio: {{output: dummy}}
"""


async def probes_before_marker(receiver: aiomqtt.Client) -> list[str]:
    """The topics a b"probe" arrived on before the b"marker" its sender published after them.

    A broker drops a denied publish without a word; the marker, on a topic the sender may use,
    shows the broker has dealt with the probe before it."""
    seen: list[str] = []
    async with asyncio.timeout(WAIT_S):
        async for message in receiver.messages:
            if message.payload == b"probe":
                seen.append(message.topic.value)
            if message.payload == b"marker":
                break
    return seen


class Snapserver:
    """A private snapserver: its control API and audio port on free ports, one stream per room fed
    over TCP (snapserver listens, Arcroom connects), nothing from /etc."""

    def __init__(self, workdir: Path, streams: tuple[str, ...] = ("room1",), *, source: str = "tcp") -> None:
        if shutil.which("snapserver") is None:
            raise RuntimeError("snapserver is not installed: run ./dev test, or apt-get install snapserver")
        self.workdir = workdir
        self.control_port = free_port()
        self.audio_port = free_port()
        # tcp: snapserver listens and Arcroom connects; pipe: snapserver makes the FIFO Arcroom writes to.
        self.sources = {
            name: f"tcp://127.0.0.1:{free_port()}" if source == "tcp" else f"pipe://{workdir}/{name}.fifo"
            for name in streams
        }
        self.log = workdir / "snapserver.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._ids = iter(range(1, 1_000_000))

    def start(self) -> None:
        (self.workdir / "empty.conf").touch()
        (self.workdir / "data").mkdir(exist_ok=True)
        sources = [
            f"--stream.source={uri}?name={name}" + ("&mode=server" if uri.startswith("tcp:") else "")
            for name, uri in self.sources.items()
        ]
        args = [
            "snapserver", "-c", str(self.workdir / "empty.conf"), f"--server.datadir={self.workdir / 'data'}",
            "--http.enabled=0", f"--tcp.port={self.control_port}", "--tcp.bind_to_address=127.0.0.1",
            f"--stream.port={self.audio_port}", "--stream.bind_to_address=127.0.0.1", *sources,
            "--logging.sink=stderr",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=log)
        wait_for_port(self.control_port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def rpc(self, method: str, params: dict[str, object] | None = None) -> dict[str, Any]:
        """One request on a connection of its own, as another control app would make it."""
        request = {"id": next(self._ids), "jsonrpc": "2.0", "method": method, "params": params or {}}
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=5) as s:
            s.sendall(json.dumps(request).encode() + b"\r\n")
            data = b""
            while True:
                data += s.recv(65536)
                for line in data.split(b"\r\n"):
                    if line.strip() and (answer := json.loads(line)).get("id") == request["id"]:
                        result: dict[str, Any] = answer["result"]
                        return result

    def client(self, client_id: str) -> dict[str, Any] | None:
        """The client as the server reports it now (None: it never connected)."""
        for group in self.rpc("Server.GetStatus")["server"]["groups"]:
            for client in group["clients"]:
                if client["id"] == client_id:
                    return {**client, "stream_id": group["stream_id"]}
        return None


class Snapclient:
    """A room's player: snapclient writing what it plays (raw 48000:16:2, in real time) to a file."""

    BYTES_PER_S = 48000 * 2 * 2

    def __init__(self, server: Snapserver, client_id: str, workdir: Path) -> None:
        self.server = server
        self.id = client_id
        self.output = workdir / f"{client_id}.pcm"
        self.log = workdir / f"{client_id}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.output.unlink(missing_ok=True)
        args = [
            "snapclient", "-h", "127.0.0.1", "-p", str(self.server.audio_port), "--hostID", self.id,
            "--player", f"file:filename={self.output}", "--logsink=stderr",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=log)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def level(self, last_s: float = 0.5) -> float:
        """RMS of the last `last_s` seconds the player wrote (0 if it wrote nothing yet)."""
        import numpy as np

        size = self.output.stat().st_size if self.output.exists() else 0
        count = int(last_s * self.BYTES_PER_S) // 4 * 4
        if size < count:
            return 0.0
        with self.output.open("rb") as f:
            f.seek(size - size % 4 - count)
            samples = np.frombuffer(f.read(count), dtype=np.int16).astype(np.float64)
        return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0
