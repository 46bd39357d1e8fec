"""Exports from DOS and Mac programs import with their names intact, and the encoding detected is shown; a file
whose text looks garbled is refused in one line, writing nothing."""

import json
from pathlib import Path

from tests.conftest import rostersync

IMPORT = ("--company", "demo", "--kind", "customers", "--json")


def test_dos_and_mac_exports_import_with_their_names_intact(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    files = {
        "cp850": "Namn;Ort;Land\r\nBjörk AB;Malmö;Sverige\r\nSøren Jørgensen ApS;København Ø;Danmark\r\n",
        "mac_roman": "Namn;Ort;Land\rStråd AB;Göteborg;Sverige\rJürgen Müller GmbH;Düsseldorf;Deutschland\r",
    }
    runs = {}
    for encoding, text in files.items():
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        result = rostersync("import", str(path), *IMPORT, env=sqlite_cli_env)
        assert result.returncode == 0, result.stderr
        runs[encoding] = json.loads(result.stdout)
    listed = json.loads(rostersync("customers", "list", "--company", "demo", "--json", env=sqlite_cli_env).stdout)
    assert sorted((c["name"], c["city"]) for c in listed) == [
        ("Björk AB", "Malmö"),
        ("Jürgen Müller GmbH", "Düsseldorf"),
        ("Stråd AB", "Göteborg"),
        ("Søren Jørgensen ApS", "København Ø"),
    ]
    for encoding, run in runs.items():  # the encoding detected is shown
        assert run["warnings"] == [f"the file was read as {encoding} (detected); if names look wrong, give --encoding"]


def test_a_garbled_file_is_refused_in_one_line_writing_nothing(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    """Rows pasted from a UTF-8 export into a Windows one."""
    path = tmp_path / "pasted.csv"
    path.write_bytes("Namn;Ort\r\nÅsa Öberg;Umeå\r\n".encode("cp1252") + "Björk AB;Malmö\r\n".encode())
    result = rostersync("import", str(path), *IMPORT, env=sqlite_cli_env)
    assert result.returncode == 2 and result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr == (
        "rostersync: pasted.csv, line 3: the text looks garbled as cp1252 (e.g. 'BjÃ¶rk'); give the file's encoding"
        " with --encoding\n"
    )
    assert rostersync("runs", "--json", env=sqlite_cli_env).stdout == "[]\n"
    assert json.loads(rostersync("customers", "list", "--company", "demo", "--json", env=sqlite_cli_env).stdout) == []
