"""`rostersync keys`: a company's API keys for `rostersync serve`."""

from typing import Annotated

import typer

from jobs import app as application
from jobs.records import SCOPES, ApiKey
from worker.cli.common import Company, Json, listing, out, print_json, run_async

app = typer.Typer(no_args_is_help=True, help="API keys for the HTTP API (rostersync serve).")


def _line(key: ApiKey) -> str:
    state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
    name = f" {key.name}" if key.name else ""
    return f"{key.key_id}  {key.prefix}…  {state}  {','.join(key.scopes)}{name}"


@app.command("create")
def create(
    company: Company,
    scopes: Annotated[str, typer.Option("--scopes", help=f"Comma-separated, of: {', '.join(SCOPES)}.")],
    name: Annotated[str | None, typer.Option("--name", help="What the key is for, to tell it apart.")] = None,
    as_json: Json = False,
) -> None:
    """Make a key and print it, once: only its hash is kept."""
    made = run_async(lambda ctx: application.create_key(ctx, company, scopes, name))
    if as_json:
        print_json(made.to_json())
        return
    out.print(made.key, markup=False)
    out.print(f"key {made.record.key_id} for company {company}: {','.join(made.record.scopes)}", markup=False)
    out.print("It is shown only now: keep it where secrets are kept.", markup=False)


@app.command("list")
def list_(company: Company, as_json: Json = False) -> None:
    """The company's keys (never the keys themselves)."""
    found = listing(lambda ctx: application.list_keys(ctx, company), as_json)
    for key in found or []:
        out.print(_line(key), markup=False)
    if found == []:
        out.print(f"no API keys for company {company}", markup=False)


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, or the first characters `keys list` shows.")],
    company: Company,
    as_json: Json = False,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    key = run_async(lambda ctx: application.revoke_key(ctx, company, key_id))
    if as_json:
        print_json(key.to_json())
    else:
        out.print(_line(key), markup=False)
