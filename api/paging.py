"""The query parameters every list takes: how many (`limit`) and where to go on (`cursor`, the `next_cursor` of
the page before)."""

from typing import Annotated

from fastapi import Query

Limit = Annotated[int, Query(ge=1, le=200, description="At most this many (1-200).")]
Cursor = Annotated[str | None, Query(max_length=200, description="The previous page's meta.next_cursor.")]
