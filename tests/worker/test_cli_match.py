"""`rostersync import` run twice on the same file, from the command line (issue 14.2)."""

import json
from pathlib import Path

import pytest

from tests.conftest import rostersync
from tests.fakes.rows import write_csv

PAGE = Path(__file__).resolve().parents[1] / "fixtures" / "economic_customers_page0.json"


def run_json(*args: str, env: dict[str, str]) -> tuple[int, dict]:
    result = rostersync(*args, "--json", env=env)
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize("database", ["cli_env", "sqlite_cli_env"])
def test_the_same_csv_twice_is_all_skipped_and_exits_0(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = request.getfixturevalue(database)
    extra = [["200001", "Utan Orgnr AB", "", "", "a@utan.example.se", "", "", "", "", "Sverige", "30", ""]]
    path = write_csv(tmp_path / "c.csv", 20, extra=extra)
    command = ("import", str(path), "--company", "m", "--kind", "customers")
    code, first = run_json(*command, env=env)
    assert (code, first["created"]) == (0, 21)
    code, again = run_json(*command, env=env)
    assert code == 0, again
    assert (again["status"], again["created"], again["updated"], again["skipped"], again["failed"]) == (
        "succeeded", 0, 0, 21, 0
    )  # fmt: skip
    listed = json.loads(rostersync("customers", "list", "--company", "m", "--json", env=env).stdout)
    assert len(listed) == 21


def test_a_saved_economic_page_twice_is_all_skipped(sqlite_cli_env: dict[str, str]) -> None:
    command = ("import", str(PAGE), "--company", "e", "--kind", "customers", "--source", "economic")
    _, first = run_json(*command, env=sqlite_cli_env)
    assert first["created"] > 0
    _, again = run_json(*command, env=sqlite_cli_env)
    assert (again["created"], again["updated"], again["skipped"]) == (0, 0, first["created"])
    assert again["failed"] == first["failed"]
    listed = rostersync("customers", "list", "--company", "e", "--include-archived", "--json", env=sqlite_cli_env)
    assert len(json.loads(listed.stdout)) == first["created"]


def test_an_unknown_mode_is_refused_and_update_mode_creates_nothing(
    sqlite_cli_env: dict[str, str], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "c.csv", 3)
    bad = rostersync(
        "import", str(path), "--company", "m", "--kind", "customers", "--mode", "merge", env=sqlite_cli_env
    )
    assert bad.returncode == 2 and "merge" in bad.stderr
    code, summary = run_json(
        "import", str(path), "--company", "m", "--kind", "customers", "--mode", "update", env=sqlite_cli_env
    )
    assert (code, summary["created"], summary["failed"]) == (1, 0, 3)  # nothing to update: no customer yet


@pytest.mark.parametrize("database", ["cli_env", "sqlite_cli_env"])
def test_a_misspelt_column_is_repaired_by_a_reimport(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = request.getfixturevalue(database)
    path = write_csv(tmp_path / "c.csv", 5)
    path.write_text(path.read_text(encoding="utf-8").replace("Organisationsnummer", "Orgnisationsnummer", 1))
    code, first = run_json("import", str(path), "--company", "r", "--kind", "customers", "--allow-unmapped", env=env)
    assert (code, first["created"]) == (0, 5)
    mapping = tmp_path / "fixed.json"
    mapping.write_text(json.dumps({"Orgnisationsnummer": "org_number"}), encoding="utf-8")
    for args, updated in (
        (("--mapping", str(mapping)), 5),
        (("--mapping", str(mapping)), 0),
        (("--file", str(path), "--mapping", str(mapping)), 0),
    ):
        code, again = run_json("reimport", first["run_id"], *args, env=env)
        assert (code, again["created"], again["updated"], again["skipped"]) == (0, 0, updated, 5 - updated)
    listed = json.loads(rostersync("customers", "list", "--company", "r", "--json", env=env).stdout)
    assert len(listed) == 5 and all(c["org_number"] for c in listed)


def test_a_corrected_file_updates_what_the_first_import_left_out(
    sqlite_cli_env: dict[str, str], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "c.csv", 3)
    typo = tmp_path / "typo.csv"
    typo.write_text(path.read_text(encoding="utf-8").replace("Organisationsnummer", "Orgnisationsnummer", 1))
    _, first = run_json(
        "import", str(typo), "--company", "f", "--kind", "customers", "--allow-unmapped", env=sqlite_cli_env
    )
    code, fixed = run_json("reimport", first["run_id"], "--file", str(path), env=sqlite_cli_env)
    assert (code, fixed["created"], fixed["updated"]) == (0, 0, 3)
    listed = json.loads(rostersync("customers", "list", "--company", "f", "--json", env=sqlite_cli_env).stdout)
    assert len(listed) == 3 and all(c["org_number"] for c in listed)


@pytest.mark.parametrize("database", ["cli_env", "sqlite_cli_env"])
def test_a_person_register_without_numbers_twice_is_all_skipped(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = request.getfixturevalue(database)
    path = tmp_path / "personer.csv"
    path.write_text(
        "Namn;E-post;Postnr;Ort\nAnna Svensson;anna@example.se;111 22;Stockholm\nBo Ek;;411 01;Göteborg\n"
        "Bo Ek;;411 01;Göteborg\n",
        encoding="utf-8",
    )
    for kind, sets in (("individual", ()), ("business", ("--set", "email=info@example.se"))):
        command = ("import", str(path), "--company", kind, "--kind", "customers", "--set", "country=SE")
        command += ("--set", f"customer_type={kind}", *sets)
        code, first = run_json(*command, env=env)
        assert (code, first["created"]) == (0, 3)
        code, again = run_json(*command, env=env)
        assert (code, again["created"], again["updated"], again["skipped"]) == (0, 0, 0, 3)
        listed = json.loads(rostersync("customers", "list", "--company", kind, "--json", env=env).stdout)
        assert len(listed) == 3
