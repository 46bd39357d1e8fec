"""Reading and validating in a child process: the same batches as in-process, errors carried over, no orphans."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from connectors.csv_source import SourceError
from jobs import reader
from jobs.batches import Batch, batches
from jobs.sources import CsvInput, Item
from tests.fakes.rows import customer_row, write_csv

pytestmark = pytest.mark.skipif(not reader.available(), reason="the reading process needs fork")


def messy_file(tmp_path: Path) -> Path:
    extra = [
        customer_row(3),  # the same org number as line 5 of the file: a duplicate
        ["9001", "Trasig AB", "556677-8898", "", "", "", "", "", "", "Sverige", "30", ""],  # bad checksum
        ["9002", "För många", "", "", "", "", "", "", "", "", "", "", "extra value"],  # too many values
    ]
    return write_csv(tmp_path / "messy.csv", 180, extra=extra)


async def collect(inp: CsvInput) -> list[Batch]:
    return [batch async for batch in reader.read_in_child(inp, "customers")]


def readers() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if p.status() != psutil.STATUS_ZOMBIE]


async def test_the_child_gives_exactly_the_in_process_batches(tmp_path: Path) -> None:
    path = messy_file(tmp_path)
    in_process = list(batches(CsvInput(str(path), "customers").iter_items(), "customers"))
    from_child = await collect(CsvInput(str(path), "customers"))
    assert from_child == in_process
    # Named tuples equal plain ones: the types must survive the pipe too.
    kinds = [(type(e).__name__, type(e.outcome).__name__) for b in from_child for e in b.entries]
    outcomes = [type(e.outcome).__name__ for b in in_process for e in b.entries]
    assert kinds == [("Entry", name) for name in outcomes]
    assert len(outcomes) == 183 and outcomes.count("Rejected") == 3
    assert readers() == []


class Failing:
    """A file whose reading fails after some rows."""

    headers = ("Namn",)
    total = 120

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.warnings: list[str] = []

    def iter_items(self) -> Iterator[Item]:
        for n in range(2, 102):
            yield Item(n, [f"Kund {n}"], payload={"name": f"Kund {n}", "country": "NO"})
        raise self.error

    async def items(self):  # type: ignore[no-untyped-def]  # the protocol's other half, not used here
        raise NotImplementedError


async def test_a_source_error_in_the_child_reaches_the_run_as_it_was(tmp_path: Path) -> None:
    source = reader.read_in_child(Failing(SourceError("kunder.csv", "truncated quote", line=102)), "customers")
    seen = []
    with pytest.raises(SourceError) as caught:
        async for batch in source:
            seen.append(batch.index)
    assert str(caught.value) == "kunder.csv, line 102: truncated quote"
    assert seen == [0, 1]  # what was read before the error still arrives, in order
    assert readers() == []


async def test_an_unexpected_error_in_the_child_is_reported_with_its_traceback() -> None:
    source = reader.read_in_child(Failing(ZeroDivisionError("boom")), "customers")
    with pytest.raises(reader.ReaderCrashed, match="ZeroDivisionError: boom"):
        async for _ in source:
            pass


async def test_a_writer_that_stops_early_leaves_no_reading_process(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "big.csv", 5000)
    source = reader.read_in_child(CsvInput(str(path), "customers"), "customers")
    first = await anext(source)
    assert first.index == 0
    assert len(readers()) == 1  # still reading ahead, held back by the pipe
    await source.aclose()
    await asyncio.sleep(0)
    assert readers() == []
