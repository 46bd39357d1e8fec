"""Reading and validating a file in a child process while this process writes.

Reading, mapping and validating a row costs as much Python time as writing it; in one process the two take
turns on one core. A forked child does the reading half and hands over finished batches (validated values as
plain dicts, or rejections) in source order, so "the first row with an org number wins" is still decided by
one reader, exactly as in-process. The pipe's buffer bounds what is read ahead, and memory with it.
"""

import asyncio
import multiprocessing
import os
import pickle
import traceback
from collections.abc import AsyncGenerator, Iterator
from multiprocessing.connection import Connection

from connectors.csv_source import SourceError
from jobs.batches import Batch, batches
from jobs.sources import Item, LocalInput
from registry.fields import Kind

BATCHES_PER_MESSAGE = 8
_END = b""


class ReaderCrashed(Exception):
    """The reading process failed unexpectedly; the message carries its traceback."""


def available() -> bool:
    # The child must start with the opened input and the imported modules as they are: only fork gives that.
    return "fork" in multiprocessing.get_all_start_methods()


async def read_in_child(inp: LocalInput, kind: Kind) -> AsyncGenerator[Batch, None]:
    """The input's batches, read and validated by a child process."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_read, args=(inp.iter_items(), kind, send, receive), daemon=True)
    child.start()
    send.close()
    try:
        while (data := await asyncio.to_thread(_receive, receive)) != _END:
            message = pickle.loads(data)  # noqa: S301 - our own child process wrote it
            if isinstance(message, BaseException):
                raise message
            for batch in message:
                yield batch
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        await asyncio.to_thread(child.join)


def _receive(receive: Connection) -> bytes:
    try:
        return receive.recv_bytes()
    except EOFError:
        raise ReaderCrashed("the reading process ended without finishing the file") from None


def _read(items: Iterator[Item], kind: Kind, send: Connection, receive: Connection) -> None:
    receive.close()  # else the pipe stays open when this process's parent dies, and nothing stops the child
    group: list[Batch] = []
    failure: BaseException | None = None
    try:
        try:
            for batch in batches(items, kind):
                group.append(batch)
                if len(group) == BATCHES_PER_MESSAGE:
                    send.send_bytes(pickle.dumps(group, protocol=pickle.HIGHEST_PROTOCOL))
                    group = []
        except SourceError as exc:
            failure = exc
        except Exception:  # reported to the parent, which decides
            failure = ReaderCrashed(traceback.format_exc())
        # What was read before a failure goes first, as it would in-process.
        if group:
            send.send_bytes(pickle.dumps(group, protocol=pickle.HIGHEST_PROTOCOL))
        send.send_bytes(_END if failure is None else pickle.dumps(failure))
    except BrokenPipeError:
        pass  # the parent is gone or stopped reading: nothing to tell
    finally:
        send.close()
        # Skip the interpreter's shutdown: it would run the parent's atexit handlers and finalizers (open
        # database connections among them) in this copy of the process.
        os._exit(0)
