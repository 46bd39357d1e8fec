"""Who may see what: the session cookie holds no key, every form carries the CSRF token, a key sees what its
scopes allow and only its company's runs, and refusals are pages without traces."""

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openpyxl
import pytest

from tests.api.conftest import Served
from tests.fakes.crm_server import ECONOMIC_CREDENTIAL, EconomicFake, FakeCRM, economic_customer, economic_supplier
from tests.web.files import swedish_csv


def signed_in(served: Served, key: str) -> tuple[httpx.Client, str]:
    """A client with a session, and the CSRF token its pages' forms carry."""
    client = httpx.Client(base_url=served.url, trust_env=False, timeout=30)
    form = client.get("/app/signin")
    token = form.text.split('name="csrf" value="')[1].split('"')[0]
    answer = client.post("/app/signin", data={"csrf": token, "key": key})
    assert answer.status_code == 303 and answer.headers["location"] == "/app/"
    set_cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and key not in set_cookie
    home = client.get("/app/")
    return client, home.text.split('name="csrf" value="')[1].split('"')[0]


def test_a_session_holds_no_key_and_every_form_needs_its_token(
    served: Served, make_key: Callable[[str, str], str]
) -> None:
    key = make_key("acme", "imports:write")
    anonymous = httpx.Client(base_url=served.url, trust_env=False)
    assert anonymous.get("/app/runs").headers["location"] == "/app/signin"
    assert anonymous.post("/app/signin", data={"csrf": "forged", "key": key}).status_code == 403
    token = anonymous.get("/app/signin").text.split('name="csrf" value="')[1].split('"')[0]
    refused = anonymous.post("/app/signin", data={"csrf": token, "key": "rsk_not-a-key"})
    assert refused.headers["location"] == "/app/signin?failed=true"

    client, csrf = signed_in(served, key)
    upload = {"file": ("kunder.csv", swedish_csv(), "text/csv")}
    forged = client.post("/app/imports", data={"kind": "customers"}, files=upload)
    assert forged.status_code == 403 and "Traceback" not in forged.text and "<html" in forged.text
    assert "No runs yet." in client.get("/app/runs").text  # the forged upload kept nothing
    made = client.post("/app/imports", data={"kind": "customers", "csrf": csrf}, files=upload)
    assert made.status_code == 303 and made.headers["location"].endswith("/mapping")
    assert client.get("/app/runs/00000000-0000-0000-0000-000000000000").status_code == 404

    session_id = client.cookies["rs_session"]
    assert client.post("/app/signout", data={"csrf": csrf}).headers["location"] == "/app/signin"
    replayed = httpx.Client(base_url=served.url, trust_env=False, cookies={"rs_session": session_id})
    assert replayed.get("/app/runs").headers["location"] == "/app/signin"


def test_a_key_sees_what_its_scopes_allow(served: Served, make_key: Callable[[str, str], str]) -> None:
    client, _ = signed_in(served, make_key("acme", "connections:read"))
    home = client.get("/app/")
    assert 'href="/app/connections"' in home.text and 'href="/app/runs"' not in home.text
    assert client.get("/app/runs").status_code == 403
    assert "No connections." in client.get("/app/connections").text


def test_runs_filter_and_a_connection_syncs_now(
    served: Served, make_key: Callable[[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROSTERSYNC_CRED_ECONOMIC", ECONOMIC_CREDENTIAL)
    records = {"customers": [economic_customer(i) for i in range(12)], "suppliers": [economic_supplier(1)]}
    key = make_key("acme", "connections:write,imports:read")
    with FakeCRM(EconomicFake(), records) as crm:
        with httpx.Client(base_url=served.url, trust_env=False, headers={"Authorization": f"Bearer {key}"}) as api:
            body = {"connector": "economic", "base_url": crm.url, "credential_ref": "env:ROSTERSYNC_CRED_ECONOMIC"}
            assert api.post("/api/v1/companies/acme/connections", json=body).status_code == 201
        client, csrf = signed_in(served, key)
        page = client.get("/app/connections").text
        assert "economic" in page and "Sync now" in page
        action = next(a for a in page.split('action="')[1:] if a.split('"')[0].endswith("/sync")).split('"')[0]
        assert client.post(action, data={"csrf": "forged"}).status_code == 403
        started = client.post(action, data={"csrf": csrf})
        assert started.headers["location"] == "/app/connections?synced=true"
        deadline = time.monotonic() + 30
        while "succeeded" not in client.get("/app/connections").text:
            assert time.monotonic() < deadline, "the sync did not finish"
            time.sleep(0.1)
    everything = client.get("/app/runs", params={"source": "sync"}).text
    assert everything.count("<tr>") == 3  # the header and the customers' and suppliers' runs
    suppliers = client.get("/app/runs", params={"source": "sync", "kind": "suppliers"}).text
    assert suppliers.count("<tr>") == 2 and "connection " in suppliers
    assert "No runs yet." in client.get("/app/runs", params={"status": "failed"}).text
    assert client.get("/app/runs", params={"status": "lost"}).status_code == 422


def test_a_workbooks_sheet_and_header_row_are_chosen_on_upload(
    served: Served, make_key: Callable[[str, str], str], tmp_path: Path
) -> None:
    book = openpyxl.Workbook()
    cover = book.active
    assert cover is not None
    cover.title, cover["A1"] = "Om exporten", "Kunder ur det gamla systemet"
    sheet = book.create_sheet("Kunder 2026")
    sheet.append(["Exporterad 2026-12-01"])
    sheet.append([])
    sheet.append(["Kundnummer", "Namn", "Land"])
    sheet.append(["00123", "Arkbolaget AB", "Sverige"])
    path = tmp_path / "kunder.xlsx"
    book.save(path)
    client, csrf = signed_in(served, make_key("acme", "imports:write"))
    upload = {"file": ("kunder.xlsx", path.read_bytes())}
    fields = {"kind": "customers", "csrf": csrf, "sheet": "Kunder 2026", "header_row": "3"}
    made = client.post("/app/imports", data=fields, files=upload)
    assert made.status_code == 303, made.text
    mapping = client.get(made.headers["location"]).text
    assert "Arkbolaget AB" in mapping and "00123" in mapping  # the chosen sheet, under its own header row
    wrong = client.post("/app/imports", data={**fields, "header_row": "third"}, files=upload)
    assert wrong.status_code == 422 and "row number" in wrong.text
