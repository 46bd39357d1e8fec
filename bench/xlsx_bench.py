"""Benchmark: a workbook import against the same rows as CSV, and the workbook readers side by side.

    uv run python bench/xlsx_bench.py [--rows 200000] [--pg postgresql://...] [--skip-import]

Writes N customer rows as a ';' CSV and as an .xlsx (the XML openpyxl's write-only mode saves, written directly).
(a) reading: each reader turns the file into rows of text, in a process of its own (time, peak RSS): the CSV
    reader; python-calamine as the importer uses it (`WorkbookSource`, chosen); pandas.read_excel over calamine;
    openpyxl's read-only mode (not chosen).
(b) import: `rostersync import` of the .xlsx and of the CSV into fresh Postgres schemas (VIES off), back to back.
    The import reads a workbook twice one after the other (its header and row count, then the rows in the reading
    processes at once), so with openpyxl it would take about twice openpyxl's extra reading time longer: that
    estimate is printed beside the measured calamine import.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.rows import write_csv  # noqa: E402
from tests.fakes.workbooks import customers_table, large_workbook  # noqa: E402

CLI = Path(sys.executable).with_name("rostersync")

READERS = {
    "csv (CsvSource)": (
        "from connectors.csv_source import CsvSource\n"
        "source = CsvSource(PATH_CSV); source.check()\n"
        "n = sum(1 for _ in source.rows())\n"
    ),
    "xlsx calamine (chosen)": (
        "from connectors.workbook_source import WorkbookSource\n"
        "source = WorkbookSource(PATH_XLSX); source.check()\n"
        "n = sum(1 for _ in source.rows())\n"
    ),
    "xlsx pandas.read_excel(calamine)": (
        "import pandas\n"
        "frame = pandas.read_excel(PATH_XLSX, engine='calamine', dtype=str, header=None, keep_default_na=False)\n"
        "n = sum(1 for _ in frame.itertuples(index=False)) - 1\n"
    ),
    "xlsx openpyxl read-only": (
        "import openpyxl\n"
        "book = openpyxl.load_workbook(PATH_XLSX, read_only=True, data_only=True)\n"
        "rows = book.worksheets[0].iter_rows(values_only=True)\n"
        "n = sum(1 for row in rows if [('' if v is None else str(v)) for v in row]) - 1\n"
    ),
}


def read(code: str, csv_path: Path, xlsx_path: Path, rows: int) -> tuple[float, int]:
    """Seconds and peak RSS (MB) of one reader in a fresh process."""
    script = (
        f"import resource, time\nPATH_CSV, PATH_XLSX = {str(csv_path)!r}, {str(xlsx_path)!r}\n"
        "started = time.perf_counter()\n"
        f"{code}"
        f"assert n == {rows}, n\n"
        "print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    seconds, rss = done.stdout.split()
    return float(seconds), int(rss)


def import_seconds(pg: str, path: Path, rows: int) -> float:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "ROSTERSYNC_DATABASE_URL": pg, "ROSTERSYNC_DATABASE_SCHEMA": schema}
    env["ROSTERSYNC_VIES_ENABLED"] = "false"
    psql = ["psql", pg, "-q", "-v", "ON_ERROR_STOP=1", "-c"]
    quiet = {**os.environ, "PGOPTIONS": "-c client_min_messages=warning"}
    subprocess.run([*psql, f"CREATE SCHEMA {schema}"], env=quiet, check=True)
    try:
        subprocess.run([str(CLI), "db", "upgrade"], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        done = subprocess.run(
            [str(CLI), "import", str(path), "--company", "bench", "--kind", "customers", "--json"],
            env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        created = json.loads(done.stdout)["created"] if done.stdout else None
        if created != rows:
            raise SystemExit(f"{path.name}: created {created} of {rows}: {done.stderr[-500:]}")
        return seconds
    finally:
        subprocess.run([*psql, f"DROP SCHEMA {schema} CASCADE"], env=quiet, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument(
        "--pg", default=os.environ.get("ROSTERSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--skip-import", action="store_true", help="Only (a): no database needed.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = write_csv(Path(tmp) / "kunder.csv", args.rows)
        xlsx_path = large_workbook(Path(tmp) / "kunder.xlsx", customers_table(args.rows))
        sizes = (csv_path.stat().st_size / 2**20, xlsx_path.stat().st_size / 2**20)
        print(f"{args.rows:,} rows: CSV {sizes[0]:.0f} MB, xlsx {sizes[1]:.0f} MB")
        print("(a) reading the rows as text")
        times = {}
        for name, code in READERS.items():
            seconds, rss = read(code, csv_path, xlsx_path, args.rows)
            times[name] = seconds
            print(f"  {name:<34} {seconds:6.1f} s  {args.rows / seconds:>9,.0f} rows/s  peak {rss:4d} MB")
        base = times["csv (CsvSource)"]
        calamine, openpyxl = times["xlsx calamine (chosen)"], times["xlsx openpyxl read-only"]
        print(f"  xlsx/csv: calamine {calamine / base:.1f}x, openpyxl {openpyxl / base:.1f}x")
        if args.skip_import:
            return
        print("(b) rostersync import, Postgres")
        csv_s = import_seconds(args.pg, csv_path, args.rows)
        xlsx_s = import_seconds(args.pg, xlsx_path, args.rows)
        estimate = xlsx_s + 2 * (openpyxl - calamine)
        print(f"  csv  {csv_s:6.1f} s  {args.rows / csv_s:>8,.0f} rows/s")
        print(f"  xlsx {xlsx_s:6.1f} s  {args.rows / xlsx_s:>8,.0f} rows/s  ratio {xlsx_s / csv_s:.2f} (calamine)")
        ratio = estimate / csv_s
        print(
            f"  xlsx ~{estimate:5.1f} s  {args.rows / estimate:>8,.0f} rows/s  ratio {ratio:.2f} (openpyxl, estimated)"
        )


if __name__ == "__main__":
    main()
