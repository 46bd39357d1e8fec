"""An import whose database connections drop (a failover, a restart) reconnects and finishes; one whose database
stays away stops saying which run to resume, and the resume writes every row once."""

import json
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import psutil
import pytest

from tests.conftest import CLI, PG_URL, rostersync
from tests.fakes.pg_proxy import BATCH_WRITE, PgProxy
from tests.fakes.rows import write_csv
from tests.worker.test_cli import ROWS_RECORDED, pg_count, run_json

PG = urlsplit(PG_URL)
PG_PORT = PG.port or 5432


async def terminate_backends(pid: int) -> int:
    """End the Postgres backends of process `pid`'s connections (found by their client ports, so no other
    test's connections are touched), as `pg_terminate_backend` does in a failover; returns how many."""
    ports = [
        c.laddr.port
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == PG_PORT and c.status == psutil.CONN_ESTABLISHED
    ]
    conn = await asyncpg.connect(PG_URL)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE client_port = ANY($1::int[]) AND pid <> pg_backend_pid() AND datname = current_database()",
                ports,
            )
        )
    finally:
        await conn.close()


async def wait_for_rows(schema: str, proc: subprocess.Popen[str], rows: int) -> None:
    deadline = time.monotonic() + 60
    while await pg_count(schema, ROWS_RECORDED) < rows:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


def start_import(path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(CLI), "import", str(path), "--company", "r", "--kind", "customers", "--json"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


async def pg_execute(schema: str, statement: str) -> None:
    conn = await asyncpg.connect(PG_URL, server_settings={"search_path": schema})
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def assert_every_row_once(schema: str, rows: int) -> None:
    assert await pg_count(schema, "SELECT count(*) FROM customers") == rows
    assert await pg_count(schema, "SELECT count(DISTINCT org_number) FROM customers") == rows
    assert await pg_count(schema, ROWS_RECORDED) == rows


async def test_an_import_whose_connections_are_terminated_reconnects_and_finishes(
    cli_env: dict[str, str], pg_schema: str, tmp_path: Path
) -> None:
    rows = 20_000
    path = write_csv(tmp_path / "big.csv", rows)
    env = {**cli_env, "ROSTERSYNC_WRITERS": "2", "ROSTERSYNC_BATCHES_PER_COMMIT": "1"}
    proc = start_import(path, env)
    terminated = 0
    for written in (2_000, 8_000):
        await wait_for_rows(pg_schema, proc, written)
        terminated += await terminate_backends(proc.pid)
    stdout, stderr = proc.communicate(timeout=60)
    assert terminated >= 2, "the import's connections were not found"
    assert await pg_count(pg_schema, ROWS_RECORDED) == rows
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    assert (summary["status"], summary["created"], summary["failed"]) == ("succeeded", rows, 0)
    await assert_every_row_once(pg_schema, rows)


@pytest.mark.parametrize(
    "after",
    # A batch group's transaction; taking the run's lease (`runs.acquire`); closing the run (`runs.finish`).
    [BATCH_WRITE, b"started_at=", b"finished_at="],
    ids=["batch", "lease", "finish"],
)
async def test_work_committed_without_the_answer_reaching_the_import_is_not_done_twice(
    cli_env: dict[str, str], pg_schema: str, tmp_path: Path, after: bytes
) -> None:
    """The connection drops between the server committing and the import hearing so: sent again, a batch finds
    its rows recorded already and is skipped, the run's lease is found to be the import's own, and the closed
    run is read back as it was closed."""
    rows = 3_000
    path = write_csv(tmp_path / "c.csv", rows)
    with PgProxy(PG.hostname or "127.0.0.1", PG_PORT) as proxy:
        env = {**cli_env, "ROSTERSYNC_DATABASE_URL": proxy.url(PG_URL), "ROSTERSYNC_BATCHES_PER_COMMIT": "1"}
        proxy.lose_a_commit(after)
        summary = run_json("import", str(path), "--company", "r", "--kind", "customers", env=env, code=0)
        assert proxy.commits_lost == 1
    assert (summary["status"], summary["created"], summary["failed"]) == ("succeeded", rows, 0)
    await assert_every_row_once(pg_schema, rows)


async def test_a_database_that_stays_away_stops_the_import_resumably(
    cli_env: dict[str, str], pg_schema: str, tmp_path: Path
) -> None:
    rows = 20_000
    path = write_csv(tmp_path / "big.csv", rows)
    with PgProxy(PG.hostname or "127.0.0.1", PG_PORT) as proxy:
        env = {
            **cli_env, "ROSTERSYNC_DATABASE_URL": proxy.url(PG_URL), "ROSTERSYNC_DB_RETRY_S": "2",
            "ROSTERSYNC_WRITERS": "2", "ROSTERSYNC_BATCHES_PER_COMMIT": "1",
        }  # fmt: skip
        proc = start_import(path, env)
        await wait_for_rows(pg_schema, proc, 2_000)
        proxy.cut()
        cut_at = time.monotonic()
        stdout, stderr = proc.communicate(timeout=60)
        gave_up_after = time.monotonic() - cut_at
    assert await pg_count(pg_schema, ROWS_RECORDED) < rows, "the import finished before the database went away"
    assert proc.returncode == 2, stderr
    assert 2 <= gave_up_after < 10, gave_up_after  # retried for ROSTERSYNC_DB_RETRY_S, not for ever
    summary = json.loads(stdout)
    run_id = summary["run_id"]
    assert summary["status"] == "running"
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert f"lost the database during run {run_id}" in stderr
    assert stderr.rstrip().endswith(f"continue it with: rostersync resume {run_id}"), stderr

    resumed = run_json("resume", run_id, env=cli_env, code=0)
    assert (resumed["status"], resumed["created"], resumed["failed"]) == ("succeeded", rows, 0)
    await assert_every_row_once(pg_schema, rows)
    assert rostersync("status", run_id, env=cli_env).returncode == 0


async def test_a_write_the_database_refuses_stops_the_import_in_one_line_resumably(
    cli_env: dict[str, str], pg_schema: str, tmp_path: Path
) -> None:
    """Not a lost connection but an answer retrying cannot change (here the run ledger's table is gone, as after
    a migration run the wrong way): one line with the database's reason and the run to resume, no traceback."""
    rows = 20_000
    path = write_csv(tmp_path / "big.csv", rows)
    proc = start_import(path, {**cli_env, "ROSTERSYNC_WRITERS": "2", "ROSTERSYNC_BATCHES_PER_COMMIT": "1"})
    await wait_for_rows(pg_schema, proc, 2_000)
    await pg_execute(pg_schema, "ALTER TABLE import_batches RENAME TO import_batches_away")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert 'UndefinedTableError: relation "import_batches" does not exist' in stderr, stderr
    run_id = stderr.rstrip().rsplit(" ", 1)[-1]
    assert stderr.rstrip().endswith(f"continue it with: rostersync resume {run_id}"), stderr

    await pg_execute(pg_schema, "ALTER TABLE import_batches_away RENAME TO import_batches")
    resumed = run_json("resume", run_id, env=cli_env, code=0)
    assert (resumed["status"], resumed["created"], resumed["failed"]) == ("succeeded", rows, 0)
    await assert_every_row_once(pg_schema, rows)
