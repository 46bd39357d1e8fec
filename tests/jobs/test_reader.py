"""Reading and validating in child processes: the same batches as in-process, errors carried over, no orphans."""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from connectors.csv_source import SourceError
from jobs.pipeline import reading
from jobs.pipeline.batches import Batch, FirstLines, batches
from jobs.pipeline.inputs import CsvInput, Item, Wanted
from jobs.pipeline.snapshot import take
from tests.conftest import fork_servers
from tests.fakes.rows import customer_row, write_csv

pytestmark = pytest.mark.skipif(not reading.available(), reason="the reading processes need fork")


def messy_file(tmp_path: Path, rows: int = 180, quoted: bool = False) -> Path:
    extra = [
        customer_row(3),  # the same org number as line 5 of the file: a duplicate
        ["9001", "Trasig AB", "556677-8898", "", "", "", "", "", "", "Sverige", "30", ""],  # bad checksum
        ["9002", "För många", "", "", "", "", "", "", "", "", "", "", "extra value"],  # too many values
    ]
    if quoted:  # a value with the delimiter in it: the file is read by the csv reader, not line by line
        extra[1][6] = "Box 12; Storgatan 1"
    return write_csv(tmp_path / "messy.csv", rows, extra=extra)


async def collect(inp: CsvInput, readers: int = 2) -> list[Batch]:
    first_lines = FirstLines("customers")
    return [first_lines(batch) async for batch in reading.read_in_children(inp, "customers", "acme", readers)]


def same_content(batch: Batch) -> tuple[Any, ...]:
    """A batch without what differs each time it is made: its new rows' ids and timestamps."""
    request = batch.request
    generated = [request.column(c) for c in ("id", "created_at", "updated_at")]
    records = [tuple(v for i, v in enumerate(r) if i not in generated) for r in request.records]
    outcomes = [o._replace(entity_id=None) for o in batch.rows.outcomes()]
    return (batch.index, batch.entries, batch.rows.raw_json, batch.rows.counts, outcomes, request.digest,
            request.size, records, request.positions, request.failed, request.warnings, request.pending)  # fmt: skip


def readers() -> list[psutil.Process]:
    """This process's live children, but for the server the CLI's commands are forked from."""
    return [
        p for p in psutil.Process().children() if p.status() != psutil.STATUS_ZOMBIE and p.pid not in fork_servers()
    ]


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("quoted", [False, True])
async def test_the_children_give_exactly_the_in_process_batches(tmp_path: Path, count: int, quoted: bool) -> None:
    path = messy_file(tmp_path, rows=1180, quoted=quoted)  # two slots and a short one
    assert (CsvInput(take(str(path)), "customers").slots() is None) == quoted
    first_lines = FirstLines("customers")
    items = CsvInput(take(str(path)), "customers").iter_items()
    in_process = [first_lines(b) for b in batches(items, "customers", "acme")]
    from_children = await collect(CsvInput(take(str(path)), "customers"), count)
    assert [same_content(b) for b in from_children] == [same_content(b) for b in in_process]
    assert [b.index for b in from_children] == list(range(24))
    # Named tuples equal plain ones: the types must survive the pipe too.
    assert {type(e).__name__ for b in from_children for e in b.entries} == {"Entry"}
    last = from_children[-1].request
    assert (last.size, len(last.records), len(last.failed)) == (33, 30, 3)
    assert last.failed[30]["message"] == "org number 556000-0035 already exists on line 5 of this file"
    assert readers() == []


class Failing:
    """A file whose reading fails after some rows."""

    headers = ("Namn",)
    total = 1200

    def __init__(self, error: Exception, at: int = 1000) -> None:
        self.error = error
        self.at = at
        self.warnings: list[str] = []

    def iter_items(self, wanted: Wanted | None = None, *, slot: int | None = None) -> Iterator[Item | None]:
        for position in range(self.at):
            n = position + 2
            if wanted is None or wanted(position):
                yield Item(n, [f"Kund {n}"], payload={"name": f"Kund {n}", "country": "NO"})
            else:
                yield None
        raise self.error

    def slots(self) -> None:
        return None

    async def items(self):  # type: ignore[no-untyped-def]  # the protocol's other half, not used here
        raise NotImplementedError


async def test_a_source_error_in_the_children_reaches_the_run_as_it_was(tmp_path: Path) -> None:
    failing = Failing(SourceError("kunder.csv", "truncated quote", line=1002))
    source = reading.read_in_children(failing, "customers", "a")
    seen = []
    with pytest.raises(SourceError) as caught:
        async for batch in source:
            seen.append((batch.index, len(batch.entries)))
    assert str(caught.value) == "kunder.csv, line 1002: truncated quote"
    assert seen == [(i, 50) for i in range(20)]  # what was read before the error still arrives, in order
    assert readers() == []


async def test_an_unexpected_error_in_a_child_is_reported_with_its_traceback() -> None:
    source = reading.read_in_children(Failing(ZeroDivisionError("boom"), at=30), "customers", "a")
    with pytest.raises(reading.ReaderCrashed, match="ZeroDivisionError: boom"):
        async for _ in source:
            pass
    assert readers() == []


async def test_the_children_read_the_runs_copy_not_the_file_rewritten_under_them(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", 2000)
    inp = CsvInput(take(str(path)), "customers")
    assert inp.slots() == 5
    original = path.read_bytes()
    path.write_bytes(original.replace(b"Kund", b"Fake"))  # in place, the same size: other rows
    read = [batch async for batch in reading.read_in_children(inp, "customers", "a", 2)]
    assert sum(len(batch.entries) for batch in read) == 2000
    assert all("Kund" in batch.rows.raw_json and "Fake" not in batch.rows.raw_json for batch in read)
    assert readers() == []


async def test_a_writer_that_stops_early_leaves_no_reading_process(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "big.csv", 20000)
    source = reading.read_in_children(CsvInput(take(str(path)), "customers"), "customers", "a", 2)
    first = await anext(source)
    assert first.index == 0
    assert len(readers()) == 2  # still reading ahead, held back by the pipes
    await source.aclose()
    await asyncio.sleep(0)
    assert readers() == []
