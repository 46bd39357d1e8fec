"""Runs that stop, resumes that repeat, and a queue that is not there: one line, the right exit code, nothing
left waiting."""

import json

import pytest

from tests.conftest import ROOT, rostersync

EXAMPLE = str(ROOT / "examples" / "customers.csv")


def test_resuming_a_finished_run_prints_it_with_the_code_it_earned(sqlite_cli_env: dict[str, str]) -> None:
    args = ("import", EXAMPLE, "--company", "demo", "--kind", "customers", "--json")
    first = json.loads(rostersync(*args, env=sqlite_cli_env).stdout)
    for _ in range(2):  # a script or cron that retries a resume
        again = rostersync("resume", first["run_id"], "--json", env=sqlite_cli_env)
        assert again.returncode == 1, again.stderr  # the example's run finished with failed rows
        summary = json.loads(again.stdout)
        assert (summary["run_id"], summary["status"], summary["created"]) == (first["run_id"], first["status"], 28)
    rows = json.loads(rostersync("customers", "list", "--company", "demo", "--json", env=sqlite_cli_env).stdout)
    assert len(rows) == 28  # nothing written twice


@pytest.mark.parametrize(
    ("redis_url", "message"),
    [
        ("redis://127.0.0.1:1/0", "Redis is unreachable at 127.0.0.1:1"),
        ("redis://:wrong-password@127.0.0.1:6379/0", "refused the credentials"),
    ],
)
def test_a_queue_that_is_not_there_is_one_line_and_leaves_nothing_queued(
    sqlite_cli_env: dict[str, str], redis_url: str, message: str
) -> None:
    env = {**sqlite_cli_env, "ROSTERSYNC_REDIS_URL": redis_url}
    for args in (
        ("import", EXAMPLE, "--company", "demo", "--kind", "customers", "--queue"),
        ("worker", "--burst"),
    ):
        result = rostersync(*args, env=env, timeout=30)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert message in result.stderr and "wrong-password" not in result.stderr
    assert json.loads(rostersync("runs", "--json", env=env).stdout) == []
