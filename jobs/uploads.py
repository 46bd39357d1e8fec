"""Uploaded files in the database (the `uploads` and `upload_chunks` tables' one writer): streamed in a chunk
at a time, and read back by a run as a private copy on the worker's own disk (`jobs.pipeline.snapshot`), so the
API process and every worker read the same bytes without sharing a disk."""

import hashlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.csv_source import SourceError
from jobs.errors import NotFound, UploadTooLarge
from jobs.pipeline.snapshot import CHANGED, Snapshot, write_block
from registry.clock import now
from registry.tables import upload_chunks, uploads

CHUNK = 1 << 20
_CHUNKS_A_QUERY = 4


async def store(engine: AsyncEngine, company_id: str, name: str, blocks: AsyncIterator[bytes], limit: int) -> str:
    """Store what `blocks` yields as an upload of `name`; returns its id. Over `limit` bytes, nothing is kept
    and UploadTooLarge says so. Each chunk commits on its own: memory holds one chunk, whatever the file's size."""
    upload_id = uuid.uuid4()
    digest, size, seq, pending = hashlib.sha256(), 0, 0, bytearray()
    async with engine.begin() as conn:
        await conn.execute(
            uploads.insert().values(id=upload_id, company_id=company_id, name=name[:255], size=0, created_at=now())
        )
    try:
        async for block in blocks:
            size += len(block)
            if size > limit:
                raise UploadTooLarge(limit)
            digest.update(block)
            pending += block
            while len(pending) >= CHUNK:
                await _chunk(engine, upload_id, seq, bytes(pending[:CHUNK]))
                del pending[:CHUNK]
                seq += 1
        if pending or seq == 0:
            await _chunk(engine, upload_id, seq, bytes(pending))
        async with engine.begin() as conn:
            done = {"size": size, "sha256": digest.hexdigest(), "completed_at": now()}
            await conn.execute(update(uploads).where(uploads.c.id == upload_id).values(done))
    except BaseException:
        async with engine.begin() as conn:  # an upload cut short (too large, the client went away) is not kept
            await drop(conn, upload_id)
        raise
    return str(upload_id)


async def _chunk(engine: AsyncEngine, upload_id: uuid.UUID, seq: int, data: bytes) -> None:
    async with engine.begin() as conn:
        await conn.execute(upload_chunks.insert().values(upload_id=upload_id, seq=seq, data=data))


async def snapshot(
    engine: AsyncEngine, company_id: str, upload_id: str, *, name: str, expected_sha256: str | None = None
) -> Snapshot:
    """A private copy of a complete upload of the company, streamed out of the database and checked against
    the hash it was stored with (and `expected_sha256`, the run's)."""
    try:
        wanted = uuid.UUID(upload_id)
    except ValueError:
        raise NotFound(f"no upload {upload_id}") from None
    async with engine.connect() as conn:
        found = (
            await conn.execute(
                select(uploads.c.sha256).where(
                    uploads.c.id == wanted, uploads.c.company_id == company_id, uploads.c.completed_at.is_not(None)
                )
            )
        ).first()
        if found is None:
            raise SourceError(name, "the uploaded file is no longer stored (purged, or never completed)")
        copy = tempfile.NamedTemporaryFile(prefix="rostersync-", suffix=Path(name).suffix)  # noqa: SIM115 - Snapshot owns it
        digest = hashlib.sha256()
        try:
            first = 0
            while (last := await _copy_chunks(conn, wanted, first, digest, copy, name)) is not None:
                first = last + 1
            write_block(copy, b"", name)
        except BaseException:
            copy.close()
            raise
    if digest.hexdigest() != found.sha256 or (expected_sha256 is not None and digest.hexdigest() != expected_sha256):
        copy.close()
        raise SourceError(name, CHANGED)
    return Snapshot(name, copy, digest.hexdigest())


async def _copy_chunks(
    conn: AsyncConnection,
    upload_id: uuid.UUID,
    first: int,
    digest: "hashlib._Hash",
    copy: "tempfile._TemporaryFileWrapper[bytes]",
    name: str,
) -> int | None:
    """Copy the upload's next few chunks from `first` on; the last one's seq, None at the end. A few a query,
    not one streamed query: the asyncpg adapter's server-side cursor fetches 50 rows ahead whatever yield_per
    says: 50 MiB of chunks held at once."""
    query = (
        select(upload_chunks.c.seq, upload_chunks.c.data)
        .where(upload_chunks.c.upload_id == upload_id, upload_chunks.c.seq >= first)
        .order_by(upload_chunks.c.seq)
        .limit(_CHUNKS_A_QUERY)
    )
    found = (await conn.execute(query)).all()
    for _, data in found:
        digest.update(data)
        write_block(copy, data, name)
    return found[-1].seq if len(found) == _CHUNKS_A_QUERY else None


async def drop(conn: AsyncConnection, upload_id: uuid.UUID | str) -> None:
    """Delete an upload and its chunks (a purged run's, or one cut short)."""
    await conn.execute(delete(uploads).where(uploads.c.id == uuid.UUID(str(upload_id))))


async def discard(engine: AsyncEngine, upload_id: str) -> None:
    """Delete an upload whose import was refused: nothing of a refused file is kept."""
    async with engine.begin() as conn:
        await drop(conn, upload_id)
