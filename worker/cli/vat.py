"""`rostersync vat recheck`: run the due VIES rechecks in this process (the worker's cron does the same)."""

from typing import Annotated

import typer

from jobs import app as application
from worker.cli.common import AnyCompany, Json, fail, out, print_json, run_async, settings

app = typer.Typer(no_args_is_help=True, help="VIES checks of customers' VAT numbers.")


@app.command("recheck")
def recheck(
    company: AnyCompany = None,
    all_pending: Annotated[bool, typer.Option("--all-pending", help="Ignore the next-attempt times.")] = False,
    as_json: Json = False,
) -> None:
    """Ask VIES again for the numbers whose next attempt is due; print how they ended."""
    if not settings().vies_enabled:
        fail("VIES is switched off (ROSTERSYNC_VIES_ENABLED=false): checks stay pending")
    result = run_async(lambda ctx: application.recheck_vat(ctx, company, all_pending=all_pending), vies=True)
    if as_json:
        print_json(result.to_json())
    else:
        out.print(
            f"checked {result.checked}: {result.valid} valid, {result.invalid} invalid, "
            f"{result.pending} still pending, {result.unavailable} unavailable after 7 days; "
            f"{result.still_pending} pending in all",
            markup=False,
        )
