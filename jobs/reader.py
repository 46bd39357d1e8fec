"""Reading and validating a file in a child process while this process writes.

Reading, mapping and validating a row costs as much Python time as writing it; in one process the two take
turns on one core. A forked child does the reading half and hands over finished batches (validated values as
plain dicts, or rejections) in source order, so "the first row with an org number wins" is still decided by
one reader, exactly as in-process. The pipe's buffer bounds what is read ahead, and memory with it.
"""

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import struct
import traceback
from collections.abc import AsyncGenerator, Iterator, Sequence
from typing import Any

from connectors.csv_source import SourceError
from jobs.batches import Batch, Entry, batches
from jobs.sources import Item, LocalInput
from registry.fields import Kind
from registry.items import Valid

BATCHES_PER_MESSAGE = 8
_HEADER = struct.Struct("!I")  # each message: its length, then a pickle
_END = b""


class ReaderCrashed(Exception):
    """The reading process failed unexpectedly; the message carries its traceback."""


def available() -> bool:
    # The child must start with the opened input and the imported modules as they are: only fork gives that.
    return "fork" in multiprocessing.get_all_start_methods()


async def read_in_child(inp: LocalInput, kind: Kind) -> AsyncGenerator[Batch, None]:
    """The input's batches, read and validated by a child process."""
    read_fd, write_fd = os.pipe()
    child = multiprocessing.get_context("fork").Process(
        target=_read, args=(inp.iter_items(), kind, write_fd, read_fd), daemon=True
    )
    child.start()
    os.close(write_fd)
    # Read by the event loop itself: a thread blocked on the pipe would fight the writers for the GIL.
    stream = asyncio.StreamReader()
    pipe = open(read_fd, "rb", buffering=0)  # noqa: SIM115 - the transport closes it
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stream), pipe
    )
    try:
        while (data := await _receive(stream)) != _END:
            message = pickle.loads(data)  # noqa: S301 - our own child process wrote it
            if isinstance(message, BaseException):
                raise message
            for batch in _unpacked(message):
                yield batch
    finally:
        transport.close()
        if child.is_alive():
            child.kill()
        await asyncio.to_thread(child.join)


async def _receive(stream: asyncio.StreamReader) -> bytes:
    try:
        (size,) = _HEADER.unpack(await stream.readexactly(_HEADER.size))
        return await stream.readexactly(size)
    except asyncio.IncompleteReadError:
        raise ReaderCrashed("the reading process ended without finishing the file") from None


def _read(items: Iterator[Item], kind: Kind, write_fd: int, read_fd: int) -> None:
    os.close(read_fd)  # else the pipe stays open when this process's parent dies, and nothing stops the child
    out = open(write_fd, "wb")  # noqa: SIM115 - closed in the finally below
    group: list[Batch] = []
    failure: BaseException | None = None

    def send(data: bytes) -> None:
        out.write(_HEADER.pack(len(data)))
        out.write(data)
        out.flush()

    try:
        try:
            for batch in batches(items, kind):
                group.append(batch)
                if len(group) == BATCHES_PER_MESSAGE:
                    send(pickle.dumps(_packed(group), protocol=pickle.HIGHEST_PROTOCOL))
                    group = []
        except SourceError as exc:
            failure = exc
        except Exception:  # reported to the parent, which decides
            failure = ReaderCrashed(traceback.format_exc())
        # What was read before a failure goes first, as it would in-process.
        if group:
            send(pickle.dumps(_packed(group), protocol=pickle.HIGHEST_PROTOCOL))
        send(_END if failure is None else pickle.dumps(failure))
    except BrokenPipeError:
        pass  # the parent is gone or stopped reading: nothing to tell
    finally:
        with contextlib.suppress(BrokenPipeError):
            out.close()
        # Skip the interpreter's shutdown: it would run the parent's atexit handlers and finalizers (open
        # database connections among them) in this copy of the process.
        os._exit(0)


# Batches cross the pipe as plain tuples: pickle calls back into Python for every named tuple (twice a row
# here), which cost more than all the rest of the pickling; tuple.__new__ rebuilds them without a Python call.
_Packed = list[tuple[int, str, list[tuple[Any, ...]]]]
_new = tuple.__new__


def _packed(group: Sequence[Batch]) -> _Packed:
    return [
        (b.index, b.raw_json,
         [(*e[:3], tuple(e.outcome) if e.outcome.__class__ is Valid else e.outcome) for e in b.entries])
        for b in group
    ]  # fmt: skip


def _unpacked(message: _Packed) -> list[Batch]:
    return [
        Batch(index, [_new(Entry, (*e[:3], _new(Valid, e[3]) if e[3].__class__ is tuple else e[3])) for e in entries],
              raw_json)
        for index, raw_json, entries in message
    ]  # fmt: skip
