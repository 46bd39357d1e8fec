"""Who a page is for: the session cookie (a random id; the API key stays on the server side, hashed), the scopes
of the key it was opened with, and the CSRF token every form carries."""

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from api.envelope import ApiError
from jobs import app as application
from jobs.records import WebSession

SESSION = "rs_session"
SIGN_IN = "rs_signin"  # the sign-in form's own CSRF token (double submit): there is no session yet
PAGES = "/app"


class SignInNeeded(Exception):
    """No live session: the page sends the browser to the sign-in form."""


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    """A cookie of the pages: never readable by scripts, never sent with another site's request, and only over
    TLS when the pages are served over TLS."""
    response.set_cookie(name, value, max_age=max_age, path=PAGES, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")  # fmt: skip


async def _session(request: Request) -> WebSession:
    session_id = request.cookies.get(SESSION)
    found = await application.find_session(request.app.state.context, session_id) if session_id else None
    if found is None:
        raise SignInNeeded
    return found


Session = Annotated[WebSession, Depends(_session)]


def may(needed: str) -> Callable[[Request], Awaitable[WebSession]]:
    """A dependency: the session, whose key has the scope `needed`."""

    async def check(request: Request) -> WebSession:
        session = await _session(request)
        if not session.key.allows(needed):
            raise ApiError(403, "FORBIDDEN", "Your key may not do this.")
        return session

    return check


def same(given: object, expected: str | None) -> bool:
    return isinstance(given, str) and expected is not None and secrets.compare_digest(given, expected)


async def form_of(request: Request, session: WebSession, **limits: int) -> FormData:
    """The posted form, if it carries the session's CSRF token."""
    form = await request.form(**limits)
    if not same(form.get("csrf"), session.csrf):
        raise ApiError(403, "FORBIDDEN", "The form has expired: reload the page and try again.")
    return form
