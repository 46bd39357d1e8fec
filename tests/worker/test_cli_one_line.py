"""What a command cannot do, it says in one line on stderr, with exit code 2, writing nothing: no traceback, no
hang, whatever the file, the option or the configuration."""

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import PG_URL, ROOT, rostersync

EXAMPLE = str(ROOT / "examples" / "customers.csv")
IMPORT = ("--company", "demo", "--kind", "customers")
PG_WITH_PASSWORD = PG_URL.replace("postgres@", "postgres:not-the-password@")
ADD_CONNECTION = (
    "connections", "add", "--company", "demo", "--connector", "economic", "--base-url", "http://127.0.0.1:1",
    "--credential-env", "ECONOMIC_TOKEN",
)  # fmt: skip

Setup = Callable[[Path, dict[str, str]], tuple[tuple[str, ...], dict[str, str]]]


def importing(make_file: Callable[[Path], Path]) -> Setup:
    return lambda tmp, env: (("import", str(make_file(tmp)), *IMPORT), env)


def symlink_loop(tmp: Path) -> Path:
    (tmp / "loop.csv").symlink_to(tmp / "loop.csv")
    return tmp / "loop.csv"


def fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "pipe.csv")  # opening it would wait for a writer for ever
    return tmp / "pipe.csv"


def with_delimiter(delimiter: str) -> Setup:
    return lambda tmp, env: (("import", EXAMPLE, *IMPORT, "--delimiter", delimiter), env)


def with_env(**settings: str) -> Setup:
    return lambda tmp, env: (("import", EXAMPLE, *IMPORT), {**env, **settings})


def report_to(where: Callable[[Path], str]) -> Setup:
    def setup(tmp: Path, env: dict[str, str]) -> tuple[tuple[str, ...], dict[str, str]]:
        run = json.loads(rostersync("import", EXAMPLE, *IMPORT, "--json", env=env).stdout)
        return ("report", run["run_id"], "-o", where(tmp)), env

    return setup


def every(value: str) -> Setup:
    return lambda tmp, env: ((*ADD_CONNECTION, "--every", value), env)


CASES: dict[str, tuple[Setup, str]] = {
    "symlink loop": (importing(symlink_loop), "loop.csv: cannot read the file: Too many levels of symbolic links"),
    "fifo": (importing(fifo), "pipe.csv: not a regular file (a named pipe)"),
    "fifo as --mapping": (
        lambda tmp, env: (("import", EXAMPLE, *IMPORT, "--mapping", str(fifo(tmp))), env),
        "pipe.csv: not a regular file (a named pipe)",
    ),
    "quote delimiter": (with_delimiter('"'), "--delimiter cannot be '\"': it is the quote character"),
    "letter delimiter": (with_delimiter("a"), "--delimiter cannot be 'a': a letter or digit is part of the values"),
    "CR delimiter": (with_delimiter("\r"), "--delimiter cannot be '\\r': line breaks and spaces other than tab"),
    "mysql URL": (
        with_env(ROSTERSYNC_DATABASE_URL="mysql://user:not-the-password@127.0.0.1/registry"),
        "ROSTERSYNC_DATABASE_URL: unsupported database 'mysql': use postgresql (postgresql://",
    ),
    "oracle URL": (
        with_env(ROSTERSYNC_DATABASE_URL="oracle://user:not-the-password@127.0.0.1/registry"),
        "ROSTERSYNC_DATABASE_URL: unsupported database 'oracle': use postgresql (",
    ),
    "port out of range": (
        with_env(ROSTERSYNC_DATABASE_URL=PG_WITH_PASSWORD.replace(":5432", ":99999")),
        "ROSTERSYNC_DATABASE_URL: port 99999 is out of range (1-65535)",
    ),
    "port not a number": (
        with_env(ROSTERSYNC_DATABASE_URL=PG_WITH_PASSWORD.replace(":5432", ":abc")),
        "ROSTERSYNC_DATABASE_URL: the port is not a number",
    ),
    "unknown URL option": (
        with_env(ROSTERSYNC_DATABASE_URL=PG_WITH_PASSWORD + "?connect_timeout=10"),
        "ROSTERSYNC_DATABASE_URL: unsupported option 'connect_timeout' in the URL (it takes sslmode, ssl, host)",
    ),
    "sslmode=require without TLS": (
        with_env(ROSTERSYNC_DATABASE_URL=PG_WITH_PASSWORD + "?sslmode=require"),
        "cannot use the database: the server does not support SSL, which the URL's sslmode requires",
    ),
    "schema that does not exist": (
        with_env(ROSTERSYNC_DATABASE_URL=PG_WITH_PASSWORD, ROSTERSYNC_DATABASE_SCHEMA="no_such_schema"),
        "the database schema 'no_such_schema' (ROSTERSYNC_DATABASE_SCHEMA) does not exist: "
        "run `rostersync db upgrade` to create it",
    ),
    "report into a missing folder": (
        report_to(lambda tmp: str(tmp / "missing" / "failed.csv")),
        "/missing/failed.csv: No such file or directory",
    ),
    "report onto a full disk": (report_to(lambda tmp: "/dev/full"), "cannot write /dev/full: No space left on device"),
    "--every without a unit": (every("5"), "--every '5' needs a unit: s, m, h or d (e.g. 5m for minutes)"),
    "--every over a week": (every("8d"), "--every '8d' is out of range: from 1m to 7d"),
    "--every of many digits": (every("9" * 30 + "d"), "is out of range: from 1m to 7d"),
    "VIES URL not http": (
        with_env(ROSTERSYNC_VIES_ENABLED="true", ROSTERSYNC_VIES_URL="ftp://ec.europa.eu/vies"),
        "invalid configuration: ROSTERSYNC_VIES_URL: not an http(s) URL: 'ftp://ec.europa.eu/vies'",
    ),
}


@pytest.mark.parametrize(("setup", "message"), CASES.values(), ids=CASES.keys())
def test_refused_in_one_line_writing_nothing(
    sqlite_cli_env: dict[str, str], tmp_path: Path, setup: Setup, message: str
) -> None:
    args, env = setup(tmp_path, sqlite_cli_env)
    before = rostersync("runs", "--json", env=sqlite_cli_env).stdout
    result = rostersync(*args, env=env, timeout=30)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("rostersync: ") and message in result.stderr, result.stderr
    assert result.stdout == "" and "not-the-password" not in result.stderr
    assert rostersync("runs", "--json", env=sqlite_cli_env).stdout == before  # no run was started
    assert json.loads(rostersync("connections", "list", "--json", env=sqlite_cli_env).stdout) == []
    assert not (tmp_path / "missing").exists()


async def schema_exists(name: str) -> bool:
    conn = await asyncpg.connect(PG_URL)
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", name))
    finally:
        await conn.close()


async def test_db_upgrade_creates_the_schema_it_is_given(sqlite_cli_env: dict[str, str]) -> None:
    schema = f"t_new_{uuid.uuid4().hex[:12]}"
    env = {**sqlite_cli_env, "ROSTERSYNC_DATABASE_URL": PG_URL, "ROSTERSYNC_DATABASE_SCHEMA": schema}
    try:
        upgraded = rostersync("db", "upgrade", env=env)
        assert upgraded.returncode == 0 and upgraded.stderr == "database schema is current\n", upgraded.stderr
        assert await schema_exists(schema)
        assert rostersync("runs", "--json", env=env).stdout == "[]\n"
    finally:
        conn = await asyncpg.connect(PG_URL)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


def test_sslmode_disable_connects_and_imports(cli_env: dict[str, str]) -> None:
    """What a URL copied from a hosted Postgres carries works here: sslmode (disable, as this server has no TLS)."""
    env = {**cli_env, "ROSTERSYNC_DATABASE_URL": PG_URL + "?sslmode=disable"}
    result = rostersync("import", EXAMPLE, *IMPORT, "--json", env=env)
    assert result.returncode == 1, result.stderr  # the example has rows that fail
    assert json.loads(result.stdout)["created"] == 28
