"""`rostersync worker` and `rostersync db upgrade`: running the queue's worker, and the database schema."""

from typing import Annotated

import typer

from jobs import app as application
from worker.cli.common import err, fail, run_async, settings

app = typer.Typer()
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")


@app.command()
def worker(
    burst: Annotated[bool, typer.Option("--burst", help="Exit once the queue is empty.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 0 if a worker on this queue is alive (a container health check).")
    ] = False,
) -> None:
    """Run the arq worker (needs ROSTERSYNC_REDIS_URL)."""
    import logging.config

    from arq.logs import default_log_config
    from arq.worker import Worker

    from worker.arq_worker import health_check, worker_settings

    try:
        options = worker_settings(settings(), burst=burst)
    except ValueError as exc:
        fail(str(exc), code=1 if check else 2)  # a health check answers 0 or 1
    if check:
        raise typer.Exit(health_check(options))
    run_async(application.check_queue)  # one line, not a retry loop and a traceback, when Redis is away
    logging.config.dictConfig(default_log_config(verbose=True))  # job start/end lines, as arq prints them
    Worker(**options).run()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""

    run_async(application.upgrade_schema, migrate=False)
    err.print("database schema is current", markup=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Server processes (one per core).")] = 1,
) -> None:
    """Serve the HTTP API and the web importer (keys from `rostersync keys create`)."""
    import logging

    import uvicorn

    settings()  # a setting that cannot be used is one line here, not a traceback in every process
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")
    run_async(application.readiness)  # one line, not a traceback, when the database cannot be used
    # No access log of uvicorn's: it prints query strings, and a search may hold a personnummer.
    uvicorn.run("api.app:from_environment", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_level="info")  # fmt: skip
