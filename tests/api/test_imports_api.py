"""Imports started over HTTP: the file stored in the database (no shared disk), run in the background or by a
queue worker, its failed rows fixed by a reimport of a corrected upload; refused and oversized files keep
nothing."""

import asyncio
import csv
import io
import json
import os
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.api.conftest import Served
from tests.conftest import PG_URL, rostersync
from tests.fakes.rows import HEADERS, rows

ACME = "/api/v1/companies/acme"


def swedish_file(n: int, broken: dict[int, dict[int, str]] | None = None) -> bytes:
    """A Swedish export as Excel saves it: `;`, cp1252, CRLF; `broken`: row index -> column -> value."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS)
    for i, row in enumerate(rows(n)):
        for column, value in (broken or {}).get(i, {}).items():
            row[column] = value
        writer.writerow([v.replace("Kund", "Kund Åström") if c == 1 else v for c, v in enumerate(row)])
    return out.getvalue().encode("cp1252")


def finished(http: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = http.get(f"{ACME}/imports/{run_id}").json()["data"]
        if run["state"] in ("succeeded", "partially_succeeded", "failed", "cancelled"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish: {run}")


def db(api: Served, sql: str) -> Any:
    async def query() -> Any:
        conn = await asyncpg.connect(PG_URL, server_settings={"search_path": api.settings.database_schema or ""})
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(query())


def test_upload_fix_the_failed_rows_and_reimport_them(api: Served) -> None:
    broken = {3: {2: "556000-0000"}, 7: {1: ""}}  # a bad org number checksum; no name
    original = swedish_file(40, broken)
    with api.client(api.key("acme", "imports:write,customers:read")) as http:
        made = http.post(
            f"{ACME}/imports", files={"file": ("kunder.csv", original, "text/csv")}, data={"kind": "customers"}
        )
        assert made.status_code == 201, made.text
        assert made.json()["data"]["state"] == "queued"
        run = finished(http, made.json()["data"]["id"])
        assert (run["state"], run["created"], run["failed"], run["source_name"]) == (
            "partially_succeeded", 38, 2, "kunder.csv"
        )  # fmt: skip
        failed = http.get(f"{ACME}/imports/{run['id']}/rows", params={"status": "failed"}).json()["data"]
        assert [(r["row_number"], r["error_field"]) for r in failed] == [(5, "org_number"), (9, "name")]
        assert failed[0]["source"][1] == "Kund Åström 3 AB"  # read as cp1252

        report = http.get(f"{ACME}/imports/{run['id']}/report", params={"failed_only": "true"}).text
        fixed = report.replace("556000-0000", "").splitlines()  # the org number left out: the row goes in without
        lines = list(csv.reader(fixed, delimiter=";"))
        name = lines[0].index("Namn")
        lines[2][name] = "Kund Åström 7 AB"
        corrected = io.StringIO()
        csv.writer(corrected, delimiter=";", lineterminator="\r\n").writerows(lines)
        again = http.post(
            f"{ACME}/imports/{run['id']}/reimport",
            files={"file": ("fixed.csv", corrected.getvalue().encode(), "text/csv")},
        )
        assert again.status_code == 201, again.text
        second = finished(http, again.json()["data"]["id"])
        assert (second["state"], second["created"], second["failed"]) == ("succeeded", 2, 0), second
        listed = http.get(f"{ACME}/customers", params={"limit": 200}).json()["data"]
        assert len(listed) == 40 and len({c["org_number"] for c in listed if c["org_number"]}) == 39
    assert db(api, "SELECT count(*) FROM uploads") == 2
    db(api, "UPDATE import_runs SET finished_at = now() - interval '2 days'")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTERSYNC_")}
    env.update(ROSTERSYNC_DATABASE_URL=PG_URL, ROSTERSYNC_DATABASE_SCHEMA=api.settings.database_schema or "")
    assert rostersync("runs", "purge", "--older-than", "1d", env=env).returncode == 0
    assert db(api, "SELECT count(*) FROM uploads") == 0 and db(api, "SELECT count(*) FROM upload_chunks") == 0


def test_a_raw_body_is_streamed_with_its_options_in_the_query(api: Served) -> None:
    body = swedish_file(3000)

    def chunks() -> Any:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    with api.client(api.key("acme", "imports:write")) as http:
        made = http.post(
            f"{ACME}/imports", content=chunks(), headers={"Content-Type": "text/csv"},
            params={"kind": "customers", "filename": "export.csv", "mode": "create"},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        assert "content-length" not in {k.lower() for k in made.request.headers}  # sent in chunks
        run = finished(http, made.json()["data"]["id"])
        assert (run["state"], run["created"]) == ("succeeded", 3000)
    assert db(api, "SELECT count(*) FROM upload_chunks") == 1 + len(body) // (1 << 20)


def test_an_upload_is_held_a_few_chunks_at_a_time(api: Served, tmp_path: Path) -> None:
    """Stored and previewed (both read the whole file), a 32 MiB upload never has half of itself in memory, sent
    as the body or as a multipart part. tracemalloc, not RSS: the server is a thread of this process, and only
    Python's allocations tell its buffers from what the allocator keeps."""
    head, rest = swedish_file(2000).split(b"\r\n", 1)
    path, copies = tmp_path / "big.csv", 0
    with open(path, "wb") as f:
        f.write(head + b"\r\n")
        while f.tell() < 32 << 20:
            f.write(rest)
            copies += 1

    def blocks() -> Iterator[bytes]:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                yield block

    def as_body(http: httpx.Client) -> httpx.Response:
        return http.post(f"{ACME}/imports", content=blocks(), headers={"Content-Type": "text/csv"}, params=options)

    def as_part(http: httpx.Client) -> httpx.Response:
        with open(path, "rb") as f:
            return http.post(f"{ACME}/imports", files={"file": ("big.csv", f)}, data=options)

    options = {"kind": "customers", "mapping_step": "true"}
    with api.client(api.key("acme", "imports:write")) as http:
        for send in (as_body, as_part):
            tracemalloc.start()
            try:
                made = send(http)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert made.status_code == 201, made.text
            assert made.json()["data"]["total"] == 2000 * copies
            assert peak < 16 << 20, f"{send.__name__}: {peak / 2**20:.1f} MiB"


def test_refused_and_oversized_files_keep_nothing(serve: Callable[..., Served]) -> None:
    api = serve(upload_limit_mb=1)
    with api.client(api.key("acme", "imports:write")) as http:
        big = swedish_file(12000)
        assert len(big) > 1_000_000
        over = http.post(f"{ACME}/imports", files={"file": ("big.csv", big)}, data={"kind": "customers"})
        assert (over.status_code, over.json()["error"]["code"]) == (413, "TOO_LARGE")
        assert over.json()["error"]["message"] == "the file is over the upload limit of 1000000 bytes (1 MB)"
        streamed = http.post(
            f"{ACME}/imports", content=iter([big]), headers={"Content-Type": "text/csv"}, params={"kind": "customers"}
        )
        assert streamed.status_code == 413 and "1 MB" in streamed.json()["error"]["message"]
        headless = b"Namn;Ort\r\nAcme AB;Lund\r\n"
        refused = http.post(f"{ACME}/imports", files={"file": ("kunder.csv", headless)}, data={"kind": "suppliers"})
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "VALIDATION_ERROR"), refused.text
        assert refused.json()["error"]["message"].startswith("kunder.csv")
        unknown = http.post(f"{ACME}/imports", files={"file": ("k.csv", headless)}, data={"kind": "employees"})
        assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "kind")
        empty = http.post(f"{ACME}/imports", params={"kind": "customers"})
        assert (empty.status_code, empty.json()["error"]["field"]) == (422, "file")
        assert http.get(f"{ACME}/imports").json()["data"] == []
    assert db(api, "SELECT count(*) FROM uploads") == 0


def test_a_queue_worker_elsewhere_reads_the_upload_from_the_database(
    serve: Callable[..., Served], redis_url: str, tmp_path: Path
) -> None:
    api = serve(redis_url=redis_url, queue_name=f"q-{tmp_path.name}")
    with api.client(api.key("acme", "imports:write")) as http:
        made = http.post(
            f"{ACME}/imports", files={"file": ("kunder.csv", swedish_file(120))}, data={"kind": "customers"}
        ).json()["data"]
        assert made["state"] == "queued"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTERSYNC_")}
        env.update(
            ROSTERSYNC_DATABASE_URL=PG_URL, ROSTERSYNC_DATABASE_SCHEMA=api.settings.database_schema or "",
            ROSTERSYNC_REDIS_URL=redis_url, ROSTERSYNC_QUEUE_NAME=api.settings.queue_name,
            ROSTERSYNC_VIES_ENABLED="false",
        )  # fmt: skip
        elsewhere = tmp_path / "another-machine"
        elsewhere.mkdir()
        worked = rostersync("worker", "--burst", env=env, cwd=elsewhere)
        assert worked.returncode == 0, worked.stderr
        run = http.get(f"{ACME}/imports/{made['id']}").json()["data"]
        assert (run["state"], run["created"]) == ("succeeded", 120)
    assert json.dumps(run).count("kunder.csv") == 1


def test_the_mapping_step_waits_for_a_person_and_remembers_the_layout(api: Served) -> None:
    lines = ["Kundnr;Namn;Orgnisationsnummer;Land"]
    lines += [f"{100 + i};Kund {i} AB;{org};Sverige" for i, org in enumerate(["556677-8899", "556036-0793"])]
    upload = {"file": ("kunder.csv", "\r\n".join(lines).encode())}
    with api.client(api.key("acme", "imports:write,customers:read")) as http:
        made = http.post(f"{ACME}/imports", files=upload, data={"kind": "customers", "mapping_step": "true"})
        assert made.status_code == 201, made.text
        run = made.json()["data"]
        assert run["state"] == "awaiting_mapping"
        columns = {c["header"]: c for c in run["mapping"]["columns"]}
        assert (columns["Namn"]["field"], columns["Namn"]["how"]) == ("name", "alias")
        assert (columns["Orgnisationsnummer"]["how"], columns["Orgnisationsnummer"]["suggestion"]) == (
            "unmapped", "org_number"
        )  # fmt: skip
        assert columns["Orgnisationsnummer"]["samples"][:1] == ["556677-8899"]
        assert "Orgnisationsnummer" in run["mapping"]["stop"]
        time.sleep(0.3)
        assert http.get(f"{ACME}/imports/{run['id']}").json()["data"]["state"] == "awaiting_mapping"
        assert http.get(f"{ACME}/customers").json()["data"] == []  # nothing written before the confirmation

        confirmed = http.post(
            f"{ACME}/imports/{run['id']}/mapping", json={"mapping": {"Orgnisationsnummer": "org_number"}}
        )
        assert confirmed.status_code == 200, confirmed.text
        done = finished(http, run["id"])
        assert (done["state"], done["created"]) == ("succeeded", 2)
        assert {c["org_number"] for c in http.get(f"{ACME}/customers").json()["data"]} == {"556677-8899", "556036-0793"}
        again = http.post(f"{ACME}/imports/{run['id']}/mapping", json={})
        assert (again.status_code, again.json()["error"]["code"]) == (400, "VALIDATION_ERROR")

        second = http.post(f"{ACME}/imports", files=upload, data={"kind": "customers", "mapping_step": "true"})
        proposal = second.json()["data"]["mapping"]
        assert {c["header"]: c["how"] for c in proposal["columns"]}["Orgnisationsnummer"] == "learned"
        assert proposal["stop"] is None
        cancelled = http.post(f"{ACME}/imports/{second.json()['data']['id']}/cancel").json()["data"]
        assert cancelled["state"] == "cancelled"
