"""The FastAPI application: one context (engine, VIES client) for the process, built at start-up."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import auth, connections, envelope, health, imports, parties, web
from jobs.context import open_context
from jobs.errors import UploadTooLarge
from jobs.settings import Settings

MAX_JSON_BYTES = 1 << 20  # a 50-item bulk-create is far below this
_FORM = 1 << 16  # what a multipart form adds to its file


def _uploads(path: str) -> bool:
    return path.endswith(("/imports", "/reimport"))


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_context(settings, vies=True, http=True) as context:
            app.state.context = context
            app.state.tasks = set()  # runs and syncs this process works on (the embedded default: no queue)
            app.state.syncs = {}  # connection id -> its sync here
            try:
                yield
            finally:
                # Stopped, a run lets go of its lease and is left for `resume`, its finished batches kept.
                for task in list(app.state.tasks):
                    task.cancel()
                await asyncio.gather(*app.state.tasks, return_exceptions=True)

    app = FastAPI(
        title="rostersync",
        version=envelope.API_VERSION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    def max_body(path: str) -> int:
        return settings.upload_limit_bytes + _FORM if _uploads(path) else MAX_JSON_BYTES

    def too_large(path: str) -> str:
        if _uploads(path):
            return str(UploadTooLarge(settings.upload_limit_bytes))
        return f"the request body is over the limit of {MAX_JSON_BYTES} bytes"

    app.state.keys = auth.KeyCache()
    envelope.install(app, max_body, too_large, web.PAGE_ERRORS)
    app.include_router(health.routes)
    app.include_router(parties.router("customers"))
    app.include_router(parties.router("suppliers"))
    app.include_router(imports.routes)
    app.include_router(connections.routes)
    web.install(app)
    return app


def from_environment() -> FastAPI:
    """The application with the settings of the environment (ROSTERSYNC_*): what each server process builds."""
    return create_app(Settings())
