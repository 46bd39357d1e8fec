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


def test_a_purge_drops_old_source_values_and_keeps_the_outcomes(sqlite_cli_env: dict[str, str], tmp_path) -> None:
    import sqlite3

    args = ("import", EXAMPLE, "--company", "demo", "--kind", "customers", "--json")
    old = json.loads(rostersync(*args, env=sqlite_cli_env).stdout)
    recent = json.loads(rostersync(*args, env=sqlite_cli_env).stdout)
    with sqlite3.connect(tmp_path / "embedded.db") as db:  # the first run finished long ago
        db.execute("UPDATE import_runs SET finished_at = '2000-01-01 00:00:00.000000' WHERE id = ?",
                   (old["run_id"].replace("-", ""),))  # fmt: skip

    purged = rostersync("runs", "purge", "--older-than", "90d", "--json", env=sqlite_cli_env)
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout) == {"runs": 1, "rows": 37, "older_than_s": 90 * 86400}

    report = rostersync("report", old["run_id"], env=sqlite_cli_env)
    assert report.returncode == 0 and "purged on" in report.stderr
    lines = report.stdout.splitlines()
    assert len(lines) == 38 and "19850512" not in report.stdout  # outcomes stay; the sole trader's number is gone
    assert lines[1].split(";")[1] == "created"
    refused = rostersync("reimport", old["run_id"], "--failed-only", env=sqlite_cli_env)
    assert refused.returncode == 2 and "purged" in refused.stderr
    status = json.loads(rostersync("status", old["run_id"], "--json", env=sqlite_cli_env).stdout)
    assert status["purged_at"] and status["created"] == 28

    kept = rostersync("report", recent["run_id"], env=sqlite_cli_env).stdout
    assert "19850512-3326" in kept  # a recent run keeps its source values
    again = json.loads(rostersync("runs", "purge", "--older-than", "90d", "--json", env=sqlite_cli_env).stdout)
    assert again["runs"] == 0
    bad = rostersync("runs", "purge", "--older-than", "90", env=sqlite_cli_env)
    assert bad.returncode == 2 and "e.g. 90d" in bad.stderr


def test_a_saved_page_with_text_no_database_can_store(cli_env: dict[str, str], tmp_path) -> None:
    page = {
        "collection": [
            {"customerNumber": n, "name": name, "currency": "DKK", "country": "Danmark",
             "customerGroup": {"customerGroupNumber": 1}, "paymentTerms": {"paymentTermsNumber": 1},
             "vatZone": {"vatZoneNumber": 1}}
            for n, name in ((1, "Nul\u0000 ApS"), (2, "Half \ud800 A/S"), (3, "Gamma ApS"))
        ],
        "pagination": {"results": 3},
    }  # fmt: skip
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page), encoding="utf-8")  # (json escapes both: the file itself is valid)
    result = rostersync("import", str(path), "--company", "c", "--kind", "customers", "--json", env=cli_env)
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["created"], summary["failed"]) == (1, 2)
    report = rostersync("report", summary["run_id"], "--failed-only", env=cli_env)
    assert report.returncode == 0 and report.stdout.count("cannot be stored") == 2

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    refused = rostersync(
        "import", str(deep), "--company", "c", "--kind", "customers", "--source", "economic", env=cli_env
    )
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "nested too deeply" in refused.stderr


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "utf-16"])
def test_a_csv_value_holding_a_nul_fails_its_row_and_the_rest_go_in(
    cli_env: dict[str, str], tmp_path, encoding: str
) -> None:
    """A damaged export: a stray NUL inside one value. Postgres cannot store it; that row fails naming the field,
    its source values are kept (the NUL shown as U+FFFD), and every other row is created."""
    body = "".join(f"Kund {i} AB;5560{i:06d};Sverige;Storgatan {i}\n" for i in range(3000))
    first = "Ek\x00 AB;5569999998;Sverige;Torget 2\n"  # in the sample the encoding is detected from
    text = "Namn;Kundnummer;Land;Adress\n" + first + body + "Bj\u00f6rk\x00 AB;5569999999;Sverige;Gatan\x00 1\n"
    path = tmp_path / "nul.csv"
    path.write_bytes(text.encode(encoding))
    result = rostersync("import", str(path), "--company", "n", "--kind", "customers", "--json", env=cli_env)
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["created"], summary["failed"], summary["status"]) == (3000, 2, "partially_succeeded")
    report = rostersync("report", summary["run_id"], "--failed-only", env=cli_env)
    _, first_failed, last_failed = report.stdout.splitlines()
    assert first_failed.startswith("2;failed;VALIDATION_ERROR") and "Ek\ufffd AB" in first_failed
    assert last_failed.startswith("3003;failed;VALIDATION_ERROR") and "name: holds a character" in last_failed
    assert "Bj\u00f6rk\ufffd AB" in last_failed and "Gatan\ufffd 1" in last_failed
