"""What a command cannot do, it says in one line on stderr, with exit code 2, writing nothing: no traceback, no
hang, whatever the file, the option or the configuration."""

import json
import os
from collections.abc import Callable
from pathlib import Path

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
    "quote delimiter": (with_delimiter('"'), "--delimiter cannot be '\"': it is the quote character"),
    "letter delimiter": (with_delimiter("a"), "--delimiter cannot be 'a': a letter or digit is part of the values"),
    "CR delimiter": (with_delimiter("\r"), "--delimiter cannot be '\\r': line breaks and spaces other than tab"),
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
