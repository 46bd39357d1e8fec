"""API keys: `Authorization: Bearer <key>`, scoped to one company. A path naming another company is answered as
if nothing were there (404), so a key cannot even learn which companies exist."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.envelope import ApiError
from jobs import app as application
from jobs.records import ApiKey

_bearer = HTTPBearer(auto_error=False, description="An API key from `rostersync keys create`.")
CompanyId = Annotated[str, Path(alias="companyId", min_length=1, max_length=64)]

# A revocation (`keys revoke`, in another process) takes effect this many seconds later at most: a client sending
# request after request is then not asked to wait for the key's lookup, a database round trip of its own, each time.
KEY_TTL_S = 1.0
_KEYS_KEPT = 1024


class KeyCache:
    """Keys found valid in the last KEY_TTL_S seconds. An unknown or revoked key is looked up every time. Requests
    that come together with a key not kept share one lookup: a client's requests come in bursts, and each
    would otherwise look the key up again whenever the second ran out."""

    def __init__(self) -> None:
        self._lookups: dict[str, tuple[float, asyncio.Task[ApiKey | None]]] = {}

    async def authenticate(self, request: Request, key: str) -> ApiKey | None:
        moment = time.monotonic()
        kept = self._lookups.get(key)
        if kept is None or moment - kept[0] >= KEY_TTL_S:
            if len(self._lookups) >= _KEYS_KEPT:
                self._lookups = {k: v for k, v in self._lookups.items() if moment - v[0] < KEY_TTL_S}
            kept = (moment, asyncio.create_task(application.authenticate(request.app.state.context, key)))
            self._lookups[key] = kept
        try:
            # Shielded: a request that goes away must not cancel the lookup the others wait for.
            found = await asyncio.shield(kept[1])
        except Exception:
            self._forget(key, kept)
            raise
        if found is None:
            self._forget(key, kept)
        return found

    def _forget(self, key: str, kept: tuple[float, "asyncio.Task[ApiKey | None]"]) -> None:
        if self._lookups.get(key) is kept:
            del self._lookups[key]


def scope(needed: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: the request's key, if it is valid, of the path's company, and has `needed`."""

    async def check(
        request: Request,
        company_id: CompanyId,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        if credentials is None:
            raise ApiError(401, "UNAUTHORIZED", "an API key is required: Authorization: Bearer <key>")
        keys: KeyCache = request.app.state.keys
        key = await keys.authenticate(request, credentials.credentials)
        if key is None:
            raise ApiError(401, "UNAUTHORIZED", "the API key is not valid (unknown or revoked)")
        if key.company_id != company_id:
            raise ApiError(404, "NOT_FOUND", f"no company {company_id}")
        if not key.allows(needed):
            raise ApiError(403, "FORBIDDEN", f"the API key lacks the scope {needed}")
        return key

    return check
