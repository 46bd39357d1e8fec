"""Connected CRMs: where they are, how to find their credential at run time, and when they sync next.

The database stores only a reference to the secret ("env:VAR" or "file:/path"), never the secret itself. A
lease on the connection row keeps two syncs of one connection from overlapping, whatever started them.
"""

import os
import re
import uuid
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.errors import NotFound, RunError, SyncBusy
from jobs.ledger.runs import owner_is_dead
from jobs.records import NewConnection
from registry.clock import now
from registry.ids import as_uuid
from registry.tables import connections

_EVERY = re.compile(r"([0-9]+)\s*([smhd]?)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EVERY_RANGE_S = (60, 7 * 86400)


def parse_every(text: str) -> int:
    """'15m', '1h', '90s' or '2d' → seconds, from a minute to a week. The unit is required: a bare number
    has been read as minutes by one person and as seconds by the next."""
    plain = text.strip().lower()
    match = _EVERY.fullmatch(plain)
    if match is None:
        raise ValueError(f"invalid --every {text!r}: a number and a unit (s, m, h or d), e.g. 15m, 1h, 1d")
    digits, unit = match.groups()
    if not unit:
        raise ValueError(f"--every {text!r} needs a unit: s, m, h or d (e.g. {digits}m for minutes)")
    # A number of more than nine digits is out of range whatever its unit (and int() of thousands of them fails).
    seconds = int(digits) * _UNITS[unit] if len(digits.lstrip("0")) <= 9 else EVERY_RANGE_S[1] + 1
    if not EVERY_RANGE_S[0] <= seconds <= EVERY_RANGE_S[1]:
        raise ValueError(f"--every {text!r} is out of range: from 1m to 7d")
    return seconds


def credential(ref: str) -> SecretStr:
    """Read the secret a connection points at; the error names where it looked, never a value."""
    source, _, where = ref.partition(":")
    if source == "env":
        value = os.environ.get(where)
        if not value:
            raise RunError(f"the credential variable {where} is not set")
        return SecretStr(value)
    if source == "file":
        try:
            return SecretStr(Path(where).read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise RunError(f"cannot read the credential file {where}: {exc.strerror}") from None
    raise RunError(f"unknown credential reference {ref!r}")


async def add(engine: AsyncEngine, new: NewConnection) -> uuid.UUID:
    from connectors.crm import CONNECTORS  # the HTTP clients: only when a connection is added

    if new.connector not in CONNECTORS:
        raise RunError(f"unknown connector {new.connector!r}: use one of {', '.join(sorted(CONNECTORS))}")
    connection_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            connections.insert().values(
                {
                    **asdict(new),
                    "id": connection_id,
                    "base_url": new.base_url.rstrip("/"),
                    "next_sync_at": now(),
                    "created_at": now(),
                }
            )
        )
    return connection_id


async def get(engine: AsyncEngine, connection_id: str | uuid.UUID, company_id: str | None = None) -> RowMapping:
    try:
        cid = as_uuid(connection_id)
    except ValueError:
        raise NotFound(f"{connection_id!r} is not a connection id") from None
    async with engine.connect() as conn:
        row = (await conn.execute(select(connections).where(connections.c.id == cid))).mappings().first()
    if row is None or (company_id is not None and row["company_id"] != company_id):
        raise NotFound(f"no connection {connection_id}")
    return row


async def list_all(engine: AsyncEngine, company_id: str | None = None) -> list[RowMapping]:
    query = select(connections).order_by(connections.c.created_at)
    if company_id is not None:
        query = query.where(connections.c.company_id == company_id)
    async with engine.connect() as conn:
        return list((await conn.execute(query)).mappings())


async def remove(engine: AsyncEngine, connection_id: str, company_id: str | None = None) -> None:
    row = await get(engine, connection_id, company_id)
    async with engine.begin() as conn:
        await conn.execute(delete(connections).where(connections.c.id == row["id"]))


async def due(engine: AsyncEngine) -> list[uuid.UUID]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(connections.c.id).where(connections.c.next_sync_at <= now()))
        return [r for (r,) in rows]


async def acquire(engine: AsyncEngine, connection_id: uuid.UUID, owner: str, lease_s: float) -> RowMapping:
    """Take the connection for one sync, or say who has it."""
    row = await get(engine, connection_id)
    expired = or_(connections.c.lease_owner.is_(None), connections.c.lease_expires_at < now())
    if row["lease_owner"] and owner_is_dead(row["lease_owner"]):
        expired = or_(expired, connections.c.lease_owner == row["lease_owner"])
    async with engine.begin() as conn:
        taken = await conn.execute(
            update(connections)
            .where(connections.c.id == connection_id, expired)
            .values(lease_owner=owner, lease_expires_at=now() + timedelta(seconds=lease_s))
        )
    if taken.rowcount != 1:
        raise SyncBusy(f"connection {connection_id} is being synced by {row['lease_owner']}")
    return await get(engine, connection_id)


async def renew(engine: AsyncEngine, connection_id: uuid.UUID, owner: str, lease_s: float) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(connections)
            .where(connections.c.id == connection_id, connections.c.lease_owner == owner)
            .values(lease_expires_at=now() + timedelta(seconds=lease_s))
        )


async def release(engine: AsyncEngine, connection_id: uuid.UUID, owner: str, **values: Any) -> None:
    """Give the connection back, recording how the sync ended (and, if it completed, the new cursor)."""
    async with engine.begin() as conn:
        await conn.execute(
            update(connections)
            .where(connections.c.id == connection_id, connections.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None, **values)
        )
