"""Connected CRMs: where they are, how to find their credential at run time, and when they sync next.

The database stores only a reference to the secret, never the secret itself: "env:ROSTERSYNC_CRED_…" (a
variable) or "file:/path" (a file inside the configured secrets directory). Nothing else is accepted, when a
connection is added or when its secret is read, so a connection can reach only a secret meant for one and
never, say, the database URL. A lease on the connection row keeps two syncs of one connection from
overlapping, whatever started them.
"""

import ipaddress
import os
import re
import uuid
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.errors import NotFound, RunError, SyncBusy
from jobs.ledger.runs import WORKER_TAG, owner_is_dead
from jobs.records import NewConnection
from jobs.settings import Settings
from registry.clock import now, utc
from registry.ids import as_uuid
from registry.tables import connections

_EVERY = re.compile(r"([0-9]+)\s*([smhd]?)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EVERY_RANGE_S = (60, 7 * 86400)
CREDENTIAL_VARIABLES = "ROSTERSYNC_CRED_"
_CREDENTIAL_VARIABLE = re.compile(CREDENTIAL_VARIABLES + r"[A-Za-z0-9_]+")


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


def _secret_file(where: str, settings: Settings) -> tuple[Path, Path]:
    """The file a "file:" reference names (a relative one: inside the secrets directory): as given, made
    absolute, and with every `..` and symlink resolved. RunError unless the resolved file lies inside the
    resolved secrets directory: the comparison is of resolved paths, so neither `..` nor a link leads out."""
    secrets_dir = settings.secrets_dir
    if secrets_dir is None:
        raise RunError(f"credential file {where} refused: no secrets directory is configured (ROSTERSYNC_SECRETS_DIR)")
    given = secrets_dir.absolute() / where
    try:
        base, path = secrets_dir.resolve(), given.resolve()
    except (OSError, RuntimeError):  # a symlink loop, say
        raise RunError(f"credential file {where} refused: it cannot be resolved") from None
    if path == base or not path.is_relative_to(base):
        raise RunError(f"credential file {where} refused: only files inside the secrets directory {secrets_dir}")
    return given, path


def check_credential_ref(ref: str, settings: Settings) -> str:
    """The reference as it is stored: "env:ROSTERSYNC_CRED_…", or "file:" with the file's absolute path inside
    the secrets directory (links in it kept: mounted secrets are links that are swapped on rotation).
    Anything else raises RunError, one line naming the reference; no value is read."""
    source, _, where = ref.partition(":")
    if source == "env":
        if not _CREDENTIAL_VARIABLE.fullmatch(where):
            raise RunError(
                f"credential variable {where!r} refused: only variables named {CREDENTIAL_VARIABLES}* hold credentials"
            )
        return ref
    if source == "file" and where:
        given, _ = _secret_file(where, settings)
        return f"file:{given}"
    raise RunError(f"unknown credential reference {ref!r}")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, settings: Settings) -> str:
    """The base URL as it is stored (no trailing "/"), if a credential may be sent there: http(s) with a host,
    no user name or password in it, and plain http only to this machine unless `allow_plain_http`."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        raise RunError("base URL refused: it is not a URL") from None
    if parts.username is not None or parts.password is not None:
        # Not echoed: the password would be in the message.
        raise RunError("base URL refused: it holds a user name or password; a secret goes in the credential reference")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RunError(f"base URL {text!r} refused: give an http(s) URL with a host")
    if parts.scheme == "http" and not settings.allow_plain_http and not _is_loopback(parts.hostname):
        raise RunError(
            f"base URL {text!r} refused: the credential would travel unencrypted; use https "
            "(plain http only to this machine, unless ROSTERSYNC_ALLOW_PLAIN_HTTP=true)"
        )
    return text.rstrip("/")


def credential(ref: str, settings: Settings | None = None) -> SecretStr:
    """Read the secret a connection points at; the error names where it looked, never a value.

    The reference is checked again first, against `settings` (default: the process's environment, which is
    where every face reads its settings from): a row stored before these rules, or a secrets directory moved
    since, fails the sync without the value being read."""
    settings = settings if settings is not None else Settings()
    source, _, where = check_credential_ref(ref, settings).partition(":")
    if source == "env":
        value = os.environ.get(where)
        if not value:
            raise RunError(f"the credential variable {where} is not set")
        return SecretStr(value)
    _, path = _secret_file(where, settings)
    try:
        # The resolved path that was checked, not the stored one: a link swapped since is not followed.
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise RunError(f"cannot read the credential file {where}: {exc.strerror}") from None


async def add(engine: AsyncEngine, new: NewConnection, settings: Settings | None = None) -> uuid.UUID:
    """Store a connection whose credential reference and base URL pass the rules of `settings` (default: the
    process's environment); RunError, one line, for any that does not."""
    from connectors.crm import CONNECTORS  # the HTTP clients: only when a connection is added

    if new.connector not in CONNECTORS:
        raise RunError(f"unknown connector {new.connector!r}: use one of {', '.join(sorted(CONNECTORS))}")
    settings = settings if settings is not None else Settings()
    new = replace(
        new,
        base_url=check_base_url(new.base_url, settings),
        credential_ref=check_credential_ref(new.credential_ref, settings),
    )
    connection_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            connections.insert().values(
                {
                    **asdict(new),
                    "id": connection_id,
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


async def orphaned_by_workers(engine: AsyncEngine) -> list[tuple[uuid.UUID, datetime]]:
    """Connections a queue worker was syncing whose lease ran out, with the moment it ran out."""
    c = connections.c
    query = select(c.id, c.lease_expires_at).where(c.lease_owner.like(f"%{WORKER_TAG}"), c.lease_expires_at < now())
    async with engine.connect() as conn:
        return [(connection_id, utc(expired)) for connection_id, expired in await conn.execute(query)]
