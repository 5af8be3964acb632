"""Soak: the service's memory (RSS) over time under event-stream load.

Real Mosquitto; the service under uvicorn in its own process (libVLC on its dummy output) with 20
rooms of 8 lights, each with a session running and a scene fade stepped every second; another
process holds SSE clients open (reconnecting each one now and then, as tablets do) and sends API
requests. RSS is read from /proc every few seconds; a service that leaks shows rising low points.

    .venv/bin/python -m bench.soak [--seconds 180] [--clients 100] [--rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import statistics
import time
from pathlib import Path

import httpx

from bench.panic_latency import ROOMS, rooms_yaml
from bench.service import running_service

SAMPLE_S = 5.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def load(base: str, clients: int, rate: float, stop: mp.Event, ready: mp.Event, errors: mp.Value) -> None:  # type: ignore[type-arg]
    """SSE clients that stay 5-30 s each, then reconnect; `rate` state requests a second."""

    async def sse(client: httpx.AsyncClient, n: int) -> None:
        while not stop.is_set():
            room = f"r{n % ROOMS:02d}"
            try:
                async with asyncio.timeout(random.uniform(5, 30)):
                    async with client.stream("GET", f"/api/rooms/{room}/stream") as response:
                        async for _ in response.aiter_lines():
                            pass
            except (TimeoutError, httpx.HTTPError):
                pass

    async def main() -> None:
        limits = httpx.Limits(max_connections=clients + 50)
        async with httpx.AsyncClient(base_url=base, timeout=None, limits=limits) as client:
            streams = [asyncio.create_task(sse(client, i)) for i in range(clients)]
            ready.set()
            interval, n, started = 1 / rate, 0, time.monotonic()
            requests: set[asyncio.Task[httpx.Response]] = set()

            def done(task: asyncio.Task[httpx.Response]) -> None:
                requests.discard(task)
                if task.cancelled() or task.exception() is not None or task.result().status_code >= 500:
                    with errors.get_lock():
                        errors.value += 1

            while not stop.is_set():
                request = asyncio.create_task(client.get(f"/api/rooms/r{n % ROOMS:02d}/state"))
                requests.add(request)
                request.add_done_callback(done)
                n += 1
                await asyncio.sleep(max(0.0, started + n * interval - time.monotonic()))
            for task in streams:
                task.cancel()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100, help="state requests a second")
    parser.add_argument("--no-sessions", action="store_true", help="no session (so no music): lights only")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    stop, ready = ctx.Event(), ctx.Event()
    errors = ctx.Value("i", 0)
    with running_service(rooms_yaml(), sessions=not args.no_sessions) as service:
        loader = ctx.Process(
            target=load, args=(service.base, args.clients, args.rate, stop, ready, errors), daemon=True
        )
        try:
            with httpx.Client(base_url=service.base, timeout=10) as http:
                for r in range(ROOMS):
                    http.put(f"/api/rooms/r{r:02d}/lights", json={"scene": "peak", "transition": 3600})
            before = rss_mb(service.pid)
            loader.start()
            ready.wait(10)
            print(
                f"Arcroom soak: {ROOMS} rooms x 8 lights fading, {args.clients} SSE clients (reconnecting), "
                f"{args.rate:g} requests/s, {args.seconds:g} s, {os.cpu_count()} CPUs"
            )
            print(f"  RSS before the load: {before:.0f} MB")
            samples: list[tuple[float, float]] = []
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < args.seconds:
                time.sleep(SAMPLE_S)
                samples.append((elapsed + SAMPLE_S, rss_mb(service.pid)))
            thirds = [samples[i * len(samples) // 3 : (i + 1) * len(samples) // 3] for i in range(3)]
            for i, part in enumerate(thirds):
                values = [mb for _, mb in part]
                print(
                    f"  {['first', 'second', 'last'][i]} third: low {min(values):.0f} MB, "
                    f"median {statistics.median(values):.0f} MB, high {max(values):.0f} MB"
                )
            print(f"  RSS at the end: {samples[-1][1]:.0f} MB (growth {samples[-1][1] - before:+.0f} MB)")
            print(f"  failed requests (connection errors or 5xx): {errors.value}")
        finally:
            stop.set()
            if loader.is_alive():
                loader.join(10)
                if loader.is_alive():
                    loader.terminate()


if __name__ == "__main__":
    main()
