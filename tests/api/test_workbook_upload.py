"""A workbook uploaded over HTTP imports as from the CLI: its extension says what it is, `sheet` and `header_row`
choose what is read."""

import io

import openpyxl

from tests.api.conftest import Served
from tests.api.test_imports_api import ACME, finished
from tests.fakes.workbooks import customers_sheet

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_an_uploaded_workbooks_named_sheet_is_imported(api: Served) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Info"
    book.active.append(["Exporterad", "2026-12-01"])
    customers_sheet(book.create_sheet("Kunder"), 20)  # the header on row 4
    body = io.BytesIO()
    book.save(body)
    with api.client(api.key("acme", "imports:write,customers:read")) as http:
        made = http.post(
            f"{ACME}/imports",
            files={"file": ("kunder.xlsx", body.getvalue(), XLSX)},
            data={"kind": "customers", "sheet": "Kunder", "header_row": "4"},
        )
        assert made.status_code == 201, made.text
        run = finished(http, made.json()["data"]["id"])
        assert (run["state"], run["created"], run["source_name"]) == ("succeeded", 20, "kunder.xlsx")
        rows = http.get(f"{ACME}/imports/{run['id']}/rows").json()["data"]
        assert rows[0]["row_number"] == 5
