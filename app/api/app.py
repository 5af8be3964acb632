"""The FastAPI application: assembles the routes around one lifespan that owns the runtime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from app import __version__, logs
from app.api import (
    metrics,
    routes_audio,
    routes_catalog,
    routes_lights,
    routes_metrics,
    routes_panic,
    routes_rooms,
    routes_tickets,
    routes_views,
    routes_web,
)
from app.api.errors import MESSAGE_CHARS, safe_text, validation_detail
from app.api.forward import ForwardToLeader
from app.api.guard import HostPatterns, RequestGuard
from app.api.openapi import TAGS
from app.api.siblings import PanicFromSiblings
from app.api.tickets import StreamTickets
from app.catalog import Catalog
from app.checks import settings_against_files
from app.config_files import ConfigFileError
from app.domain.clock import Clock
from app.domain.errors import DomainError
from app.leadership import Fence, Leadership, LeadershipLost
from app.runtime import PlayerFactory, Runtime, vlc_player_for
from app.settings import Settings
from app.standby_views import BrokerViews

log = logging.getLogger(__name__)

STAND_DOWN_S = 5.0  # after failing to run the rooms, the lock is left to the other instance this long

# The largest request body taken, in bytes (413 past it, before any JSON is parsed: app/api/guard.py).
# The largest real body is a 4000-character note: 16 KB in UTF-8, 24 KB as \u escapes.
MAX_BODY_BYTES = 64 * 1024


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    player_factory: PlayerFactory = vlc_player_for,
    catalog: Catalog | None = None,
) -> FastAPI:
    settings = settings or Settings()
    # Data files are read here, not in the lifespan, so a broken file fails before anything starts.
    catalog = catalog or Catalog.from_settings(settings)
    unknown = settings_against_files(settings, catalog)
    if unknown:
        raise ConfigFileError(settings.rooms_file, unknown)

    @asynccontextmanager
    async def run(fence: Fence | None = None, term: int | None = None) -> AsyncIterator[Runtime]:
        async with Runtime.running(
            settings, catalog, clock=clock, player_factory=player_factory, fence=fence, term=term
        ) as runtime:
            app.state.runtime = runtime
            app.state.metrics = metrics.registry_for(runtime)
            runtime.engine.listen(metrics.on_notice)
            try:
                yield runtime
            finally:
                app.state.runtime = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        leadership = leadership_for(settings)
        app.state.leadership = leadership
        if leadership is None:  # one instance: it runs the rooms from the start
            async with run():
                yield
            return
        # With a standby: the service answers (as the standby) at once, and runs the rooms while it leads.
        app.state.runtime = None
        # What it shows of the rooms when the leader does not answer it: the leader's own views, from the broker.
        app.state.broker_views = BrokerViews(settings, catalog.rooms, lambda: app.state.runtime is None)
        tasks = [
            asyncio.create_task(lead(leadership, run, app.state.standby_acting), name="leadership"),
            asyncio.create_task(app.state.broker_views.run(), name="standby-views"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await leadership.close()

    # Swagger UI and ReDoc from a package, served by the service itself: a clinic network without
    # internet (or a CDN that is down) still gets working API docs at /docs and /redoc.
    app = FastAPIOffline(
        title="Arcroom",
        version=__version__,
        lifespan=lifespan,
        description="Session environment controller for psychedelic-assisted therapy rooms. Times are epoch "
        "seconds unless a field says otherwise; durations are in the unit their name ends with (`_s`, `_min`). "
        "With tokens configured, send `Authorization: Bearer <token>`; roles: therapist (everything), observer "
        "(read), device (panic).",
        openapi_tags=TAGS,
        static_url="/static/api-docs",
    )
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.standby_acting = asyncio.Lock()
    app.state.stream_tickets = StreamTickets()
    logs.redact_access_log()
    # Loopback names and the address listened on always (`arcroom health` asks there); others as
    # configured, or (with tokens, which a page that rebinds a name lacks) any.
    hosts = settings.allowed_hosts or (("*",) if settings.tokens else ())
    if settings.host not in ("0.0.0.0", "::", ""):
        hosts = (*hosts, settings.host.strip("[]"))
    # Inside the guard: what the standby passes to the leader has been checked here first.
    app.add_middleware(ForwardToLeader)
    app.add_middleware(
        RequestGuard,
        hosts=HostPatterns(hosts, loopback=True),
        origins=settings.allowed_origins,
        max_body_bytes=MAX_BODY_BYTES,
        siblings=lambda: siblings(app),
    )
    # Outside the guard: a browser's question before a sibling's page sends a panic is answered first.
    app.add_middleware(PanicFromSiblings, siblings=lambda: siblings(app))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never the input as sent: bounded, and encodable whatever it held (app/api/errors.py).
        return JSONResponse({"detail": validation_detail(exc.errors())}, status_code=422)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        # Messages quote what was asked for (a room, a cue id from the path): bounded and encodable too.
        return JSONResponse({"detail": safe_text(exc.message, MESSAGE_CHARS)}, status_code=exc.status)

    app.include_router(routes_catalog.router)
    app.include_router(routes_panic.router)
    app.include_router(routes_views.router)
    app.include_router(routes_rooms.router)
    app.include_router(routes_lights.router)
    app.include_router(routes_audio.router)
    app.include_router(routes_tickets.router)
    app.include_router(routes_metrics.router)
    app.include_router(routes_web.router)
    app.mount("/static", StaticFiles(directory=routes_web.STATIC), name="static")
    return app


def siblings(app: FastAPI) -> Iterable[str]:
    """The other instances' addresses, as the database last said (none without a standby)."""
    leadership: Leadership | None = getattr(app.state, "leadership", None)
    if leadership is None:
        return ()
    return [address for name, address in leadership.instances.items() if name != leadership.instance]


def leadership_for(settings: Settings) -> Leadership | None:
    """An election on the record's PostgreSQL when this instance is named (ARCROOM_INSTANCE); else none."""
    if settings.instance is None or settings.database_file is not None:
        return None
    return Leadership(str(settings.database), settings.database_secret(), settings.instance, settings.dashboard_url())


async def lead(leadership: Leadership, run: Any, standby_acting: asyncio.Lock) -> None:
    """Stand by; lead while the lease holds; on losing it, stop the rooms at once and stand by again."""
    while True:
        term = await leadership.wait_to_lead()
        # Renewed from the moment the lock is taken: starting the rooms may take longer than the lease.
        holding = asyncio.create_task(leadership.hold(), name="leadership-hold")
        try:
            async with standby_acting:
                pass  # a panic this instance is handling as the standby is recorded before the rooms load
            async with run(leadership.fence, term):
                log.warning("instance %s runs the rooms (term %d)", leadership.instance, term)
                await holding
        except LeadershipLost as exc:
            log.error("instance %s stopped running the rooms: %s", leadership.instance, exc)
        except Exception:  # the rooms could not start (or failed): let the other instance lead
            log.exception("instance %s could not run the rooms: standing down", leadership.instance)
            await leadership.close()
            await asyncio.sleep(STAND_DOWN_S)
        finally:
            holding.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # its outcome is handled above
                await holding
