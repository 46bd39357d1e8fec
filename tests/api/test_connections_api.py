"""Connections and syncs over HTTP: add by reference to a secret, sync in the background one at a time, the
sync's runs, removal; another company sees none of it."""

import time

import pytest

from tests.api.conftest import Served
from tests.fakes.crm_server import ECONOMIC_CREDENTIAL, EconomicFake, FakeCRM, economic_customer, economic_supplier

ACME = "/api/v1/companies/acme"


def test_connect_sync_in_the_background_and_read_its_runs(api: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROSTERSYNC_CRED_ECONOMIC", ECONOMIC_CREDENTIAL)
    records = {"customers": [economic_customer(i) for i in range(40)], "suppliers": [economic_supplier(1)]}
    with (
        FakeCRM(EconomicFake(), records, latency_s=0.2) as crm,
        api.client(api.key("acme", "connections:write")) as http,
    ):
        body = {"connector": "economic", "base_url": crm.url, "credential_ref": "env:ROSTERSYNC_CRED_ECONOMIC"}
        made = http.post(f"{ACME}/connections", json=body)
        assert made.status_code == 201, made.text
        connection = made.json()["data"]
        assert ECONOMIC_CREDENTIAL not in made.text and connection["credential_ref"] == body["credential_ref"]
        path = f"{ACME}/connections/{connection['connection_id']}"
        started = http.post(f"{path}/sync")
        assert (started.status_code, started.json()["data"]["status"]) == (202, "queued")
        assert http.post(f"{path}/sync").json()["data"]["status"] == "already queued"  # one at a time
        deadline = time.monotonic() + 30
        while http.get(path).json()["data"]["last_status"] is None:
            assert time.monotonic() < deadline, "the sync did not finish"
            time.sleep(0.1)
        assert http.get(path).json()["data"]["last_status"] == "succeeded"
        runs = http.get(f"{path}/runs").json()["data"]
        assert sorted((r["kind"], r["created"]) for r in runs) == [("customers", 40), ("suppliers", 1)]
        assert [c["connection_id"] for c in http.get(f"{ACME}/connections").json()["data"]] == [
            connection["connection_id"]
        ]
    with api.client(api.key("globex", "connections:write")) as http:
        other = f"/api/v1/companies/globex/connections/{connection['connection_id']}"
        for answer in (http.get(other), http.post(f"{other}/sync"), http.get(f"{other}/runs"), http.delete(other)):
            assert (answer.status_code, answer.json()["error"]["code"]) == (404, "NOT_FOUND")
        assert http.get("/api/v1/companies/globex/connections").json()["data"] == []
    with api.client(api.key("acme", "connections:write")) as http:
        assert http.delete(path).status_code == 204
        assert http.get(f"{ACME}/connections").json()["data"] == []


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"connector": "hubspot"}, 422, "connector"),
        ({"every": "soon"}, 422, "every"),
        ({"credential_ref": "env:HOME"}, 400, None),
        ({"base_url": "http://crm.example.com"}, 400, None),
    ],
    ids=["unknown connector", "schedule", "a variable that is not a credential", "plain http elsewhere"],
)
def test_a_connection_that_cannot_be_used_is_refused(api: Served, change: dict, status: int, field: str | None) -> None:
    body = {"connector": "economic", "base_url": "https://crm.example.com", "credential_ref": "env:ROSTERSYNC_CRED_X"}
    with api.client(api.key("acme", "connections:write")) as http:
        refused = http.post(f"{ACME}/connections", json={**body, **change})
        assert refused.status_code == status, refused.text
        assert refused.json()["error"].get("field") == field
        assert http.get(f"{ACME}/connections").json()["data"] == []
