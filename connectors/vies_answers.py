"""What a VIES check gives: an answer, or an error that says why there is none.

Apart from the client (`connectors.vies`), so that code that only handles outcomes does not import an HTTP
stack: most commands never call VIES.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True, slots=True)
class ViesAnswer:
    """VIES answered. `valid=False` is a result, not an error."""

    vat_number: str  # as checked, with the VIES prefix, e.g. "EL094259216"
    valid: bool
    name: str | None  # None when VIES withholds it ("---")
    address: str | None
    request_date: datetime | None


class ViesError(Exception):
    """No answer. `code` is VIES's error code or ours (HTTP_503, TIMEOUT, CONNECT, NETWORK, MALFORMED...)."""

    def __init__(self, code: str, message: str = "", *, response: httpx.Response | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.response = response


class ViesTransientError(ViesError):
    """Try again later: VIES or a member state is unavailable or busy, a timeout, a broken connection/body."""


class ViesPermanentError(ViesError):
    """Retrying the same request cannot help (bad input, blocked number or IP, GB numbers, other 4xx)."""


class ViesSkipped(ViesTransientError):
    """Not called at all: the member state (or VIES as a whole) is cooling down after repeated failures."""
