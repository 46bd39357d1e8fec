"""A workbook through the application layer, as the HTTP upload and the web importer send it: stored in the
database, its sheet chosen by an option, and read again the same way by a resume."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from jobs import app
from jobs.ledger import run_rows, runs
from jobs.records import ImportRequest
from registry.tables import customers
from tests.conftest import app_context
from tests.fakes.workbooks import customers_sheet
from tests.jobs.test_import import ROWS_RECORDED, Died, scalar


async def blocks_of(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 65536):
        yield data[start : start + 65536]


async def test_an_uploaded_workbooks_sheet_is_imported_and_resumed_as_it_was_read(engine: Any, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Info"
    book.active.append(["Exporterad", "2026-12-01"])
    customers_sheet(book.create_sheet("Kunder"), 400)  # under a title block: the header on row 4
    path = tmp_path / "kunder.xlsx"
    book.save(path)
    request = ImportRequest("kunder.xlsx", "acme", "customers", sheet="Kunder")
    started = await app.import_upload(app_context(engine), request, blocks_of(path.read_bytes()))
    run = await runs.get_run(engine, started.run.run_id)
    assert (run["total"], run["options"]["sheet"], run["options"]["header_row"]) == (400, "Kunder", 4)
    commits = 0

    def die_midway(processed: int) -> None:
        nonlocal commits
        commits += 1
        if commits == 2:
            raise Died

    with pytest.raises(Died):
        await app.process(app_context(engine, batches_per_commit=2), started, progress=die_midway)
    assert 0 < await scalar(engine, ROWS_RECORDED) < 400

    resumed = await app.resume(app_context(engine), started.run.run_id)  # reads the upload from the database
    assert (resumed.status, resumed.created) == ("succeeded", 400)
    assert await scalar(engine, select(func.count()).select_from(customers)) == 400
    async with engine.connect() as conn:
        numbers = sorted(o.row_number for o in await run_rows.outcomes(conn, [run["id"]]))
    assert numbers == list(range(5, 405))  # the workbook's row numbers, each once
