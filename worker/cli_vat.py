"""`rostersync vat recheck`: run the due VIES rechecks in this process (the worker's cron does the same)."""

from typing import Annotated, Any

import typer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.context import vat_checker
from registry.tables import vat_checks
from worker import console
from worker.cli import Json, app, run_async, settings

vat_app = typer.Typer(no_args_is_help=True, help="VIES checks of customers' VAT numbers.")
app.add_typer(vat_app, name="vat")


async def pending_count(engine: AsyncEngine, company_id: str | None) -> int:
    query = select(func.count()).select_from(vat_checks)
    if company_id is not None:
        query = query.where(vat_checks.c.company_id == company_id)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


@vat_app.command("recheck")
def recheck(
    company: Annotated[str | None, typer.Option("--company", callback=console.company_id)] = None,
    all_pending: Annotated[bool, typer.Option("--all-pending", help="Ignore the next-attempt times.")] = False,
    as_json: Json = False,
) -> None:
    """Ask VIES again for the numbers whose next attempt is due; print how they ended."""
    config = settings()
    if not config.vies_enabled:
        console.fail("VIES is switched off (ROSTERSYNC_VIES_ENABLED=false): checks stay pending")

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        async with vat_checker(config, engine) as vat:
            outcomes = await vat.recheck_due(company_id=company, all_pending=all_pending)
        return {
            "checked": sum(outcomes.values()),
            **{status: outcomes.get(status, 0) for status in ("valid", "invalid", "pending", "unavailable")},
            "still_pending": await pending_count(engine, company),
        }

    result = run_async(work)
    if as_json:
        console.print_json(result)
    else:
        console.out.print(
            f"checked {result['checked']}: {result['valid']} valid, {result['invalid']} invalid, "
            f"{result['pending']} still pending, {result['unavailable']} unavailable after 7 days; "
            f"{result['still_pending']} pending in all",
            markup=False,
        )
