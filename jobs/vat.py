"""VIES checks of customers' VAT numbers: right after commit, then durable rechecks until VIES answers.

Every checked number ends as valid, invalid, or pending with a next attempt; never "invalid" because VIES was
down. Pending checks live in `vat_checks` (written with the customer by bulk-create); answers are cached in
`vies_results` for a TTL, so a number shared by many customers is asked once.
"""

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.vies_answers import ViesAnswer, ViesError
from registry.clock import utc
from registry.ids import as_uuid
from registry.tables import customers, vat_checks, vies_results

if TYPE_CHECKING:
    from connectors.vies import ViesClient

SCHEDULE = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=6))
DAILY = timedelta(days=1)
GIVE_UP_AFTER = timedelta(days=7)
# VIES's verdict that the number itself is not acceptable: an answer, not an outage.
INVALID_CODES = frozenset({"INVALID_INPUT"})
NOT_IN_VIES = frozenset({"NOT_IN_VIES"})
MEMORY = 50_000  # answers a checker remembers (one process; the database cache is the shared one)


@dataclass(frozen=True, slots=True)
class Check:
    customer_id: str
    company_id: str
    vat_number: str
    attempts: int
    first_attempt_at: datetime


def next_attempt(attempts: int, now: datetime) -> datetime:
    """When to ask again after `attempts` unanswered attempts."""
    return now + (SCHEDULE[attempts - 1] if attempts <= len(SCHEDULE) else DAILY)


class VatChecker:
    """Checks VAT numbers against VIES and records the outcome on the customer. One per process."""

    def __init__(
        self,
        engine: AsyncEngine,
        client: "ViesClient | None",
        *,
        cache_ttl: timedelta = timedelta(hours=24),
        max_outstanding: int = 2000,
    ) -> None:
        self.engine = engine
        self.client = client  # None: VIES is switched off, checks stay pending
        self.cache_ttl = cache_ttl
        self._room = asyncio.Semaphore(max_outstanding)
        self._tasks: set[asyncio.Task[Counter[str]]] = set()
        self._answered: dict[str, tuple[ViesAnswer, datetime]] = {}
        self.outcomes: Counter[str] = Counter()

    async def submit(self, company_id: str, created: Iterable[Mapping[str, Any]], now: datetime) -> None:
        """Check the pending customers just committed, in the background (the import goes on meanwhile).

        Waits only when `max_outstanding` checks are already in flight, which bounds memory."""
        if self.client is None:
            return
        for data in created:
            if data.get("vat_check_status") != "pending":
                continue
            await self._room.acquire()
            check = Check(data["id"], company_id, data["vat_number"], 0, now)
            task = asyncio.create_task(self.settle([check]))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: "asyncio.Task[Counter[str]]") -> None:
        self._tasks.discard(task)
        self._room.release()
        if not task.cancelled() and task.exception() is None:
            self.outcomes.update(task.result())

    async def drain(self) -> Counter[str]:
        """Wait for every submitted check; returns the outcomes so far."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        return self.outcomes

    async def recheck_due(
        self, *, company_id: str | None = None, all_pending: bool = False, limit: int = 5000
    ) -> Counter[str]:
        """Run the checks whose next attempt is due (with `all_pending`, every pending one), `limit` at a time."""
        total: Counter[str] = Counter()
        if self.client is None:
            return total
        # VIES's own availability board: states it reports unavailable go straight to pending this round.
        with contextlib.suppress(ViesError):
            await self.client.check_status()
        if all_pending:
            async with self.engine.begin() as conn:
                await conn.execute(_scoped(update(vat_checks), company_id).values(next_attempt_at=datetime.now(UTC)))
        # Each claim moves its checks' next attempt ahead, so the loop ends when nothing is due any more.
        while due := await self._claim(company_id, limit):
            total.update(await self.settle(due))
        return total

    async def _claim(self, company_id: str | None, limit: int) -> list[Check]:
        """Take due checks by moving their next attempt a little ahead, so another process running rechecks
        at the same moment leaves them alone."""
        now = datetime.now(UTC)
        query = _scoped(select(vat_checks), company_id).where(vat_checks.c.next_attempt_at <= now)
        async with self.engine.begin() as conn:
            rows = (await conn.execute(query.order_by(vat_checks.c.next_attempt_at).limit(limit))).mappings().all()
            if rows:
                await conn.execute(
                    update(vat_checks)
                    .where(vat_checks.c.customer_id.in_([r["customer_id"] for r in rows]))
                    .values(next_attempt_at=now + SCHEDULE[0])
                )
        return [
            Check(str(r["customer_id"]), r["company_id"], r["vat_number"], r["attempts"], utc(r["first_attempt_at"]))
            for r in rows
        ]

    async def settle(self, checks: Sequence[Check]) -> Counter[str]:
        """Answer from the cache or VIES, then record each outcome; returns how many ended how."""
        assert self.client is not None
        numbers = {c.vat_number for c in checks}
        async with self.engine.connect() as conn:
            answers: dict[str, ViesAnswer | ViesError] = dict(await self._cached(conn, numbers))
        missing = sorted(numbers - answers.keys())
        fetched = dict(zip(missing, await asyncio.gather(*(self._ask(n) for n in missing)), strict=True))
        answers.update(fetched)
        return await self._record(checks, answers, fetched)

    async def _ask(self, number: str) -> ViesAnswer | ViesError:
        assert self.client is not None
        # Answers this process got but may not have committed to the cache yet: without this, a check that
        # starts between VIES answering and the commit would ask again.
        known = self._answered.get(number)
        if known is not None and datetime.now(UTC) - known[1] < self.cache_ttl:
            return known[0]
        try:
            answer = await self.client.check(number)
        except ViesError as exc:
            return exc
        if len(self._answered) >= MEMORY:
            self._answered.clear()
        self._answered[number] = (answer, datetime.now(UTC))
        return answer

    async def _cached(self, conn: AsyncConnection, numbers: set[str]) -> dict[str, ViesAnswer]:
        fresh = datetime.now(UTC) - self.cache_ttl
        rows = await conn.execute(
            select(vies_results).where(vies_results.c.vat_number.in_(numbers), vies_results.c.checked_at > fresh)
        )
        return {r.vat_number: ViesAnswer(r.vat_number, r.valid, r.name, r.address, utc(r.checked_at)) for r in rows}

    async def _record(
        self,
        checks: Sequence[Check],
        answers: Mapping[str, ViesAnswer | ViesError],
        fetched: Mapping[str, ViesAnswer | ViesError],
    ) -> Counter[str]:
        now = datetime.now(UTC)
        verdicts: list[dict[str, Any]] = []
        retries: list[dict[str, Any]] = []
        gave_up: list[dict[str, Any]] = []
        outcomes: Counter[str] = Counter()
        for check in checks:
            answer = answers[check.vat_number]
            key = {"cid": check.customer_id, "company": check.company_id, "vat": check.vat_number}
            if isinstance(answer, ViesAnswer):
                status = "valid" if answer.valid else "invalid"
                verdicts.append({**key, "status": status, "validated": answer.valid})
            elif answer.code in INVALID_CODES:
                status = "invalid"
                verdicts.append({**key, "status": status, "validated": False})
            elif answer.code in NOT_IN_VIES:
                status = "not_applicable"
                verdicts.append({**key, "status": status, "validated": False})
            elif now - check.first_attempt_at >= GIVE_UP_AFTER:
                status = "unavailable"
                gave_up.append({**key, "status": status, "validated": False, "error": answer.code})
            else:
                # Transient, cooling down, or an operational refusal (blocked IP, requester info): ask later.
                status = "pending"
                attempts = check.attempts + 1
                retries.append(
                    {
                        "cid": check.customer_id,
                        "vat": check.vat_number,
                        "attempts": attempts,
                        "error": answer.code,
                        "next": next_attempt(attempts, now),
                    }
                )
            outcomes[status] += 1
        async with self.engine.begin() as conn:
            await self._store_answers(conn, fetched, now)
            if verdicts or gave_up:
                await conn.execute(
                    update(customers)
                    .where(
                        customers.c.id == bindparam("cid_uuid"),
                        customers.c.company_id == bindparam("company"),
                        customers.c.vat_number == bindparam("vat"),  # unchanged since the check was asked
                    )
                    .values(
                        vat_check_status=bindparam("status"),
                        vat_number_validated=bindparam("validated"),
                        vat_checked_at=now,
                        updated_at=now,
                    ),
                    [{**v, "cid_uuid": as_uuid(v["cid"])} for v in verdicts + gave_up],
                )
                # Keyed by the number too: if the customer got a new number meanwhile, its new check stays.
                await conn.execute(
                    delete(vat_checks).where(
                        vat_checks.c.customer_id == bindparam("cid_uuid"), vat_checks.c.vat_number == bindparam("vat")
                    ),
                    [{"cid_uuid": as_uuid(v["cid"]), "vat": v["vat"]} for v in verdicts + gave_up],
                )
            if retries:
                await conn.execute(
                    update(vat_checks)
                    .where(
                        vat_checks.c.customer_id == bindparam("cid_uuid"), vat_checks.c.vat_number == bindparam("vat")
                    )
                    .values(
                        attempts=bindparam("attempts"),
                        next_attempt_at=bindparam("next"),
                        last_error=bindparam("error"),
                    ),
                    [{**r, "cid_uuid": as_uuid(r["cid"])} for r in retries],
                )
        return outcomes

    @staticmethod
    async def _store_answers(
        conn: AsyncConnection, fetched: Mapping[str, ViesAnswer | ViesError], now: datetime
    ) -> None:
        """Cache what VIES just answered (errors are not answers), keyed by the number as we store it."""
        fresh = {number: a for number, a in fetched.items() if isinstance(a, ViesAnswer)}
        if not fresh:
            return
        # Upsert: concurrent checks of one number (in-flight sharing gives them the same answer) both land here.
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(vies_results)
        upsert = insert.on_conflict_do_update(
            index_elements=[vies_results.c.vat_number],
            set_={c: insert.excluded[c] for c in ("valid", "name", "address", "checked_at")},
        )
        await conn.execute(
            upsert,
            [
                {"vat_number": number, "valid": a.valid, "name": a.name, "address": a.address, "checked_at": now}
                for number, a in fresh.items()
            ],
        )


def _scoped(statement: Any, company_id: str | None) -> Any:
    return statement if company_id is None else statement.where(vat_checks.c.company_id == company_id)


async def pending_count(engine: AsyncEngine, company_id: str | None = None) -> int:
    """How many checks wait for VIES (of one company, or of all)."""
    async with engine.connect() as conn:
        return int((await conn.execute(_scoped(select(func.count()).select_from(vat_checks), company_id))).scalar_one())
