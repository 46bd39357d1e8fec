"""Record ids: random (version 4) UUIDs for a batch of new records, as text, and ids read back as UUIDs."""

import os
import uuid


def new_ids(n: int) -> list[str]:
    """n version-4 UUIDs in their canonical text form, from one read of the system's random source.

    `uuid.uuid4()` makes a system call per id; one read serves a whole batch. The ids travel as text everywhere
    after this (the driver, reports, responses).
    """
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # RFC 4122 variant
    h = raw.hex()
    return [f"{h[o : o + 8]}-{h[o + 8 : o + 12]}-{h[o + 12 : o + 16]}-{h[o + 16 : o + 20]}-{h[o + 20 : o + 32]}"
            for o in range(0, 32 * n, 32)]  # fmt: skip


def as_uuid(value: object) -> uuid.UUID:
    """A UUID, or its text (any form `uuid.UUID` reads), as a UUID; ValueError when the text is no UUID."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
