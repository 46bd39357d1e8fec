"""A mapping people can trust: shown before anything is written, a column that looks like a field never dropped
silently, and a mapping that was used remembered for the next file with the same columns."""

import json
from pathlib import Path

import pytest

from connectors.headers import suggest
from tests.conftest import rostersync
from tests.worker.test_cli import run_json

TYPO = (
    "Kundnr;Namn;Orgnisationsnummer;VAT-nummer;Land;Kontaktperson\n"
    "101;Acme AB;556036-0793;;Sverige;Anna\n"
    "102;Puu Oy;;FI20774740;Suomi;Bo\n"
    "103;Beta AB;556677-8899;;Sverige;\n"
)


@pytest.fixture(params=["cli_env", "sqlite_cli_env"])
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    env: dict[str, str] = request.getfixturevalue(request.param)
    return env


@pytest.mark.parametrize(
    ("header", "field"),
    [("Orgnisationsnummer", "org_number"), ("VAT-nummer", "vat_number"), ("Kundnumer", "customer_number"),
     ("E-post adres", "email"), ("Kontaktperson", None), ("Rabatt", None), ("Nr2", None)],
)  # fmt: skip
def test_a_header_no_alias_names_is_suggested_only_when_it_is_close(header: str, field: str | None) -> None:
    assert suggest(header, "customers") == field


def test_the_mapping_is_shown_before_anything_is_written(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "typo.csv"
    path.write_text(TYPO, encoding="utf-8")
    shown = run_json("mapping", str(path), "--company", "m", "--kind", "customers", env=sqlite_cli_env, code=0)
    columns = {c["header"]: c for c in shown["columns"]}
    assert (columns["Namn"]["field"], columns["Namn"]["how"]) == ("name", "alias")
    assert columns["Namn"]["samples"] == ["Acme AB", "Puu Oy", "Beta AB"]
    assert (columns["Orgnisationsnummer"]["field"], columns["Orgnisationsnummer"]["suggestion"]) == (None, "org_number")
    assert columns["VAT-nummer"]["suggestion"] == "vat_number" and columns["VAT-nummer"]["samples"] == ["FI20774740"]
    assert (columns["Kontaktperson"]["how"], columns["Kontaktperson"]["suggestion"]) == ("unmapped", None)
    assert "looks like org_number" in shown["stop"] and (shown["rows"], shown["delimiter"]) == (3, ";")
    assert not (tmp_path / "embedded.db").exists()  # read-only: not even the embedded database is made

    table = rostersync("mapping", str(path), "--company", "m", "--kind", "customers", env=sqlite_cli_env)
    assert table.returncode == 0 and "did you mean org_number?" in table.stdout
    assert "the import would stop" in table.stderr


def test_a_column_that_looks_like_a_field_stops_the_import_until_it_is_mapped(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "typo.csv"
    path.write_text(TYPO, encoding="utf-8")
    args = ("import", str(path), "--company", "m", "--kind", "customers")
    refused = rostersync(*args, env=env)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "'Orgnisationsnummer' is not mapped but looks like org_number" in refused.stderr
    assert "--allow-unmapped" in refused.stderr
    assert json.loads(rostersync("runs", "--json", env=env).stdout) == []  # nothing written

    mapping = tmp_path / "mapping.json"
    mapping.write_text('{"Orgnisationsnummer": "org_number", "VAT-nummer": "vat_number"}', encoding="utf-8")
    done = run_json(*args, "--mapping", str(mapping), env=env, code=0)
    assert done["created"] == 3
    listed = {c["name"]: c for c in run_json("customers", "list", "--company", "m", env=env)}
    assert listed["Acme AB"]["org_number"] == "556036-0793" and listed["Puu Oy"]["vat_number"] == "FI20774740"

    # The next export with the same columns (another month's) is mapped as this one was, and says so.
    again = tmp_path / "next-month.csv"
    again.write_text(
        TYPO.replace("101;Acme AB;556036-0793", "104;Gamma AB;559999-0008").split("\n102")[0] + "\n", "utf-8"
    )
    shown = run_json("mapping", str(again), "--company", "m", "--kind", "customers", env=env, code=0)
    columns = {c["header"]: c for c in shown["columns"]}
    assert (columns["Orgnisationsnummer"]["field"], columns["Orgnisationsnummer"]["how"]) == ("org_number", "learned")
    assert shown["stop"] is None
    remembered = run_json("import", str(again), "--company", "m", "--kind", "customers", env=env, code=0)
    assert remembered["created"] == 1 and any("remembered mapping" in w for w in remembered["warnings"])
    listed = {c["name"]: c for c in run_json("customers", "list", "--company", "m", env=env)}
    assert listed["Gamma AB"]["org_number"] == "559999-0008"

    other = rostersync("import", str(again), "--company", "other", "--kind", "customers", env=env)
    assert other.returncode == 2 and "looks like org_number" in other.stderr  # another company's is its own
    allowed = run_json("import", str(again), "--company", "other", "--kind", "customers", "--allow-unmapped", env=env)
    assert allowed["created"] == 1
    listed = run_json("customers", "list", "--company", "other", env=env)
    assert listed[0]["org_number"] is None  # left out, as asked
