"""Reading and validating a file in forked child processes while this process writes: a row costs more Python
time to read, map and validate than to write.

The input is cut into slots of SLOT_ROWS items; child k of n takes slots k, k+n, k+2n, ... It reads only those
where the file's slots can be read on their own, else the whole file (cheap next to validating it), mapping and
validating only its own. This process takes the slots back in order, so the batches, and the in-file duplicate
rule applied here, come out exactly as in-process. Each pipe's buffer bounds how far its child reads ahead, and
memory with it.
"""

import asyncio
import contextlib
import fcntl
import multiprocessing
import os
import pickle
import struct
import traceback
from collections.abc import AsyncGenerator, Sequence
from dataclasses import fields
from functools import partial
from typing import Any, BinaryIO

from connectors.csv_source import SourceError
from jobs.ledger.run_rows import BatchRows, Counts
from jobs.pipeline.batches import Batch, Entry, batches
from jobs.pipeline.inputs import SLOT_ROWS, LocalInput
from registry.bulk import MAX_ITEMS
from registry.fields import Kind
from registry.plan import Prepared

BATCHES_PER_SLOT = SLOT_ROWS // MAX_ITEMS
_HEADER = struct.Struct("!I")  # each message: its length, then a pickle
_END = b""


class ReaderCrashed(Exception):
    """A reading process failed unexpectedly; the message carries its traceback."""


def available() -> bool:
    # The children must start with the opened input and the imported modules as they are: only fork gives that.
    return "fork" in multiprocessing.get_all_start_methods()


async def read_in_children(
    inp: LocalInput, kind: Kind, company_id: str, readers: int = 2
) -> AsyncGenerator[Batch, None]:
    """The input's batches, read and planned by `readers` child processes, in order."""
    context = multiprocessing.get_context("fork")
    pipes = [os.pipe() for _ in range(readers)]
    for _, write_fd in pipes:
        _widen(write_fd)
    children = [
        context.Process(target=_read, args=(inp, kind, company_id, k, readers, write_fd, pipes), daemon=True)
        for k, (_, write_fd) in enumerate(pipes)
    ]
    streams: list[asyncio.StreamReader] = []
    transports: list[asyncio.ReadTransport] = []
    try:
        for child in children:
            child.start()
        for read_fd, write_fd in pipes:
            os.close(write_fd)
            stream, transport = await _reading(read_fd)
            streams.append(stream)
            transports.append(transport)
        slot = 0
        while (batches_of_slot := await _next_slot(streams[slot % readers])) is not None:
            for batch in batches_of_slot:
                yield batch
            if len(batches_of_slot) < BATCHES_PER_SLOT or len(batches_of_slot[-1].entries) < MAX_ITEMS:
                # A short slot is its reader's last: the end of the input, or the error that stopped it.
                if await _next_slot(streams[slot % readers]) is not None:
                    raise ReaderCrashed("a reading process went on after a short slot")
                return
            slot += 1
    finally:
        for opened in transports:
            opened.close()
        for child in children:
            if child.is_alive():
                child.kill()
        await asyncio.gather(*(asyncio.to_thread(child.join) for child in children if child.pid is not None))


PIPE_BYTES = 1 << 20


def _widen(fd: int) -> None:
    """Let a pipe hold a few slots, so a child and the writer do not keep waiting for each other. Linux only;
    elsewhere, or above the system's limit, the pipe stays as it is."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


async def _reading(fd: int) -> tuple[asyncio.StreamReader, asyncio.ReadTransport]:
    """A pipe read by the event loop itself: a thread blocked on a pipe would fight the writers for the GIL."""
    stream = asyncio.StreamReader()
    pipe = open(fd, "rb", buffering=0)  # noqa: SIM115 - the transport closes it
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stream), pipe
    )
    return stream, transport


async def _next_slot(stream: asyncio.StreamReader) -> list[Batch] | None:
    """A child's next slot of batches; None at the end; its error raised."""
    data = await _receive(stream)
    if data == _END:
        return None
    message = pickle.loads(data)  # noqa: S301 - our own child process wrote it
    if isinstance(message, BaseException):
        raise message
    return _unpacked(message)


async def _receive(stream: asyncio.StreamReader) -> bytes:
    try:
        (size,) = _HEADER.unpack(await stream.readexactly(_HEADER.size))
        return await stream.readexactly(size)
    except asyncio.IncompleteReadError:
        raise ReaderCrashed("a reading process ended without finishing the file") from None


def _read(
    inp: LocalInput, kind: Kind, company_id: str, k: int, n: int, write_fd: int, pipes: Sequence[tuple[int, int]]
) -> None:
    """Child k of n: its slots' batches, in order, then the end or the error that stopped it, sent to write_fd."""
    _close_others(write_fd, pipes)
    out = open(write_fd, "wb")  # noqa: SIM115 - closed in the finally below
    slot: list[Batch] = []
    failure: BaseException | None = None
    try:
        try:
            _read_share(inp, kind, company_id, k, n, out, slot)
        except SourceError as exc:
            failure = exc
        except Exception:  # reported to the parent, which decides
            failure = ReaderCrashed(traceback.format_exc())
        # What was read before a failure goes first, as it would in-process; a last slot may be short.
        if slot:
            _send_slot(out, slot)
        _send(out, _END if failure is None else pickle.dumps(failure))
    except BrokenPipeError:
        pass  # the parent is gone or stopped reading: nothing to tell
    finally:
        with contextlib.suppress(BrokenPipeError):
            out.close()
        # Skip the interpreter's shutdown: it would run the parent's atexit handlers and finalizers (open
        # database connections among them) in this copy of the process.
        os._exit(0)


def _close_others(write_fd: int, pipes: Sequence[tuple[int, int]]) -> None:
    for read_fd, other_write_fd in pipes:
        # Else a pipe stays open when this process's parent dies, and nothing stops the child.
        os.close(read_fd)
        if other_write_fd != write_fd:
            os.close(other_write_fd)


def _read_share(inp: LocalInput, kind: Kind, company_id: str, k: int, n: int, out: BinaryIO, slot: list[Batch]) -> None:
    """Sends child k of n's full slots; a short last slot, or what was read before an error, stays in `slot`."""
    if (slots := inp.slots()) is not None:
        # Each slot is read on its own: this process reads only its share of the file.
        for number in range(k, slots, n):
            for batch in batches(inp.iter_items(slot=number), kind, company_id, number * SLOT_ROWS):
                slot.append(batch)
            _send_slot(out, slot)
        return

    def mine(position: int) -> bool:
        return (position // (MAX_ITEMS * BATCHES_PER_SLOT)) % n == k

    for batch in batches(inp.iter_items(mine), kind, company_id):
        slot.append(batch)
        if len(slot) == BATCHES_PER_SLOT:
            _send_slot(out, slot)


def _send_slot(out: BinaryIO, slot: list[Batch]) -> None:
    """Sends the slot's batches and empties it; a failed send leaves them in it."""
    _send(out, pickle.dumps(_packed(slot), protocol=pickle.HIGHEST_PROTOCOL))
    slot.clear()


def _send(out: BinaryIO, data: bytes) -> None:
    out.write(_HEADER.pack(len(data)))
    out.write(data)
    out.flush()


# Batches cross the pipe as plain tuples: pickle calls back into Python for every named tuple and dataclass;
# tuple.__new__ rebuilds them without a Python call.
_Packed = list[tuple[Any, ...]]
_entry = partial(tuple.__new__, Entry)


def _packed(group: Sequence[Batch]) -> _Packed:
    return [(b.index, list(map(tuple, b.entries)), _plain(b.request), _plain(b.rows), _plain(b.rows.counts))
            for b in group]  # fmt: skip


def _unpacked(message: _Packed) -> list[Batch]:
    return [
        Batch(index, list(map(_entry, entries)), Prepared(*request), _rows(rows, counts))
        for index, entries, request, rows, counts in message
    ]  # fmt: skip


def _rows(rows: tuple[Any, ...], counts: tuple[int, ...]) -> BatchRows:
    index, outcomes_json, raw_json, _, max_row = rows
    return BatchRows(index, outcomes_json, raw_json, Counts(*counts), max_row)


def _plain(instance: Any) -> tuple[Any, ...]:
    """A dataclass's fields as a tuple, not copied (`dataclasses.astuple` copies every value, deeply)."""
    return tuple(getattr(instance, f.name) for f in fields(instance))
