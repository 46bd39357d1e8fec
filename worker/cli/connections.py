"""`rostersync connections ...` and `rostersync sync CONNECTION_ID`."""

from collections.abc import Awaitable, Callable
from typing import Annotated

import typer

from jobs import app as application
from jobs.context import Context
from jobs.records import NewConnection, SyncSummary
from worker.cli.common import AnyCompany, Company, Json, err, fail, listing, out, print_json, run_async

app = typer.Typer(no_args_is_help=True, help="Connected CRMs synced on a schedule.")
sync_app = typer.Typer()


@app.command("add")
def add(
    company: Company,
    connector: Annotated[str, typer.Option("--connector", help="economic, faktoora, visma, visma-eaccounting")],
    base_url: Annotated[str, typer.Option("--base-url")],
    credential_env: Annotated[
        str | None, typer.Option("--credential-env", help="Variable holding the secret: ROSTERSYNC_CRED_<NAME>.")
    ] = None,
    credential_file: Annotated[
        str | None,
        typer.Option("--credential-file", help="File holding the secret, inside ROSTERSYNC_SECRETS_DIR."),
    ] = None,
    every: Annotated[str, typer.Option("--every", help="How often: 15m, 1h, 1d.")] = "15m",
    home_country: Annotated[
        str | None, typer.Option("--home-country", help="e-conomic: the agreement's country.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Connect a company's CRM. Only where to find the secret is stored, never the secret; the base URL is https
    (plain http only to this machine, unless ROSTERSYNC_ALLOW_PLAIN_HTTP=true)."""
    if (credential_env is None) == (credential_file is None):
        fail("give exactly one of --credential-env VAR or --credential-file PATH")
    ref = f"env:{credential_env}" if credential_env else f"file:{credential_file}"
    try:
        every_s = application.parse_every(every)
    except ValueError as exc:
        fail(str(exc))
    options = {"home_country": home_country.upper()} if home_country else {}
    new = NewConnection(company, connector, base_url, ref, every_s, options)
    connection = run_async(lambda ctx: application.add_connection(ctx, new))
    if as_json:
        print_json({"connection_id": connection.connection_id})
    else:
        out.print(f"connection {connection.connection_id}: {connector} for {company}, every {every}", markup=False)


@app.command("list")
def list_(company: AnyCompany = None, as_json: Json = False) -> None:
    """List connections with their schedule and how the last sync ended."""
    for c in listing(lambda ctx: application.list_connections(ctx, company), as_json) or []:
        out.print(
            f"{c.connection_id}  {c.company_id}  {c.connector}  every {c.every_s // 60} min  "
            f"last {c.last_status or 'never'} {c.last_sync_at or ''}  next {c.next_sync_at}",
            markup=False,
        )


@app.command("remove")
def remove(connection_id: str) -> None:
    """Disconnect; registry records stay, their links to the CRM go."""
    run_async(lambda ctx: application.remove_connection(ctx, connection_id), create=False)
    err.print(f"removed connection {connection_id}", markup=False)


@sync_app.command("sync")
def sync_(
    connection_id: str,
    full: Annotated[bool, typer.Option("--full", help="Read everything, not only what changed.")] = False,
    queue: Annotated[bool, typer.Option("--queue", help="Hand the sync to `rostersync worker`.")] = False,
    as_json: Json = False,
) -> None:
    """Sync one connection now: create new records, update changed ones, skip the rest."""
    if queue:
        result = run_async(lambda ctx: application.enqueue_sync(ctx, connection_id, full=full), create=False)
    else:
        result = run_async(_sync_now(connection_id, full), create=False, vies=True, http=True)
    if as_json:
        print_json(result.to_json())
    else:
        _print_sync(result)
    raise typer.Exit(result.exit_code)


def _sync_now(connection_id: str, full: bool) -> Callable[[Context], Awaitable[SyncSummary]]:
    async def work(ctx: Context) -> SyncSummary:
        return await application.sync(ctx, connection_id, full=full)

    return work


def _print_sync(result: SyncSummary) -> None:
    line = f"sync of {result.connection_id}: {result.status}"
    if result.ran:
        totals = result.to_json()
        line += (
            f" - {totals['created']} created, {totals['updated']} updated ({totals['archived']} archived), "
            f"{totals['skipped']} skipped, {totals['failed']} failed"
        )
    out.print(line, markup=False)
    if result.error:
        err.print(f"error: {result.error}", markup=False)
