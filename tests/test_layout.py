"""The layering a reader relies on: faces call the application layer only, one module writes each run table,
the CLI package has no cycles, and the README stays short."""

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

FACES = sorted([*(ROOT / "worker").rglob("*.py"), *(ROOT / "api").rglob("*.py")])
# What a face may import of ours: the application layer and the records, context, errors and settings it uses.
FACE_MAY_IMPORT = {"jobs.app", "jobs.records", "jobs.context", "jobs.errors", "jobs.settings", "jobs"}
OURS = ("registry", "connectors", "jobs", "worker", "api")


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", FACES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_face_calls_the_application_layer_and_runs_no_sql(path: Path) -> None:
    modules = imported_modules(path)
    below = {m for m in modules if m.split(".")[0] in ("jobs", "registry", "connectors")}
    assert below <= FACE_MAY_IMPORT, below - FACE_MAY_IMPORT
    assert {m for m in modules if m.startswith("sqlalchemy")} <= {"sqlalchemy.exc"}


def test_the_cli_package_has_no_cycles() -> None:
    """Each command group imports only the leaf `common`; the package root only assembles them."""
    for path in (ROOT / "worker" / "cli").glob("*.py"):
        if path.name == "__init__.py":
            continue
        siblings = {m for m in imported_modules(path) if m.startswith("worker.cli")}
        assert siblings <= ({"worker.cli.common"} if path.name != "common.py" else set()), path.name
        assert "worker.cli" not in imported_modules(path)


@pytest.mark.parametrize(
    ("table", "owner"),
    [
        ("import_runs", "jobs/ledger/runs.py"),
        ("import_batches", "jobs/ledger/run_rows.py"),
        ("connections", "jobs/sync/connections.py"),
    ],
)
def test_one_module_writes_each_run_table(table: str, owner: str) -> None:
    writes = re.compile(rf"(update|delete)\({table}\)|\b{table}\.insert\(|append\(conn, {table}\b")
    writers = {
        str(path.relative_to(ROOT))
        for package in OURS
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and writes.search(path.read_text(encoding="utf-8"))
    }
    assert writers == {owner}


def test_code_names_no_file_outside_the_repository() -> None:
    outside = re.compile(r"DESIGN\.md|\bseeds? ?0\d\d\b|shared/|reference/(vies|economic|faktoora|visma)")
    for package in OURS:
        for path in (ROOT / package).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                assert not outside.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"


def test_the_readme_is_short_and_its_links_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= 5_000
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), link
