"""What the CLI prints: one JSON object with --json, else a progress bar on a terminal and a short summary."""

import json
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

from jobs.ledger.run_rows import Counts

COMPANY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

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


def print_json(data: Mapping[str, Any] | list[Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def exit_code(summary: Mapping[str, Any]) -> int:
    if summary["status"] == "failed" and summary.get("error"):
        return 2 if summary["processed"] == 0 else 1
    return 1 if summary["failed"] else 0


def print_run(summary: Mapping[str, Any]) -> None:
    s = summary
    kind = "dry run" if s["dry_run"] else "run"
    out.print(
        f"{kind} {s['run_id']}: {s['status']} - {s['created']} created, {s['updated']} updated, "
        f"{s['skipped']} skipped, {s['failed']} failed of {s['total']} rows",
        markup=False,
    )
    if s["warned"]:
        out.print(
            f"{s['warned']} of them with warnings (stored as supplied): rostersync report {s['run_id']}",
            markup=False,
        )
    for warning in s["warnings"]:
        err.print(f"warning: {warning}", markup=False)
    if s.get("error"):
        err.print(f"error: {s['error']}", markup=False)
    if s["failed"]:
        out.print(f"failed rows: rostersync report {s['run_id']} --failed-only -o failed.csv", markup=False)


@contextmanager
def progress_bar(total: int, enabled: bool) -> Iterator[Any]:
    """Yields a callback taking run counts; draws only on a terminal."""
    if not enabled or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("rows", total=total)

        def update(counts: Counts) -> None:
            progress.update(task, completed=counts.processed)

        yield update
