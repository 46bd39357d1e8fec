"""`rostersync connections ...` and `rostersync sync CONNECTION_ID`."""

from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from jobs.context import vat_checker
from jobs.ledger import runs
from jobs.sync import connections
from worker import console
from worker.cli import Company, Json, app, run_async, settings

connections_app = typer.Typer(no_args_is_help=True, help="Connected CRMs synced on a schedule.")
app.add_typer(connections_app, name="connections")


@connections_app.command("add")
def add(
    company: Company,
    connector: Annotated[str, typer.Option("--connector", help="economic, faktoora, visma, visma-eaccounting")],
    base_url: Annotated[str, typer.Option("--base-url")],
    credential_env: Annotated[str | None, typer.Option("--credential-env", help="Variable holding the secret.")] = None,
    credential_file: Annotated[str | None, typer.Option("--credential-file", help="File holding the secret.")] = None,
    every: Annotated[str, typer.Option("--every", help="How often: 15m, 1h, 1d.")] = "15m",
    home_country: Annotated[
        str | None, typer.Option("--home-country", help="e-conomic: the agreement's country.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Connect a company's CRM. Only where to find the secret is stored, never the secret."""
    if (credential_env is None) == (credential_file is None):
        console.fail("give exactly one of --credential-env VAR or --credential-file PATH")
    ref = f"env:{credential_env}" if credential_env else f"file:{credential_file}"
    try:
        every_s = connections.parse_every(every)
    except ValueError as exc:
        console.fail(str(exc))
    options = {"home_country": home_country.upper()} if home_country else {}
    connection_id = run_async(
        lambda engine: connections.add(
            engine, company_id=company, connector=connector, base_url=base_url, credential_ref=ref,
            every_s=every_s, options=options,
        )
    )  # fmt: skip
    if as_json:
        console.print_json({"connection_id": str(connection_id)})
    else:
        console.out.print(f"connection {connection_id}: {connector} for {company}, every {every}", markup=False)


@connections_app.command("list")
def list_(
    company: Annotated[str | None, typer.Option("--company", callback=console.company_id)] = None,
    as_json: Json = False,
) -> None:
    """List connections with their schedule and how the last sync ended."""
    rows = [_plain(r) for r in run_async(lambda engine: connections.list_all(engine, company))]
    if as_json:
        console.print_json(rows)
        return
    for r in rows:
        console.out.print(
            f"{r['connection_id']}  {r['company_id']}  {r['connector']}  every {r['every_s'] // 60} min  "
            f"last {r['last_status'] or 'never'} {r['last_sync_at'] or ''}  next {r['next_sync_at']}",
            markup=False,
        )


def _plain(row: Any) -> dict[str, Any]:
    keys = ("company_id", "connector", "base_url", "credential_ref", "every_s", "last_status")
    out: dict[str, Any] = {"connection_id": str(row["id"]), **{k: row[k] for k in keys}}
    for key in ("cursor", "last_sync_at", "next_sync_at"):
        value = runs.aware(row[key])
        out[key] = value.isoformat() if value else None
    return out


@connections_app.command("remove")
def remove(connection_id: str) -> None:
    """Disconnect; registry records stay, their links to the CRM go."""
    run_async(lambda engine: connections.remove(engine, connection_id))
    console.err.print(f"removed connection {connection_id}", markup=False)


@app.command("sync")
def sync_(
    connection_id: str,
    full: Annotated[bool, typer.Option("--full", help="Read everything, not only what changed.")] = False,
    queue: Annotated[bool, typer.Option("--queue", help="Hand the sync to `rostersync worker`.")] = False,
    as_json: Json = False,
) -> None:
    """Sync one connection now: create new records, update changed ones, skip the rest."""
    config = settings()

    async def work(engine: AsyncEngine) -> dict[str, Any]:
        row = await connections.get(engine, connection_id)
        if queue:
            from worker.arq_worker import enqueue_sync

            queued = await enqueue_sync(config, row["id"], full=full)
            return {"connection_id": str(row["id"]), "status": "queued" if queued else "already queued"}
        import httpx  # here: every other command starts without an HTTP stack

        from jobs.sync.crm import sync

        async with vat_checker(config, engine) as vat, httpx.AsyncClient(timeout=60) as http:
            return await sync(engine, row["id"], http=http, vat=vat, full=full)

    result = run_async(work)
    if as_json:
        console.print_json(result)
    else:
        console.out.print(
            f"sync of {result['connection_id']}: {result['status']}"
            + (
                f" - {result['created']} created, {result['updated']} updated ({result['archived']} archived), "
                f"{result['skipped']} skipped, {result['failed']} failed"
                if "created" in result
                else ""
            ),
            markup=False,
        )
        if result.get("error"):
            console.err.print(f"error: {result['error']}", markup=False)
    code = 0 if result["status"] in ("succeeded", "queued", "already queued") else 1
    raise typer.Exit(2 if result.get("error") and not result.get("processed") else code)
