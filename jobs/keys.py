"""A company's API keys (the `api_keys` table's one writer). A key is shown once, when it is made; only its
SHA-256 is stored, which is enough for a random 256-bit secret (a slow hash protects guessable passwords)."""

import hashlib
import secrets
import uuid
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.errors import NotFound, RunError
from jobs.records import SCOPES, ApiKey, NewApiKey
from registry.clock import now
from registry.tables import api_keys

_PREFIX = "rsk_"
_SHOWN = 12  # characters of a key a listing shows


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(given: str) -> tuple[str, ...]:
    """A comma-separated list of scopes, each one of `SCOPES`."""
    scopes = tuple(dict.fromkeys(s.strip() for s in given.split(",") if s.strip()))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise RunError(f"unknown scope {', '.join(unknown) or '(none given)'}: use some of {', '.join(SCOPES)}")
    return scopes


def key_record(row: Row[Any]) -> ApiKey:
    r = row._mapping
    return ApiKey(str(r["id"]), r["company_id"], r["name"], r["prefix"], tuple(r["scopes"]), r["created_at"],
                  r["revoked_at"])  # fmt: skip


async def create(engine: AsyncEngine, company_id: str, scopes: tuple[str, ...], name: str | None) -> NewApiKey:
    key = _PREFIX + secrets.token_urlsafe(32)
    values = {
        "id": uuid.uuid4(),
        "company_id": company_id,
        "name": name,
        "prefix": key[:_SHOWN],
        "key_hash": _digest(key),
        "scopes": list(scopes),
        "created_at": now(),
        "revoked_at": None,
    }
    async with engine.begin() as conn:
        await conn.execute(api_keys.insert().values(values))
        row = (await conn.execute(select(api_keys).where(api_keys.c.id == values["id"]))).one()
    return NewApiKey(key_record(row), key)


async def list_keys(engine: AsyncEngine, company_id: str) -> list[ApiKey]:
    query = select(api_keys).where(api_keys.c.company_id == company_id).order_by(api_keys.c.created_at)
    async with engine.connect() as conn:
        return [key_record(r) for r in await conn.execute(query)]


async def revoke(engine: AsyncEngine, company_id: str, key_id: str) -> ApiKey:
    """Revoke a key (its id, or the first characters a listing shows); revoking a revoked key changes nothing."""
    c = api_keys.c
    which = c.prefix == key_id if key_id.startswith(_PREFIX) else c.id == _as_id(key_id)
    async with engine.begin() as conn:
        await conn.execute(
            update(api_keys).where(c.company_id == company_id, which, c.revoked_at.is_(None)).values(revoked_at=now())
        )
        row = (await conn.execute(select(api_keys).where(c.company_id == company_id, which))).first()
    if row is None:
        raise NotFound(f"no API key {key_id} for company {company_id}")
    return key_record(row)


def _as_id(key_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key_id)
    except ValueError:
        return None


async def authenticate(engine: AsyncEngine, key: str) -> ApiKey | None:
    """The key's record if it is one of ours and not revoked."""
    if not key.startswith(_PREFIX):
        return None
    query = select(api_keys).where(api_keys.c.key_hash == _digest(key), api_keys.c.revoked_at.is_(None))
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return key_record(row) if row is not None else None
