"""The FastAPI application: assembles the routes around one lifespan that owns the runtime."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from app import __version__
from app.api import routes_audio, routes_catalog, routes_lights, routes_panic, routes_rooms, routes_web
from app.catalog import Catalog
from app.domain.clock import Clock
from app.domain.errors import DomainError
from app.runtime import PlayerFactory, Runtime, vlc_player_for
from app.settings import Settings


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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with Runtime.running(settings, catalog, clock=clock, player_factory=player_factory) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="Arcroom",
        version=__version__,
        lifespan=lifespan,
        description="Session environment controller for psychedelic-assisted therapy rooms.",
    )
    app.state.settings = settings

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI echoes the offending input; NaN or Infinity there would make the 422 itself fail.
        return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    app.include_router(routes_catalog.router)
    app.include_router(routes_panic.router)
    app.include_router(routes_rooms.router)
    app.include_router(routes_lights.router)
    app.include_router(routes_audio.router)
    app.include_router(routes_web.router)
    app.mount("/static", StaticFiles(directory=routes_web.STATIC), name="static")
    return app


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value
