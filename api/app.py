"""The FastAPI application: one context (engine, VIES client) for the process, built at start-up."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import envelope, health, imports, parties
from jobs.context import open_context
from jobs.settings import Settings

MAX_JSON_BYTES = 1 << 20  # a 50-item bulk-create is far below this


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_context(settings, vies=True) as context:
            app.state.context = context
            yield

    app = FastAPI(
        title="rostersync",
        version=envelope.API_VERSION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    envelope.install(app, MAX_JSON_BYTES)
    app.include_router(health.routes)
    app.include_router(parties.router("customers"))
    app.include_router(parties.router("suppliers"))
    app.include_router(imports.routes)
    return app
