"""What every command group shares: options, opening the application's context, and how results are printed
(one JSON object with --json, else a progress bar on a terminal and a short summary)."""

import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated, Any, NoReturn, Protocol, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import DBAPIError, OperationalError

from jobs.context import Context, NoDatabase, NotMigrated, database_failure, open_context
from jobs.errors import DatabaseLost, RunError, SourceError
from jobs.records import RunSummary
from jobs.settings import Settings

T = TypeVar("T")
COMPANY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
NAMED_DELIMITERS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}  # for --delimiter

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Exit with one line on stderr: what could not be done and why."""
    err.print(f"rostersync: {message}", markup=False)
    raise typer.Exit(code)


def company_id(value: str | None) -> str | None:
    if value is not None and not COMPANY_ID.fullmatch(value):
        fail(f"invalid --company {value!r}: use 1-64 letters, digits, '-' or '_'")
    return value


class KindOption(StrEnum):
    customers = "customers"
    suppliers = "suppliers"


Company = Annotated[str, typer.Option("--company", callback=company_id, help="Tenant id.")]
AnyCompany = Annotated[
    str | None, typer.Option("--company", callback=company_id, help="Only this tenant's (default: all).")
]
Json = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout: one object (a listing: an array of them).")
]


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        # A validator's own sentence, without pydantic's "Value error, " before it.
        reason = str(error["ctx"]["error"]) if "error" in error.get("ctx", {}) else error["msg"]
        fail(f"invalid configuration: ROSTERSYNC_{str(error['loc'][0]).upper()}: {reason}")


def run_async(
    work: Callable[[Context], Awaitable[T]],
    *,
    migrate: bool = True,
    create: bool = True,
    vies: bool = False,
    http: bool = False,
    empty: Callable[[], T] | None = None,
    offline: Callable[[], Awaitable[T]] | None = None,
    as_json: bool = False,
) -> T:
    """Open the context, run `work`, close it; turn every expected failure into one line and exit code 2.
    `create=False`: a read-only command, which never creates the embedded database; where there is none yet,
    its answer is `empty()` (a listing of nothing), `offline()` (work that can do without one), or the reason.
    A run that lost its database is printed as last known with `as_json`, as a finished one would be."""

    async def main() -> T:
        try:
            async with open_context(settings(), migrate=migrate, create=create, vies=vies, http=http) as context:
                return await work(context)
        except NoDatabase:
            if offline is None:
                raise
            return await offline()

    try:
        return asyncio.run(main())
    except NoDatabase as exc:
        if empty is None:
            fail(str(exc))
        return empty()
    except BrokenPipeError:
        raise  # not the database: whoever read our output stopped reading; click ends quietly
    except DatabaseLost as exc:
        if as_json and exc.run is not None:
            print_json(exc.run.to_json())
        fail(str(exc))
    except (SourceError, RunError, NotMigrated) as exc:
        fail(str(exc))
    except (OperationalError, DBAPIError, OSError) as exc:
        # The driver's message can contain the URL; say what failed without it.
        fail(f"cannot use the database: {database_failure(exc)}")


def print_json(data: Mapping[str, Any] | list[Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


class _Record(Protocol):
    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Record)


def listing(work: Callable[[Context], Awaitable[list[R]]], as_json: bool) -> list[R] | None:
    """A read-only listing to draw; with --json it is printed here as one array, and None is left to draw."""
    found: list[R] = run_async(work, create=False, empty=list)
    if as_json:
        print_json([record.to_json() for record in found])
        return None
    return found


def print_run(run: RunSummary) -> None:
    kind = "dry run" if run.dry_run else "run"
    out.print(
        f"{kind} {run.run_id}: {run.status} - {run.created} created, {run.updated} updated, "
        f"{run.skipped} skipped, {run.failed} failed of {run.total} rows",
        markup=False,
    )
    if run.warned:
        out.print(
            f"{run.warned} of them with warnings (stored as supplied): rostersync report {run.run_id}", markup=False
        )
    for warning in run.warnings:
        err.print(f"warning: {warning}", markup=False)
    if run.error:
        err.print(f"error: {run.error}", markup=False)
    if run.stale:
        err.print(
            f"not being worked on: its process stopped; continue it with: rostersync resume {run.run_id}", markup=False
        )
    if run.failed:
        out.print(f"failed rows: rostersync report {run.run_id} --failed-only -o failed.csv", markup=False)


def finish(run: RunSummary, as_json: bool) -> NoReturn:
    """Print a finished run and end the process with its exit code.

    By now the run is in the database, its engine is closed and its reading processes have ended; the
    interpreter's own teardown of every library would only delay the exit."""
    if as_json:
        print_json(run.to_json())
    else:
        print_run(run)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(run.exit_code)


@contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """Yields a callback taking the rows processed so far; draws only on a terminal."""
    if not enabled or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("rows", total=total)

        def update(processed: int) -> None:
            progress.update(task, completed=processed)

        yield update
