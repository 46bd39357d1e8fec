"""Connections and syncs from the command line and through the arq worker."""

import csv
import io
import json
from pathlib import Path

from tests.conftest import rostersync
from tests.fakes.crm_server import ECONOMIC_CREDENTIAL, EconomicFake, FakeCRM, economic_customer, economic_supplier


def records() -> dict[str, list[dict]]:
    return {
        "customers": [economic_customer(i, barred=False) for i in range(30)],
        "suppliers": [economic_supplier(i, barred=False) for i in range(3)],
    }


def add_connection(env: dict[str, str], url: str) -> str:
    added = rostersync(
        "connections", "add", "--company", "acme", "--connector", "economic", "--base-url", url,
        "--credential-env", "ROSTERSYNC_CRED_ECONOMIC", "--every", "15m", "--json", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    return str(json.loads(added.stdout)["connection_id"])


def test_connect_sync_report_and_remove(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, "ROSTERSYNC_CRED_ECONOMIC": ECONOMIC_CREDENTIAL}
    with FakeCRM(EconomicFake(), records()) as crm:
        connection_id = add_connection(env, crm.url)
        listed = json.loads(rostersync("connections", "list", "--json", env=env).stdout)
        assert [c["credential_ref"] for c in listed] == ["env:ROSTERSYNC_CRED_ECONOMIC"]  # where, never the secret
        assert ECONOMIC_CREDENTIAL not in json.dumps(listed)

        first = rostersync("sync", connection_id, "--json", env=env)
        assert first.returncode == 0, first.stderr
        summary = json.loads(first.stdout)
        assert (summary["status"], summary["created"]) == ("succeeded", 33)

        again = json.loads(rostersync("sync", connection_id, "--json", env=env).stdout)
        assert (again["created"], again["updated"], again["skipped"]) == (0, 0, 3)  # suppliers are re-read

        run_id = summary["runs"][0]["run_id"]
        assert json.loads(rostersync("status", run_id, "--json", env=env).stdout)["created"] == 30
        report = rostersync("report", run_id, env=env).stdout
        rows = list(csv.DictReader(io.StringIO(report)))
        assert len(rows) == 30 and rows[0]["status"] == "created" and "customerNumber" in rows[0]

        crm.expire_credentials()
        denied = rostersync("sync", connection_id, "--json", env=env)
        assert denied.returncode != 0
        assert json.loads(denied.stdout)["error"] == "credentials rejected by e-conomic"

    assert rostersync("connections", "remove", connection_id, env=env).returncode == 0
    assert json.loads(rostersync("connections", "list", "--json", env=env).stdout) == []


def test_one_queued_sync_per_connection(cli_env: dict[str, str], redis_url: str) -> None:
    env = {**cli_env, "ROSTERSYNC_CRED_ECONOMIC": ECONOMIC_CREDENTIAL, "ROSTERSYNC_REDIS_URL": redis_url}
    with FakeCRM(EconomicFake(), records()) as crm:
        connection_id = add_connection(env, crm.url)
        queued = [json.loads(rostersync("sync", connection_id, "--queue", "--json", env=env).stdout) for _ in range(3)]
        assert [q["status"] for q in queued] == ["queued", "already queued", "already queued"]
        worker = rostersync("worker", "--burst", env=env, timeout=120)
        assert worker.returncode == 0, worker.stderr
        listed = json.loads(rostersync("connections", "list", "--json", env=env).stdout)
        assert listed[0]["last_status"] == "succeeded"
        # Finished: the job id is free again for the next tick.
        again = json.loads(rostersync("sync", connection_id, "--queue", "--json", env=env).stdout)
        assert again["status"] == "queued"


# A real e-conomic customers page, trimmed to three customers.
PAGE = Path(__file__).resolve().parents[1] / "fixtures" / "economic_customers_page0.json"


def test_import_a_saved_economic_page_and_a_csv_export(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    result = rostersync(
        "import",
        str(PAGE),
        "--company",
        "e",
        "--kind",
        "customers",
        "--source",
        "economic",
        "--json",
        env=sqlite_cli_env,
    )
    summary = json.loads(result.stdout)
    assert summary["total"] == 3 and summary["created"] + summary["failed"] == 3, result.stderr
    listed = json.loads(
        rostersync("customers", "list", "--company", "e", "--include-archived", "--json", env=sqlite_cli_env).stdout
    )
    by_name = {c["name"]: c for c in listed}
    assert by_name["Demo Name"]["country"] == "DK"  # "Danmark"

    export = tmp_path / "economic.csv"
    export.write_text(
        "customerNumber;name;corporateIdentificationNumber;address;zip;city;country;email\n"
        "11;Sylvest og Co;;Industribyen 3;8000;Aarhus C;Danmark;bogholderi@sylvest.example\n",
        encoding="utf-8",
    )
    csv_result = json.loads(
        rostersync(
            "import",
            str(export),
            "--company",
            "e",
            "--kind",
            "customers",
            "--source",
            "economic",
            "--json",
            env=sqlite_cli_env,
        ).stdout
    )
    assert (csv_result["created"], csv_result["failed"]) == (1, 0)


def test_reimport_of_a_sync_run_from_the_cli(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "ROSTERSYNC_CRED_ECONOMIC": ECONOMIC_CREDENTIAL}
    data = records()
    data["customers"][0].update(country="Tyskland", vatNumber="DE123", vatZone={"vatZoneNumber": 2})
    with FakeCRM(EconomicFake(), data) as crm:
        connection_id = add_connection(env, crm.url)
        summary = json.loads(rostersync("sync", connection_id, "--json", env=env).stdout)
    (customers_run,) = [r for r in summary["runs"] if r["kind"] == "customers"]
    assert customers_run["failed"] == 1
    again = rostersync("reimport", customers_run["run_id"], "--failed-only", "--json", env=env)
    result = json.loads(again.stdout)
    assert (result["total"], result["failed"], result["parent_run_id"]) == (1, 1, customers_run["run_id"])
    report = rostersync("report", result["run_id"], env=env).stdout
    assert "vat_number" in report and "DE123" in report


def test_a_connection_reaches_only_its_own_secret(cli_env: dict[str, str], tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "economic.token").write_text(ECONOMIC_CREDENTIAL, encoding="utf-8")
    env = {**cli_env, "ROSTERSYNC_SECRETS_DIR": str(secrets)}
    add = ("connections", "add", "--company", "acme", "--connector", "economic")
    for extra, message in [
        (
            ("--base-url", "https://crm.example.com", "--credential-env", "ROSTERSYNC_DATABASE_URL"),
            "credential variable 'ROSTERSYNC_DATABASE_URL' refused: only variables named ROSTERSYNC_CRED_* hold "
            "credentials",
        ),
        (
            ("--base-url", "https://crm.example.com", "--credential-file", "/etc/passwd"),
            f"credential file /etc/passwd refused: only files inside the secrets directory {secrets}",
        ),
        (
            ("--base-url", "http://crm.example.com", "--credential-env", "ROSTERSYNC_CRED_ECONOMIC"),
            "base URL 'http://crm.example.com' refused: the credential would travel unencrypted; use https (plain "
            "http only to this machine, unless ROSTERSYNC_ALLOW_PLAIN_HTTP=true)",
        ),
    ]:
        result = rostersync(*add, *extra, env=env)
        assert (result.returncode, result.stderr, result.stdout) == (2, f"rostersync: {message}\n", "")
    assert json.loads(rostersync("connections", "list", "--json", env=env).stdout) == []

    with FakeCRM(EconomicFake(), records()) as crm:
        added = rostersync(*add, "--base-url", crm.url, "--credential-file", "economic.token", "--json", env=env)
        assert added.returncode == 0, added.stderr
        synced = json.loads(rostersync("sync", json.loads(added.stdout)["connection_id"], "--json", env=env).stdout)
    assert synced["status"] == "succeeded"
    listed = json.loads(rostersync("connections", "list", "--json", env=env).stdout)
    assert [c["credential_ref"] for c in listed] == [f"file:{secrets / 'economic.token'}"]
