"""`rostersync customers list` / `suppliers list`: the registry as a person may see it (personnummer masked)."""

from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from jobs import app as application
from jobs.records import Kind, PartyPage, PartyQuery
from worker.cli.common import Company, Json, out, print_json, run_async

customers_app = typer.Typer(no_args_is_help=True, help="The customer registry.")
suppliers_app = typer.Typer(no_args_is_help=True, help="The supplier registry.")

# What fits a terminal; --json has every field.
COLUMNS: dict[Kind, tuple[str, ...]] = {
    "customers": ("name", "customer_type", "org_number", "vat_number", "vat_check_status", "country"),
    "suppliers": ("name", "supplier_type", "org_number", "vat_number", "country", "bankgiro", "iban"),
}

IncludeArchived = Annotated[bool, typer.Option("--include-archived", help="Archived records too.")]
Search = Annotated[str | None, typer.Option("--search", help="Only names or org numbers containing this.")]
Limit = Annotated[int | None, typer.Option("--limit", min=1, help="Show at most this many (a table: 50; --json: all).")]
TABLE_ROWS = 50  # what a person reads on a terminal; a program asking for JSON gets every record


def show(query: PartyQuery, as_json: bool) -> None:
    page = run_async(lambda ctx: application.list_parties(ctx, query), create=False, empty=lambda: PartyPage([], 0))
    if as_json:
        print_json(page.records)
        return
    table = Table(*COLUMNS[query.kind])
    for row in page.records:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in COLUMNS[query.kind]))
    out.print(table)
    if page.more:
        out.print(f"... and {page.more} more of {page.total}: --limit {page.total} shows them all", markup=False)


def list_command(kind: Kind, summary: str) -> Callable[..., None]:
    def list_(
        company: Company,
        search: Search = None,
        include_archived: IncludeArchived = False,
        limit: Limit = None,
        as_json: Json = False,
    ) -> None:
        limit = limit if limit is not None or as_json else TABLE_ROWS
        show(PartyQuery(kind, company, search, include_archived, limit), as_json)

    list_.__doc__ = summary
    return list_


customers_app.command("list")(list_command("customers", "List a company's customers with their VAT check status."))
suppliers_app.command("list")(list_command("suppliers", "List a company's suppliers."))
