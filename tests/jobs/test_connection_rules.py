"""A connection reaches only its own secret: credential references and base URLs are checked when a connection
is added and again when a sync reads the secret; what a CRM echoes back is scrubbed of the secret."""

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jobs import app
from jobs.errors import RunError
from jobs.records import NewConnection
from jobs.sync import connections, crm
from registry.clock import now
from registry.tables import connections as connections_table
from registry.tables import import_runs
from tests.conftest import app_context
from tests.fakes.crm_server import (
    ECONOMIC_CREDENTIAL,
    EconomicFake,
    FakeCRM,
    FaktooraFake,
    economic_customer,
    faktoora_customer,
)


def new(ref: str, url: str = "https://crm.example.com/api/") -> NewConnection:
    return NewConnection("acme", "economic", url, ref, 900, {})


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "economic.token").write_text(ECONOMIC_CREDENTIAL, encoding="utf-8")
    (tmp_path / "outside.token").write_text("not for a connection", encoding="utf-8")
    return folder


async def refused(ctx: Any, connection: NewConnection) -> str:
    with pytest.raises(RunError) as caught:
        await app.add_connection(ctx, connection)
    assert await app.list_connections(ctx) == []  # nothing is stored
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "variable", ["ROSTERSYNC_DATABASE_URL", "ROSTERSYNC_REDIS_URL", "HOME", "ECONOMIC_TOKEN", "ROSTERSYNC_CRED_"]
)
async def test_only_credential_variables_are_accepted(sqlite_engine: Any, variable: str) -> None:
    message = await refused(app_context(sqlite_engine), new(f"env:{variable}"))
    assert message == (
        f"credential variable {variable!r} refused: only variables named ROSTERSYNC_CRED_* hold credentials"
    )


async def test_a_credential_variable_is_accepted_as_it_is(sqlite_engine: Any) -> None:
    added = await app.add_connection(app_context(sqlite_engine), new("env:ROSTERSYNC_CRED_ECONOMIC"))
    assert (added.credential_ref, added.base_url) == ("env:ROSTERSYNC_CRED_ECONOMIC", "https://crm.example.com/api")


async def test_no_credential_file_without_a_secrets_directory(sqlite_engine: Any, secrets: Path) -> None:
    message = await refused(app_context(sqlite_engine), new(f"file:{secrets / 'economic.token'}"))
    assert "no secrets directory is configured (ROSTERSYNC_SECRETS_DIR)" in message


@pytest.mark.parametrize(
    "where",
    [
        "/etc/passwd",
        "../outside.token",
        "{secrets}/../outside.token",
        "{secrets}/link-out",
        "{secrets}/folder-link/outside.token",
        "{secrets}",
        ".",
    ],
)
async def test_a_credential_file_outside_the_secrets_directory_is_refused(
    sqlite_engine: Any, secrets: Path, where: str
) -> None:
    (secrets / "link-out").symlink_to(secrets.parent / "outside.token")
    (secrets / "folder-link").symlink_to(secrets.parent)
    ctx = app_context(sqlite_engine, secrets_dir=secrets)
    path = where.format(secrets=secrets)
    message = await refused(ctx, new(f"file:{path}"))
    assert message == f"credential file {path} refused: only files inside the secrets directory {secrets}"


async def test_a_credential_file_inside_is_stored_by_its_absolute_path(sqlite_engine: Any, secrets: Path) -> None:
    (secrets / "current").mkdir()
    (secrets / "current" / "faktoora.key").write_text("key", encoding="utf-8")
    (secrets / "rotated.key").symlink_to(secrets / "current" / "faktoora.key")  # a link inside stays a link
    ctx = app_context(sqlite_engine, secrets_dir=secrets)
    refs = [
        (await app.add_connection(ctx, new(ref))).credential_ref
        for ref in (f"file:{secrets / 'economic.token'}", "file:economic.token", "file:rotated.key")
    ]
    assert refs == [f"file:{secrets / 'economic.token'}"] * 2 + [f"file:{secrets / 'rotated.key'}"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://crm.example.com", "give an http(s) URL with a host"),
        ("crm.example.com/api", "give an http(s) URL with a host"),
        ("file:///etc/passwd", "give an http(s) URL with a host"),
        ("https://", "give an http(s) URL with a host"),
        ("http://crm.example.com/api", "the credential would travel unencrypted"),
        ("http://10.0.0.5:8080", "the credential would travel unencrypted"),
    ],
)
async def test_a_base_url_must_be_https_or_loopback(sqlite_engine: Any, url: str, reason: str) -> None:
    message = await refused(app_context(sqlite_engine), new("env:ROSTERSYNC_CRED_X", url))
    assert message.startswith(f"base URL {url!r} refused: {reason}")


async def test_a_base_url_holding_a_password_is_refused_without_echoing_it(sqlite_engine: Any) -> None:
    message = await refused(app_context(sqlite_engine), new("env:ROSTERSYNC_CRED_X", "https://me:hunter2@crm.example"))
    assert "hunter2" not in message and message.startswith("base URL refused: it holds a user name or password")


async def test_plain_http_to_this_machine_or_when_allowed(sqlite_engine: Any) -> None:
    ctx = app_context(sqlite_engine)
    for url in ("http://127.0.0.1:8080", "http://localhost/api", "http://[::1]:9000", "https://crm.example.com"):
        assert (await app.add_connection(ctx, new("env:ROSTERSYNC_CRED_X", url))).base_url == url.rstrip("/")
    allowed = app_context(sqlite_engine, allow_plain_http=True)
    assert (
        await app.add_connection(allowed, new("env:ROSTERSYNC_CRED_X", "http://crm.lan"))
    ).base_url == "http://crm.lan"


async def stored_before_the_rules(engine: Any, url: str, ref: str) -> uuid.UUID:
    """A connection row as an older version stored it, without any check."""
    connection_id = uuid.uuid4()
    row = {
        "id": connection_id, "company_id": "acme", "connector": "economic", "base_url": url, "credential_ref": ref,
        "every_s": 900, "options": {"retry_budget_s": 0.3}, "next_sync_at": now(), "created_at": now(),
    }  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(connections_table.insert().values(row))
    return connection_id


@pytest.fixture
def fake() -> Any:
    with FakeCRM(EconomicFake(), {"customers": [economic_customer(0)], "suppliers": []}) as server:
        yield server


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("env:ROSTERSYNC_DATABASE_URL", "credential variable 'ROSTERSYNC_DATABASE_URL' refused"),
        ("env:ECONOMIC_TOKEN", "credential variable 'ECONOMIC_TOKEN' refused"),
        ("file:{outside}", "credential file {outside} refused"),
    ],
)
async def test_an_old_row_with_a_bad_reference_fails_its_sync_without_reading_it(
    sqlite_engine: Any,
    fake: FakeCRM,
    http: Any,
    secrets: Path,
    monkeypatch: pytest.MonkeyPatch,
    ref: str,
    message: str,
) -> None:
    outside = secrets.parent / "outside.token"
    monkeypatch.setenv("ROSTERSYNC_SECRETS_DIR", str(secrets))
    database_url = f"sqlite:///{secrets.parent}/{ECONOMIC_CREDENTIAL}.db"  # a secret of its own
    monkeypatch.setenv("ROSTERSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ECONOMIC_TOKEN", ECONOMIC_CREDENTIAL)
    outside.write_text(ECONOMIC_CREDENTIAL, encoding="utf-8")
    cid = await stored_before_the_rules(sqlite_engine, fake.url, ref.format(outside=outside))

    result = await crm.sync(sqlite_engine, cid, http=http)
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith(message.format(outside=outside))
    assert fake.requests == []  # the value was never sent anywhere
    assert (await connections.get(sqlite_engine, cid))["last_status"] == "failed"


async def test_a_file_reference_is_checked_against_the_secrets_directory_of_the_run(
    sqlite_engine: Any, fake: FakeCRM, http: Any, secrets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROSTERSYNC_SECRETS_DIR", str(secrets))
    cid = await connections.add(sqlite_engine, new("file:economic.token", fake.url))
    assert (await crm.sync(sqlite_engine, cid, http=http)).status == "succeeded"

    monkeypatch.setenv("ROSTERSYNC_SECRETS_DIR", str(secrets.parent / "elsewhere"))  # moved since
    result = await crm.sync(sqlite_engine, cid, http=http)
    assert result.error is not None and result.error.startswith(f"credential file {secrets}/economic.token refused")


async def test_an_old_row_with_a_plain_http_url_is_not_synced(sqlite_engine: Any, http: Any) -> None:
    cid = await stored_before_the_rules(sqlite_engine, "http://crm.invalid/api", "env:ROSTERSYNC_CRED_ECONOMIC")
    ctx = app_context(sqlite_engine)
    ctx.http = http
    result = await app.sync(ctx, str(cid))  # recorded as a failed sync, so the schedule moves on
    assert result.status == "failed" and result.runs == []
    assert (result.error or "").startswith("base URL 'http://crm.invalid/api' refused: the credential would travel")
    assert (await connections.get(sqlite_engine, cid))["last_status"] == "failed"


# --- what comes back ---------------------------------------------------------------------------------------

SHORT_KEY = "k3y"


class EchoingFaktoora(FaktooraFake):
    """A faktoora whose error bodies name the key they were sent, as some APIs' do."""

    def authorized(self, headers: dict[str, str]) -> bool:
        self.sent = headers.get("x-api-key", "")
        return super().authorized(headers)

    def error_body(self, status: int, message: str) -> object:
        return {"statusCode": status, "message": f"{message} (API key '{self.sent}', account ?key={self.sent})"}

    def rate_limited_body(self) -> object:
        return self.error_body(429, "Too many requests.")


async def test_a_short_key_echoed_by_the_crm_is_scrubbed_from_stored_errors_and_logs(
    sqlite_engine: Any, http: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ROSTERSYNC_CRED_FAKTOORA", SHORT_KEY)
    records = {"customers": [faktoora_customer(i) for i in range(3)]}
    with FakeCRM(EchoingFaktoora(api_key=SHORT_KEY), records, fail_pages={1: [429, 404]}, retry_after="0") as server:
        connection = NewConnection("acme", "faktoora", server.url, "env:ROSTERSYNC_CRED_FAKTOORA", 900, {})
        cid = await connections.add(sqlite_engine, connection)
        with caplog.at_level(logging.WARNING, logger="connectors.crm"):
            result = await crm.sync(sqlite_engine, cid, http=http)
        assert [r.status for r in server.requests] == [429, 404]  # both answers named the key

    assert result.status == "failed"
    assert result.error == "faktoora: HTTP 404 Not Found: Injected failure. (API key '***', account ?key=***)"
    async with sqlite_engine.connect() as conn:
        stored = list((await conn.execute(select(import_runs.c.error))).scalars())
    assert stored == [result.error]
    assert "HTTP 429" in caplog.text and "'***'" in caplog.text
    for text in (*stored, caplog.text, str(result)):
        assert SHORT_KEY not in text
