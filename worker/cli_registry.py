"""`rostersync customers list` / `suppliers list`: the registry as a person may see it (personnummer masked)."""

from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from registry.fields import Kind
from registry.normalize import mask_personnummer
from registry.tables import PARTY_TABLES
from worker import console
from worker.cli import Company, Json, app, run_async

customers_app = typer.Typer(no_args_is_help=True, help="The customer registry.")
suppliers_app = typer.Typer(no_args_is_help=True, help="The supplier registry.")
app.add_typer(customers_app, name="customers")
app.add_typer(suppliers_app, name="suppliers")

# What fits a terminal; --json has every field.
COLUMNS: dict[Kind, tuple[str, ...]] = {
    "customers": ("name", "customer_type", "org_number", "vat_number", "vat_check_status", "country"),
    "suppliers": ("name", "supplier_type", "org_number", "vat_number", "country", "bankgiro", "iban"),
}


async def party_list(engine: AsyncEngine, kind: Kind, company_id: str, include_archived: bool) -> list[dict[str, Any]]:
    table = PARTY_TABLES[kind]
    query = select(table).where(table.c.company_id == company_id).order_by(table.c.created_at, table.c.id)
    if not include_archived:
        query = query.where(table.c.archived_at.is_(None))
    async with engine.connect() as conn:
        rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    for row in rows:
        # A sole trader's org number is their personnummer: never shown in full.
        if row.get("customer_type") == "individual" and row["org_number"]:
            row["org_number"] = mask_personnummer(row["org_number"])
    return rows


def show(kind: Kind, company: str, include_archived: bool, as_json: bool) -> None:
    rows = run_async(lambda engine: party_list(engine, kind, company, include_archived))
    if as_json:
        console.print_json(rows)
        return
    table = Table(*COLUMNS[kind])
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in COLUMNS[kind]))
    console.out.print(table)


IncludeArchived = Annotated[bool, typer.Option("--include-archived")]


@customers_app.command("list")
def customers_list(company: Company, include_archived: IncludeArchived = False, as_json: Json = False) -> None:
    """List a company's customers with their VAT check status."""
    show("customers", company, include_archived, as_json)


@suppliers_app.command("list")
def suppliers_list(company: Company, include_archived: IncludeArchived = False, as_json: Json = False) -> None:
    """List a company's suppliers."""
    show("suppliers", company, include_archived, as_json)
