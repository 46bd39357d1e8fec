"""A run's private copy of its file: the version it was started with, or a clean stop."""

import json
import os
import threading
from pathlib import Path

import pytest

from connectors.csv_source import SourceError
from jobs.pipeline.snapshot import CHANGED, take
from tests.conftest import ROOT, rostersync


def test_the_copy_is_the_files_version_and_goes_when_dropped(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("name\nAcme AB\n", encoding="utf-8")
    copy = take(str(path))
    path.write_text("name\nOther AB\n", encoding="utf-8")
    assert Path(copy.path).read_text(encoding="utf-8") == "name\nAcme AB\n"
    with pytest.raises(SourceError, match=CHANGED):
        take(str(path), expected_sha256=copy.sha256)
    copy_path = copy.path
    del copy
    assert not os.path.exists(copy_path)


def test_a_named_pipe_put_in_the_files_place_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "c.csv"
    os.mkfifo(fifo)
    refused: list[BaseException] = []

    def copy() -> None:
        try:
            take(str(fifo))
        except SourceError as exc:
            refused.append(exc)

    worker = threading.Thread(target=copy, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "waited for a writer"
    assert "not a regular file" in str(refused[0])


def test_an_import_leaves_no_copy_behind(sqlite_cli_env: dict[str, str], tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**sqlite_cli_env, "TMPDIR": str(tmp)}
    args = ("import", str(ROOT / "examples" / "customers.csv"), "--company", "demo", "--kind", "customers", "--json")
    result = rostersync(*args, env=env)
    assert json.loads(result.stdout)["created"] == 28, result.stderr
    assert list(tmp.iterdir()) == []
