"""The web importer: pages under /app on the API's process, over the same application layer."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.web.pages import error_page, routes, signed_out
from api.web.session import PAGES, SignInNeeded


def install(app: FastAPI) -> None:
    app.include_router(routes)
    app.mount(f"{PAGES}/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_exception_handler(SignInNeeded, signed_out)


PAGE_ERRORS = (PAGES, error_page)  # refusals of requests under PAGES, as pages
