"""API keys: `Authorization: Bearer <key>`, scoped to one company. A path naming another company is answered as
if nothing were there (404), so a key cannot even learn which companies exist."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.envelope import ApiError
from jobs import app as application
from jobs.records import ApiKey

_bearer = HTTPBearer(auto_error=False, description="An API key from `rostersync keys create`.")
CompanyId = Annotated[str, Path(alias="companyId", min_length=1, max_length=64)]


def scope(needed: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the request's key, if it is valid, of the path's company, and has `needed`."""

    async def check(
        request: Request,
        company_id: CompanyId,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        if credentials is None:
            raise ApiError(401, "UNAUTHORIZED", "an API key is required: Authorization: Bearer <key>")
        key = await application.authenticate(request.app.state.context, credentials.credentials)
        if key is None:
            raise ApiError(401, "UNAUTHORIZED", "the API key is not valid (unknown or revoked)")
        if key.company_id != company_id:
            raise ApiError(404, "NOT_FOUND", f"no company {company_id}")
        if not key.allows(needed):
            raise ApiError(403, "FORBIDDEN", f"the API key lacks the scope {needed}")
        return key

    return check
