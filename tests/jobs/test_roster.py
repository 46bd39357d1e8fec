"""The import benchmark's roster (tests/fakes/roster.py) is the mix it says, and imports as it says."""

from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from stdnum.util import get_cc_module

from registry.tables import customers
from tests.fakes.roster import MIX, ROSTER_HEADERS, roster, write_roster
from tests.jobs.test_import import do_import, row_outcomes

VAT, COUNTRY = ROSTER_HEADERS.index("Momsregistreringsnummer"), ROSTER_HEADERS.index("Land")


def test_every_hundred_rows_hold_the_mix_and_one_failing_row() -> None:
    rows = list(roster(1000))
    for start in range(0, 1000, 100):
        hundred = rows[start : start + 100]
        assert Counter(r.kind for r in hundred) == MIX
        assert sum(r.fails for r in hundred) == 1
    assert len({r.kind for r in rows if r.fails}) > 1  # any kind of row may fail
    assert len({r.cells[0] for r in rows}) == 1000  # customer numbers
    numbers = [r.cells[VAT] for r in rows if r.cells[VAT]]
    assert len(set(numbers)) == len(numbers)
    eu_states = {r.cells[VAT][:2] for r in rows if r.kind == "eu"}
    assert len(eu_states) >= 8
    assert all(r.cells[VAT] for r in rows if r.kind == "eu")  # every EU business gives its VAT number
    swedish_vat = sum(1 for r in rows if r.kind == "swedish" and r.cells[VAT])
    assert 0.2 < swedish_vat / MIX["swedish"] / 10 < 0.5
    for r in rows:
        if r.cells[VAT] and not r.fails:
            prefix = r.cells[VAT][:2]
            module = get_cc_module({"EL": "gr"}.get(prefix, prefix.lower()), "vat")
            assert module is not None and module.is_valid(r.cells[VAT]), r


async def test_exactly_the_failing_rows_fail_and_a_second_import_skips_the_rest(pg_engine: Any, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    mix = write_roster(path, 1000)
    first = await do_import(pg_engine, path)
    outcomes = await row_outcomes(pg_engine, first.id)
    failing = {n + 2 for n, r in enumerate(roster(1000)) if r.fails}  # line 1 is the header
    assert {n for n, (status, *_) in outcomes.items() if status == "failed"} == failing
    assert (first.created, first.failed) == (1000 - mix["failing"], mix["failing"])
    async with pg_engine.connect() as conn:
        by_type = dict(
            (
                await conn.execute(select(customers.c.customer_type, func.count()).group_by(customers.c.customer_type))
            ).all()
        )
        pending = await conn.scalar(select(func.count()).where(customers.c.vat_check_status == "pending"))
    eu_created = sum(1 for r in roster(1000) if r.kind == "eu" and not r.fails)
    assert by_type["eu_business"] == pending == eu_created
    assert by_type["individual"] == sum(1 for r in roster(1000) if r.kind == "sole_trader" and not r.fails)
    again = await do_import(pg_engine, path)
    assert (again.created, again.updated, again.skipped, again.failed) == (0, 0, first.created, first.failed)
