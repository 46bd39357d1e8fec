"""What bulk-create asks of the database: `Store`, with one implementation per backend (`registry.store_pg`
for Postgres, `registry.store_sql` for SQLite). Every operation runs in the caller's transaction."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class Insertion:
    """Keys to claim and the records that go with them, for one transaction."""

    claims: Sequence[tuple[str, str, str]]  # (key, request hash, response to store) each
    now: datetime
    table: Table
    records: Sequence[tuple[Any, ...]]  # all the table's columns, in order
    owners: Sequence[int]  # each record's key, as its 1-based position in `claims`
    optimistic: bool = False  # the caller expects the org numbers to be new (the outcome is the same either way)


Claimed = tuple[set[str], set[str]]  # the keys claimed now, the ids inserted


class Store(Protocol):
    async def claim_and_insert(self, conn: AsyncConnection, company_id: str, batch: Insertion) -> Claimed:
        """Claim the batch's idempotency keys and insert the records of the keys claimed now, skipping records
        whose org number exists. Returns the keys claimed now and the ids inserted, as text."""
        ...

    async def hold(self, conn: AsyncConnection, company_id: str, key: str) -> bool:
        """Take an idempotency key for this transaction; False while another transaction holds it (the same
        request still in flight)."""
        ...

    async def claim(self, conn: AsyncConnection, company_id: str, key: str, digest: str, now: datetime) -> bool:
        """Claim a key for a request that writes no records through `claim_and_insert` (a PATCH); False when
        it was claimed before. Its response is saved with `save_responses`."""
        ...

    async def stored(self, conn: AsyncConnection, company_id: str, key: str) -> tuple[str, dict[str, Any]]:
        """The request hash and the response a claimed key stored."""
        ...

    async def save_responses(self, conn: AsyncConnection, company_id: str, responses: Mapping[str, str]) -> None:
        """Replace the stored responses (JSON texts) of keys claimed in this transaction."""
        ...

    async def append(self, conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows (all with the same keys) that cannot conflict: the caller owns their keys. Ids may be
        given as text; the rows are the caller's scratch dicts, which a backend may change."""
        ...

    async def existing_org_numbers(
        self, conn: AsyncConnection, table: Table, company_id: str, org_numbers: Sequence[str]
    ) -> set[str]:
        """Which of the org numbers the company's customers or suppliers (`table`) hold already."""
        ...

    async def matching(
        self, conn: AsyncConnection, table: Table, company_id: str, keys: "Keys"
    ) -> list[tuple[Any, ...]]:
        """The company's records (all the table's columns, in order; the id as text) holding any of these org
        numbers, own numbers (customer or supplier numbers) or VAT numbers, or with any of these ids."""
        ...


@dataclass(frozen=True, slots=True)
class Keys:
    """What a group of rows may match existing records by (each list without None)."""

    org_numbers: list[str]
    numbers: list[str]  # customer_number or supplier_number
    vat_numbers: list[str]
    ids: list[str]  # records known by id: the ones an earlier run made from the rows

    def __bool__(self) -> bool:
        return bool(self.org_numbers or self.numbers or self.vat_numbers or self.ids)
