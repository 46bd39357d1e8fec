"""`rostersync company`: a company's import settings."""

from typing import Annotated

import typer

from jobs import app as application
from jobs.records import CompanySettings
from worker.cli.common import Company, Json, out, print_json, run_async

app = typer.Typer(no_args_is_help=True, help="A company's import settings.")


def _show(found: CompanySettings, as_json: bool) -> None:
    if as_json:
        print_json(found.to_json())
    else:
        out.print(f"company {found.company_id}: default country {found.default_country or '(none)'}", markup=False)


@app.command("show")
def show(company: Company, as_json: Json = False) -> None:
    """Print the company's settings."""
    found = run_async(
        lambda ctx: application.company_settings(ctx, company),
        create=False,
        empty=lambda: CompanySettings(company, None),
    )
    _show(found, as_json)


@app.command("set")
def set_(
    company: Company,
    default_country: Annotated[
        str, typer.Option("--default-country", help="Country of CSV rows that name none, e.g. SE; 'none' clears it.")
    ],
    as_json: Json = False,
) -> None:
    """Change the company's settings."""
    country = None if default_country.strip().lower() in ("none", "") else default_country
    _show(run_async(lambda ctx: application.set_default_country(ctx, company, country)), as_json)
