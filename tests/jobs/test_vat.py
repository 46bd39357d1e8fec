"""VIES on commit and durable rechecks, against the fake VIES on 127.0.0.1 and the real databases."""

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from connectors.vies import ViesClient
from jobs import app
from jobs.pipeline import importer
from jobs.records import ImportRequest
from jobs.vat import VatChecker
from registry.tables import customers, vat_checks, vies_results
from tests.conftest import app_context
from tests.fakes.vies_server import FakeVies

HEADER = "Namn;Land;Momsnr;Org.nr\n"
MULLER = "Müller GmbH;Deutschland;DE136695976;\n"
MULLER_BRANCH = "Müller Filiale Hamburg;Deutschland;DE136695976;\n"
SUOMI = "Suomen Puu Oy;Suomi;FI20774740;\n"
SVENSK = "Svensk AB;Sverige;;556036-0793\n"


@pytest.fixture
def vies() -> Any:
    with FakeVies(valid_numbers={"DE136695976"}, latency_s=0.01) as fake:
        yield fake


def checker(engine: Any, http: httpx.AsyncClient, vies: FakeVies, **kw: Any) -> VatChecker:
    client = ViesClient(
        http, vies.url, request_timeout_s=2, retry_budget_s=kw.pop("budget", 1.0),
        backoff_initial_s=0.01, backoff_max_s=0.05, **kw,
    )  # fmt: skip
    return VatChecker(engine, client)


async def import_text(engine: Any, tmp_path: Path, text: str, vat: VatChecker | None, **kw: Any) -> Any:
    path = tmp_path / "c.csv"
    path.write_text(HEADER + text, encoding="utf-8")
    started = await app.start_import(app_context(engine), ImportRequest(str(path), "acme", "customers", **kw))
    return await importer.run_import(engine, started.run.id, opened=started.opened, vat=vat)


async def statuses(engine: Any) -> dict[str, tuple[str, bool]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(customers.c.name, customers.c.vat_check_status, customers.c.vat_number_validated)
        )
        return {name: (status, validated) for name, status, validated in rows}


async def pending_checks(engine: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(vat_checks))).mappings())


async def report(engine: Any, run_id: Any) -> dict[str, dict[str, str]]:
    out = io.StringIO()
    await app.write_report(app_context(engine), str(run_id), out)
    return {r["Namn"]: r for r in csv.DictReader(io.StringIO(out.getvalue()), delimiter=";")}  # as its file


async def test_valid_invalid_and_one_call_per_number(engine: Any, http: Any, vies: FakeVies, tmp_path: Path) -> None:
    run = await import_text(engine, tmp_path, MULLER + SUOMI + MULLER_BRANCH + SVENSK, checker(engine, http, vies))
    assert run.created == 4
    assert await statuses(engine) == {
        "Müller GmbH": ("valid", True),
        "Müller Filiale Hamburg": ("valid", True),
        "Suomen Puu Oy": ("invalid", False),
        "Svensk AB": ("not_applicable", False),
    }
    assert sorted(vies.calls) == [("DE", "136695976"), ("FI", "20774740")]  # the shared number asked once
    rows = await report(engine, run.id)
    assert rows["Suomen Puu Oy"]["status"] == "created"
    assert rows["Suomen Puu Oy"]["error_code"] == "VIES_INVALID"
    assert rows["Müller GmbH"]["error_code"] == ""
    assert await pending_checks(engine) == []


async def test_answers_are_cached_across_imports(engine: Any, http: Any, vies: FakeVies, tmp_path: Path) -> None:
    vat = checker(engine, http, vies)
    await import_text(engine, tmp_path, MULLER, vat)
    await import_text(engine, tmp_path, MULLER_BRANCH, vat)
    assert len(vies.calls) == 1
    async with engine.connect() as conn:
        assert (await conn.execute(select(vies_results.c.vat_number))).scalars().all() == ["DE136695976"]


async def test_transient_errors_then_valid(engine: Any, http: Any, vies: FakeVies, tmp_path: Path) -> None:
    vies.script = {"DE136695976": ["MS_UNAVAILABLE", "TIMEOUT", "valid"]}
    await import_text(engine, tmp_path, MULLER, checker(engine, http, vies))
    assert await statuses(engine) == {"Müller GmbH": ("valid", True)}
    assert len(vies.calls) == 3


async def test_an_outage_is_never_reported_as_invalid(engine: Any, http: Any, vies: FakeVies, tmp_path: Path) -> None:
    vies.down = True
    vat = checker(engine, http, vies, budget=0.2)
    run = await import_text(engine, tmp_path, MULLER + SUOMI + SVENSK, vat)
    assert run.status == "succeeded" and run.created == 3  # the import finishes
    assert await statuses(engine) == {
        "Müller GmbH": ("pending", False),
        "Suomen Puu Oy": ("pending", False),
        "Svensk AB": ("not_applicable", False),
    }
    checks = await pending_checks(engine)
    assert [c["attempts"] for c in checks] == [1, 1]
    # Retries against a dead VIES trip the breaker, so a later number may be skipped during the cool-down.
    assert {c["last_error"] for c in checks} <= {"SERVICE_UNAVAILABLE", "COOLDOWN"}
    soon = datetime.now(UTC) + timedelta(minutes=2)
    assert all(c["next_attempt_at"].replace(tzinfo=UTC) < soon for c in checks)  # about a minute
    rows = await report(engine, run.id)
    assert rows["Müller GmbH"]["error_code"] == "VIES_PENDING"

    # Nothing is due yet; once VIES is back, the recheck settles both and the report follows.
    assert sum((await vat.recheck_due()).values()) == 0
    vies.down = False
    outcomes = await checker(engine, http, vies).recheck_due(all_pending=True)
    assert outcomes == {"valid": 1, "invalid": 1}
    assert (await statuses(engine))["Müller GmbH"] == ("valid", True)
    assert await pending_checks(engine) == []
    rows = await report(engine, run.id)
    assert rows["Müller GmbH"]["error_code"] == ""
    assert rows["Suomen Puu Oy"]["error_code"] == "VIES_INVALID"


async def test_backoff_schedule_then_unavailable_after_seven_days(
    engine: Any, http: Any, vies: FakeVies, tmp_path: Path
) -> None:
    vies.unavailable_states = {"DE"}
    vat = checker(engine, http, vies, budget=0.1)
    await import_text(engine, tmp_path, MULLER, vat)
    gaps = []
    for expected_attempts in (2, 3, 4):
        await vat.recheck_due(all_pending=True)
        (check,) = await pending_checks(engine)
        assert check["attempts"] == expected_attempts
        gaps.append(check["next_attempt_at"].replace(tzinfo=UTC) - datetime.now(UTC))
    assert [round(g.total_seconds() / 60) for g in gaps] == [5, 30, 120]

    async with engine.begin() as conn:
        await conn.execute(update(vat_checks).values(first_attempt_at=datetime.now(UTC) - timedelta(days=8)))
    assert await vat.recheck_due(all_pending=True) == {"unavailable": 1}
    assert await statuses(engine) == {"Müller GmbH": ("unavailable", False)}
    assert await pending_checks(engine) == []


async def test_operational_refusal_stays_pending(engine: Any, http: Any, vies: FakeVies, tmp_path: Path) -> None:
    vies.script = {"DE136695976": ["IP_BLOCKED"]}
    await import_text(engine, tmp_path, MULLER, checker(engine, http, vies))
    assert await statuses(engine) == {"Müller GmbH": ("pending", False)}
    assert len(vies.calls) == 1  # permanent errors are not retried at once
    (check,) = await pending_checks(engine)
    assert check["last_error"] == "IP_BLOCKED"


async def test_limits_are_never_exceeded(pg_engine: Any, http: Any, tmp_path: Path) -> None:
    from tests.fakes.rows import vat_number

    numbers = [vat_number(state, i) for state in ("DE", "FI") for i in range(15)]
    text = "".join(f"Kunde {n};{'Deutschland' if n.startswith('DE') else 'Suomi'};{n};\n" for n in numbers)
    with FakeVies(default_valid=True, latency_s=0.05, per_state_limit=2, global_limit=3) as fake:
        vat = checker(pg_engine, http, fake, per_state_limit=2, overall_limit=3)
        await import_text(pg_engine, tmp_path, text, vat)
        assert max(fake.max_in_flight.values()) <= 2 and fake.max_in_flight_total <= 3
        assert len(fake.calls) == 30  # no MS_/GLOBAL_MAX_CONCURRENT_REQ retries were needed
    assert set((await statuses(pg_engine)).values()) == {("valid", True)}


async def test_vies_off_and_dry_run_make_no_calls(engine: Any, vies: FakeVies, tmp_path: Path) -> None:
    await import_text(engine, tmp_path, MULLER, VatChecker(engine, None))
    assert await statuses(engine) == {"Müller GmbH": ("pending", False)}  # not "valid"
    assert len(await pending_checks(engine)) == 1
    run = await import_text(engine, tmp_path, SUOMI, None, dry_run=True)
    assert run.created == 1
    assert vies.calls == []


async def test_states_vies_reports_unavailable_are_not_called(
    engine: Any, http: Any, vies: FakeVies, tmp_path: Path
) -> None:
    vies.down = True
    vat = checker(engine, http, vies, budget=0.1)
    await import_text(engine, tmp_path, MULLER + SUOMI, vat)
    vies.down, vies.unavailable_states = False, {"FI"}
    vies.reset_stats()
    outcomes = await checker(engine, http, vies).recheck_due(all_pending=True)  # after the cool-down
    assert outcomes == {"valid": 1, "pending": 1}
    assert [c for c, _ in vies.calls] == ["DE"]  # FI was on the board as unavailable: not asked
