"""The CLI as a newcomer meets it: version, help, whole ids and prefixes, listings that fit, nothing created by
a look around, a health check for the worker."""

import json
import re
import subprocess
import time
from pathlib import Path

from tests.conftest import CLI, ROOT, rostersync
from tests.fakes.rows import customer_row, write_csv

EXAMPLE = str(ROOT / "examples" / "customers.csv")


def import_example(env: dict[str, str], company: str = "demo") -> dict:
    result = rostersync("import", EXAMPLE, "--company", company, "--kind", "customers", "--json", env=env)
    assert result.returncode == 1, result.stderr  # the example has failing rows on purpose
    return json.loads(result.stdout)


def test_version_and_flags_shown_as_flags() -> None:
    env = {"COLUMNS": "120"}
    version = subprocess.run([str(CLI), "--version"], capture_output=True, text=True, env=env, check=False)
    assert version.returncode == 0 and re.fullmatch(r"rostersync \d+\.\d+\.\d+\n", version.stdout)
    shown = subprocess.run([str(CLI), "import", "--help"], capture_output=True, text=True, env=env, check=False)
    assert re.search(r"^\s+--dry-run\s+Validate", shown.stdout, re.M), shown.stdout
    assert "<bool>" not in shown.stdout
    assert "JSON" in next(line for line in shown.stdout.splitlines() if "--json" in line)


def test_read_only_commands_never_create_the_database(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    database = tmp_path / "embedded.db"
    assert json.loads(rostersync("runs", "--json", env=sqlite_cli_env).stdout) == []
    assert json.loads(rostersync("customers", "list", "--company", "a", "--json", env=sqlite_cli_env).stdout) == []
    for args in (("status", "5c3991fe"), ("report", "5c3991fe"), ("reimport", "5c3991fe", "--failed-only")):
        result = rostersync(*args, env=sqlite_cli_env)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "no registry at" in result.stderr and "Traceback" not in result.stderr
    assert not database.exists()


def test_ids_are_shown_whole_and_a_unique_prefix_is_taken(sqlite_cli_env: dict[str, str]) -> None:
    run_id = import_example(sqlite_cli_env)["run_id"]
    narrow = {**sqlite_cli_env, "COLUMNS": "80"}
    assert run_id in rostersync("runs", env=narrow).stdout
    status = rostersync("status", run_id[:8], "--json", env=sqlite_cli_env)
    assert json.loads(status.stdout)["run_id"] == run_id
    report = rostersync("report", run_id[:6].upper(), "--failed-only", env=sqlite_cli_env)
    assert report.returncode == 0 and len(report.stdout.splitlines()) == 10
    short = rostersync("status", run_id[:3], env=sqlite_cli_env)
    assert short.returncode == 2 and "at least 4" in short.stderr
    unknown = rostersync("status", "ffff" if not run_id.startswith("ffff") else "0000", env=sqlite_cli_env)
    assert unknown.returncode == 2 and "no run" in unknown.stderr


def test_listings_are_limited_and_searchable(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    shop = customer_row(500)
    shop[1] = "Åhléns Varuhus AB"
    path = write_csv(tmp_path / "many.csv", 119, extra=[shop])
    created = rostersync("import", str(path), "--company", "big", "--kind", "customers", env=sqlite_cli_env)
    assert created.returncode == 0, created.stderr
    wide = {**sqlite_cli_env, "COLUMNS": "250"}
    shown = rostersync("customers", "list", "--company", "big", env=wide).stdout
    assert "and 70 more of 120" in shown
    limited = json.loads(rostersync("customers", "list", "--company", "big", "--limit", "7", "--json", env=wide).stdout)
    assert len(limited) == 7
    everything = json.loads(rostersync("customers", "list", "--company", "big", "--json", env=wide).stdout)
    assert len(everything) == 120  # a program asking for JSON gets every record unless it sets a limit
    shops = json.loads(
        rostersync("customers", "list", "--company", "big", "--search", "åhlén", "--json", env=wide).stdout
    )
    assert [c["name"] for c in shops] == ["Åhléns Varuhus AB"]
    nothing = rostersync("customers", "list", "--company", "big", "--search", "%", "--json", env=wide).stdout
    assert json.loads(nothing) == []  # a wildcard typed is a character searched for
    name = customer_row(42)[1]
    found = json.loads(
        rostersync("customers", "list", "--company", "big", "--search", name.upper(), "--json", env=wide).stdout
    )
    assert [c["name"] for c in found] == [name]
    org = customer_row(43)[2]
    by_org = json.loads(rostersync("customers", "list", "--company", "big", "--search", org, "--json", env=wide).stdout)
    assert [c["org_number"] for c in by_org] == [org]


def test_cancel_of_a_finished_run_is_refused(sqlite_cli_env: dict[str, str]) -> None:
    run_id = import_example(sqlite_cli_env)["run_id"]
    result = rostersync("cancel", run_id, env=sqlite_cli_env)
    assert result.returncode == 2 and "already finished" in result.stderr


def test_worker_check_tells_a_live_worker(cli_env: dict[str, str], redis_url: str) -> None:
    env = {**cli_env, "ROSTERSYNC_REDIS_URL": redis_url}
    assert rostersync("worker", "--check", env=env).returncode == 1  # none running
    worker = subprocess.Popen(
        [str(CLI), "worker"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while rostersync("worker", "--check", env=env).returncode != 0:
            assert time.monotonic() < deadline, "the worker never reported itself alive"
            time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
