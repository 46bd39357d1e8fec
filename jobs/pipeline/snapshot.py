"""A run reads its file from a private copy taken once, never from the path a person (or a script) can still
write to: replaced by a rename or rewritten in place while it is read, the file would otherwise give rows of two
versions under one run's line numbers.

The copy is hashed as it is made; the hash is the run's record of its version, so a worker (or a resume) that
copies the file again knows whether it still has the version the run started with.
"""

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from connectors.csv_source import SourceError

_BLOCK = 1 << 20
CHANGED = "the file changed since the run started; start a new import"


class Snapshot:
    """The copy (`path`, removed by `close()` or when the snapshot is dropped) of the file `name`."""

    def __init__(self, name: str, copy: "tempfile._TemporaryFileWrapper[bytes]", sha256: str) -> None:
        self.name = name
        self._copy = copy  # the open temporary file: it deletes itself when closed or collected
        self.path = copy.name
        self.sha256 = sha256

    def close(self) -> None:
        self._copy.close()


def take(path: str, *, name: str | None = None, expected_sha256: str | None = None) -> Snapshot:
    """Copy the regular file `path` (named `name` in errors). Raises SourceError when it cannot be read or
    copied, when it changed while it was copied, or when it is not the version `expected_sha256` names."""
    name = name or path
    digest = hashlib.sha256()
    copy = tempfile.NamedTemporaryFile(prefix="rostersync-", suffix=Path(path).suffix)  # noqa: SIM115 - Snapshot owns it
    try:
        # Not blocking: a named pipe put in the file's place must not wait for a writer, forever.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            before = os.fstat(f.fileno())
            if not stat.S_ISREG(before.st_mode):
                raise SourceError(name, "not a regular file")
            for block in iter(lambda: f.read(_BLOCK), b""):
                digest.update(block)
                write_block(copy, block, name)
            after = os.fstat(f.fileno())
        write_block(copy, b"", name)
    except OSError as exc:
        copy.close()
        raise SourceError(name, f"cannot read the file: {exc.strerror}") from None
    except BaseException:
        copy.close()
        raise
    problem = None
    if _version(before) != _version(after) or after.st_size != copy.tell():
        problem = "the file changed while it was read; start a new import"
    elif expected_sha256 is not None and digest.hexdigest() != expected_sha256:
        problem = CHANGED
    if problem is not None:
        copy.close()
        raise SourceError(name, problem)
    return Snapshot(name, copy, digest.hexdigest())


def write_block(copy: "tempfile._TemporaryFileWrapper[bytes]", block: bytes, name: str) -> None:
    """`block` into the copy (flushed, when empty); a full disk is the copy's problem, not the file's."""
    try:
        copy.write(block) if block else copy.flush()
    except OSError as exc:
        raise SourceError(name, f"cannot copy the file to {tempfile.gettempdir()}: {exc.strerror}") from None


def _version(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns
