"""The operator CLI `rostersync`: this module only assembles the command groups, one module each."""

from typing import Annotated

import typer

from worker.cli import company, connections, imports, keys, registry, runs, system, vat

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help: a flag shows as a flag, with no type column
    help="Import and sync customers and suppliers.",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # 40 ms to import: only for --version

        typer.echo(f"rostersync {version('rostersync')}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Import and sync customers and suppliers."""


app.add_typer(imports.app)
app.add_typer(runs.app)
app.add_typer(runs.runs_app, name="runs")
app.add_typer(connections.sync_app)
app.add_typer(system.app)
app.add_typer(registry.customers_app, name="customers")
app.add_typer(registry.suppliers_app, name="suppliers")
app.add_typer(connections.app, name="connections")
app.add_typer(vat.app, name="vat")
app.add_typer(company.app, name="company")
app.add_typer(keys.app, name="keys")
app.add_typer(system.db_app, name="db")
