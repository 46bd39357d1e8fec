"""Runs over HTTP (list, live state, failed rows paged, the report) and the keys made with the CLI."""

import contextlib
import csv
import io
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import openpyxl
import psutil

from api.auth import KEY_TTL_S
from tests.api.conftest import Served
from tests.conftest import CLI, rostersync
from tests.fakes.rows import write_csv

ACME = "/api/v1/companies/acme"


def cli_env(api: Served) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTERSYNC_")}
    env.update(
        ROSTERSYNC_DATABASE_URL=api.settings.database_url.get_secret_value(),
        ROSTERSYNC_DATABASE_SCHEMA=api.settings.database_schema or "",
        ROSTERSYNC_VIES_ENABLED="false",
    )
    return env


def test_a_runs_failed_rows_and_report_over_http(api: Served, tmp_path: Path) -> None:
    bad = [["900001", "Trasig AB", "556000-0000", "", "", "", "", "", "", "Sverige", "30", ""],
           ["900002", "", "", "", "", "", "", "", "", "Sverige", "30", ""]]  # fmt: skip
    path = write_csv(tmp_path / "kunder.csv", 20, extra=bad)
    imported = rostersync("import", str(path), "--company", "acme", "--kind", "customers", "--json", env=cli_env(api))
    run_id = json.loads(imported.stdout)["run_id"]
    with api.client(api.key("acme", "imports:read")) as http:
        listed = http.get(f"{ACME}/imports").json()
        assert [r["run_id"] for r in listed["data"]] == [run_id] and listed["meta"]["next_cursor"] is None
        run = http.get(f"{ACME}/imports/{run_id}").json()["data"]
        assert (run["status"], run["created"], run["failed"]) == ("partially_succeeded", 20, 2)
        first = http.get(f"{ACME}/imports/{run_id}/rows", params={"status": "failed", "limit": 1}).json()
        rest = http.get(
            f"{ACME}/imports/{run_id}/rows", params={"status": "failed", "cursor": first["meta"]["next_cursor"]}
        ).json()
        failed = first["data"] + rest["data"]
        assert [(r["row_number"], r["status"]) for r in failed] == [(22, "failed"), (23, "failed")]
        assert failed[0]["error_field"] == "org_number" and failed[1]["error_field"] == "name"
        assert failed[0]["source"][1] == "Trasig AB"
        report = http.get(f"{ACME}/imports/{run_id}/report", params={"failed_only": "true"})
        assert report.headers["content-type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(report.text), delimiter=";"))  # the source's delimiter
        assert len(lines) == 3 and "Trasig AB" in lines[1]
        assert http.get(f"{ACME}/imports/{run_id}/rows", params={"status": "lost"}).status_code == 422
        workbook = http.get(f"{ACME}/imports/{run_id}/report", params={"failed_only": "true", "format": "xlsx"})
        assert workbook.headers["content-disposition"].endswith('-failed.xlsx"')
        sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
        assert sheet is not None
        rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
        assert len(rows) == 3 and "Trasig AB" in rows[1]
    with api.client(api.key("globex", "imports:read")) as http:
        globex = f"/api/v1/companies/globex/imports/{run_id}"
        for path_ in (f"{ACME}/imports/{run_id}", globex, f"{globex}/rows", f"{globex}/report"):
            answer = http.get(path_)
            assert (answer.status_code, answer.json()["error"]["code"]) == (404, "NOT_FOUND"), path_
        assert http.get("/api/v1/companies/globex/imports").json()["data"] == []


def test_keys_made_listed_and_revoked_with_the_cli(api: Served) -> None:
    env = cli_env(api)
    made = rostersync("keys", "create", "--company", "acme", "--scopes", "customers:read", "--json", env=env)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key"]
    with api.client(key) as http:
        assert http.get(f"{ACME}/customers").status_code == 200
    listed = rostersync("keys", "list", "--company", "acme", env=env)
    assert key not in listed.stdout and key[:12] in listed.stdout and "active" in listed.stdout
    revoked = rostersync("keys", "revoke", key[:12], "--company", "acme", env=env)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    time.sleep(KEY_TTL_S)  # a server keeps a key it found valid for so long
    with api.client(key) as http:
        assert http.get(f"{ACME}/customers").status_code == 401
    unknown = rostersync("keys", "create", "--company", "acme", "--scopes", "customers:delete", env=env)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "customers:delete" in unknown.stderr
    other = rostersync("keys", "revoke", key[:12], "--company", "globex", env=env)
    assert other.returncode == 2 and "no API key" in other.stderr


def test_no_endpoint_answers_another_companys_key_with_acmes_data(api: Served, tmp_path: Path) -> None:
    """Every operation of the schema, called on acme's paths and ids with globex's key (every scope): 404."""
    path = write_csv(tmp_path / "kunder.csv", 3)
    run_id = json.loads(
        rostersync("import", str(path), "--company", "acme", "--kind", "customers", "--json", env=cli_env(api)).stdout
    )["run_id"]
    acme = api.key("acme", "customers:write,suppliers:write,imports:write,connections:write")
    with api.client(acme) as http:
        customer = http.get(f"{ACME}/customers").json()["data"][0]["id"]
        body = {
            "connector": "economic",
            "base_url": "https://crm.example.com",
            "credential_ref": "env:ROSTERSYNC_CRED_X",
        }
        connection = http.post(f"{ACME}/connections", json=body).json()["data"]["connection_id"]
    ids = {"id": customer, "run_id": run_id, "connection_id": connection, "companyId": "acme"}
    globex = api.key("globex", "customers:write,suppliers:write,imports:write,connections:write")
    with api.client(globex) as http:
        paths = http.get("/openapi.json").json()["paths"]
        called = 0
        for template, operations in paths.items():
            if "{companyId}" not in template:
                continue
            for method in operations:
                url = template.format(**ids)
                answer = http.request(method.upper(), url, json={}, headers={"Idempotency-Key": str(uuid.uuid4())})
                assert (answer.status_code, answer.json()["error"]["code"]) == (404, "NOT_FOUND"), (method, url)
                assert customer not in answer.text and run_id not in answer.text.replace(url, "")
                called += 1
        assert called >= 20
    with api.client(acme) as http:  # nothing changed
        assert http.get(f"{ACME}/customers/{customer}").json()["data"]["archived_at"] is None
        assert len(http.get(f"{ACME}/connections").json()["data"]) == 1


def test_serve_runs_as_several_processes_from_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTERSYNC_")}
    env.update(ROSTERSYNC_DATABASE_URL=f"sqlite:///{tmp_path / 'r.db'}", ROSTERSYNC_VIES_ENABLED="false")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(CLI), "serve", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            assert server.poll() is None and time.monotonic() < deadline, server.stderr and server.stderr.read()
            time.sleep(0.1)
        workers = [p for p in psutil.Process(server.pid).children(recursive=True) if "python" in p.name()]
        assert len(workers) >= 2
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
