"""Signed-in browsers of the web importer (the `web_sessions` table's one writer). The browser holds a random
session id; only its SHA-256 is stored, and the API key it was opened with is never handed back to the browser.
A session ends when it expires, when it is closed, or when its key is revoked."""

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs import keys
from jobs.records import WebSession
from registry.clock import now
from registry.tables import api_keys, web_sessions

LIFETIME = timedelta(hours=8)  # a working day; signing in again is one paste of the key


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def open_session(engine: AsyncEngine, key: str) -> tuple[str, WebSession] | None:
    """A new session for a valid key: its id (for the cookie, shown once) and the session; None for a bad key."""
    record = await keys.authenticate(engine, key)
    if record is None:
        return None
    session_id, csrf, opened = secrets.token_urlsafe(32), secrets.token_urlsafe(32), now()
    async with engine.begin() as conn:
        # Expired sessions go when new ones come, so the table holds about one per signed-in browser.
        await conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < opened))
        values = {"id_hash": _digest(session_id), "key_id": uuid.UUID(record.key_id), "csrf": csrf,
                  "created_at": opened, "expires_at": opened + LIFETIME}  # fmt: skip
        await conn.execute(web_sessions.insert().values(values))
    return session_id, WebSession(record, csrf)


async def find(engine: AsyncEngine, session_id: str) -> WebSession | None:
    """The live session with this id, if its key is still valid."""
    query = (
        select(api_keys, web_sessions.c.csrf)
        .join(web_sessions, web_sessions.c.key_id == api_keys.c.id)
        .where(
            web_sessions.c.id_hash == _digest(session_id),
            web_sessions.c.expires_at > now(),
            api_keys.c.revoked_at.is_(None),
        )
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return WebSession(keys.key_record(row), row.csrf) if row is not None else None


async def close(engine: AsyncEngine, session_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(web_sessions).where(web_sessions.c.id_hash == _digest(session_id)))
