"""Values a file lacks: `--set FIELD=VALUE` for every row without its own, and a stop before writing when every
row would fail for the same missing field."""

import json
from pathlib import Path

import pytest

from tests.conftest import rostersync
from tests.worker.test_cli import run_json

# A person-register export: no country column, no org numbers (so no customer type can be told).
REGISTER = (
    "Kundnr;Namn;E-post;Postnr;Ort\n"
    "101;Anna Lind;anna@example.se;111 22;Stockholm\n"
    "102;Bo Ek;bo@example.se;411 01;Göteborg\n"
    "103;;nils@example.se;222 21;Lund\n"  # no name: fails whatever is set
)


@pytest.fixture(params=["cli_env", "sqlite_cli_env"])
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    env: dict[str, str] = request.getfixturevalue(request.param)
    return env


def _listed(env: dict[str, str]) -> dict[str, dict]:
    shown = rostersync("customers", "list", "--company", "s", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    return {c["name"]: c for c in json.loads(shown.stdout)}


def test_a_field_every_row_lacks_stops_the_import_naming_the_set_that_fixes_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "register.csv"
    path.write_text(REGISTER, encoding="utf-8")
    for extra in ((), ("--dry-run",)):
        refused = rostersync("import", str(path), "--company", "s", "--kind", "customers", *extra, env=env)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert "every row lacks customer_type" in refused.stderr and "--set country=SE" in refused.stderr
    assert json.loads(rostersync("runs", "--json", env=env).stdout) == []  # nothing written, no run

    done = run_json("import", str(path), "--company", "s", "--kind", "customers", "--set", "country=SE", env=env)
    assert (done["created"], done["failed"]) == (2, 1)
    listed = _listed(env)
    assert {name: c["country"] for name, c in listed.items()} == {"Anna Lind": "SE", "Bo Ek": "SE"}

    # The failed row fixed in the report and reimported: the run's values for every row still apply.
    report = rostersync("report", done["run_id"], "--failed-only", env=env).stdout
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(report.replace(";;nils@", ";Nils Berg;nils@").replace(",103,,", ",103,Nils Berg,"), "utf-8")
    again = run_json("reimport", done["run_id"], "--failed-only", "--file", str(fixed), env=env)
    assert (again["created"], again["failed"]) == (1, 0), again
    assert _listed(env)["Nils Berg"]["country"] == "SE"


def test_a_set_value_fills_only_rows_without_their_own(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "Namn;Land;Kundtyp\nAnna Lind;;individual\nOla Nordmann;Norge;individual\nAcme Ltd;;\n", encoding="utf-8"
    )
    done = run_json(
        "import", str(path), "--company", "s", "--kind", "customers",
        "--set", "country=SE", "--set", "customer_type=individual", env=env,
    )  # fmt: skip
    assert (done["created"], done["failed"]) == (3, 0), done
    listed = _listed(env)
    assert {name: (c["country"], c["customer_type"]) for name, c in listed.items()} == {
        "Anna Lind": ("SE", "individual"),
        "Ola Nordmann": ("NO", "individual"),  # its own country wins
        "Acme Ltd": ("SE", "individual"),
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("contry=SE", "cannot set 'contry' for every row: not a field of customers"),
        ("country", "--set takes FIELD=VALUE"),
        ("country= ", "cannot set 'country' for every row to a blank value"),
    ],
)
def test_a_bad_set_is_one_line(sqlite_cli_env: dict[str, str], tmp_path: Path, value: str, message: str) -> None:
    path = tmp_path / "register.csv"
    path.write_text(REGISTER, encoding="utf-8")
    refused = rostersync(
        "import", str(path), "--company", "s", "--kind", "customers", "--set", value, env=sqlite_cli_env
    )
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and message in refused.stderr, refused.stderr


def test_a_companys_default_country_fills_rows_that_name_none(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_text(REGISTER, encoding="utf-8")
    assert run_json("company", "show", "--company", "s", env=env) == {"company_id": "s", "default_country": None}
    shown = run_json("company", "set", "--company", "s", "--default-country", "Sverige", env=env)
    assert shown == {"company_id": "s", "default_country": "SE"}
    assert run_json("company", "show", "--company", "other", env=env)["default_country"] is None  # its own only

    done = run_json("import", str(path), "--company", "s", "--kind", "customers", env=env)
    assert (done["created"], done["failed"]) == (2, 1)
    assert {c["country"] for c in _listed(env).values()} == {"SE"}

    denmark = tmp_path / "dk.csv"
    denmark.write_text("Kundnr;Namn\n201;Dansk Kunde\n", encoding="utf-8")
    run_json("import", str(denmark), "--company", "s", "--kind", "customers", "--set", "country=DK", env=env)
    assert _listed(env)["Dansk Kunde"]["country"] == "DK"  # the import's own --set wins

    bad = rostersync("company", "set", "--company", "s", "--default-country", "Xyzland", env=env)
    assert bad.returncode == 2 and "unknown country 'Xyzland'" in bad.stderr and bad.stderr.count("\n") == 1
    cleared = run_json("company", "set", "--company", "s", "--default-country", "none", env=env)
    assert cleared["default_country"] is None
    refused = rostersync("import", str(path), "--company", "s", "--kind", "customers", env=env)
    assert refused.returncode == 2 and "every row lacks customer_type" in refused.stderr
