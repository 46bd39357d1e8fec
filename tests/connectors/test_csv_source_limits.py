"""Memory stays bounded on hostile lines: a line without a break is refused at the caps, not read whole."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.csv_source import MAX_COLUMNS, MAX_LINE_BYTES, MAX_VALUE_CHARS, CsvSource, SourceError

MiB = 1 << 20
HUGE = 40 * MiB  # far more than any bound asserted below
HEAD = "Namn;Ort\nÅkesson AB;Umeå\n"  # not ASCII: encoding detection stops at the head
VALUE_TOO_LONG = f"a value is longer than 1 MiB ({MAX_VALUE_CHARS:,} characters)"


@pytest.fixture
def huge(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "huge.csv"
    yield path
    path.unlink(missing_ok=True)  # not kept with the test's other files


def write_huge(path: Path, head: str, fill: str, tail: str = "", encoding: str = "utf-8", size: int = HUGE) -> None:
    """`head`, then `fill` repeated to `size` bytes in a few big writes, then `tail`."""
    body = "utf-16-le" if encoding == "utf-16" else encoding  # the BOM once, at the start
    chunk = (fill * (MiB // len(fill))).encode(body)
    with path.open("wb") as f:
        f.write(head.encode(encoding))
        for _ in range(size // len(chunk)):
            f.write(chunk)
        f.write(tail.encode(body))


def bytes_read() -> int | None:
    """Bytes this process has read (Linux), None where it cannot tell."""
    try:
        with open("/proc/self/io") as f:
            return int(dict(line.split(": ") for line in f.read().splitlines())["rchar"])
    except (OSError, KeyError, ValueError):
        return None


def refused(path: Path, **kwargs: str) -> tuple[str, int, int | None]:
    """The message with which the file is refused, the peak of Python memory meanwhile, and the bytes read."""
    before = bytes_read()
    tracemalloc.start()
    try:
        with pytest.raises(SourceError) as info:
            CsvSource(path, **kwargs).check()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    after = bytes_read()
    return str(info.value), peak, None if before is None or after is None else after - before


@pytest.mark.parametrize(
    ("head", "fill", "tail", "kwargs", "message"),
    [
        pytest.param(HEAD + "Beta AB;", "x", "", {}, f"line 3: {VALUE_TOO_LONG}", id="value"),
        pytest.param(HEAD + 'Beta AB;"', "x", '"\n', {}, f"line 3: {VALUE_TOO_LONG}", id="quoted-value"),
        pytest.param(HEAD + 'Beta AB;"', "x;", "", {}, f"line 3: {VALUE_TOO_LONG}", id="unterminated-quote"),
        pytest.param(
            HEAD + 'Beta AB;"first line\n',
            "x",
            "",
            {},
            "line 3: a quoted value runs on for more than 1 MiB (unterminated quote?)",
            id="quoted-value-on-its-second-line",
        ),
        pytest.param(
            HEAD + "Beta AB;",
            "a value of some thirty letters;",
            "\n",
            {},
            f"line 3: the line is longer than 2 MiB ({MAX_LINE_BYTES:,} bytes)",
            id="many-short-values",
        ),
        pytest.param(
            "", "å" + "x" * 30, "", {"delimiter": ";"}, f"line 1: {VALUE_TOO_LONG}", id="no-line-break-at-all"
        ),
        pytest.param(HEAD + "Beta AB;", "x", "", {"encoding": "utf-8"}, f"line 3: {VALUE_TOO_LONG}", id="given"),
    ],
)
def test_a_huge_line_is_refused_without_being_held(
    huge: Path, head: str, fill: str, tail: str, kwargs: dict[str, str], message: str
) -> None:
    write_huge(huge, head, fill, tail)
    text, peak, read = refused(huge, **kwargs)
    assert peak < 16 * MiB  # the whole line is HUGE
    if read is not None:
        assert read < 16 * MiB
    assert text == f"huge.csv, {message}"
    with pytest.raises(SourceError) as info:  # the rows, read without the check first, stop the same way
        list(CsvSource(huge, **kwargs).rows())
    assert str(info.value) == text


def test_a_huge_line_in_utf16_is_refused_without_being_held(huge: Path) -> None:
    write_huge(huge, HEAD + "Beta AB;", "x", encoding="utf-16")
    text, peak, read = refused(huge)
    assert peak < 24 * MiB and (read is None or read < 24 * MiB)
    assert text == f"huge.csv, line 3: {VALUE_TOO_LONG}"


def test_a_line_at_the_cap_is_read_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    for extra, crlf in ((0, False), (0, True), (1, False), (1, True)):
        line = "Beta AB;" + "x" * (MAX_VALUE_CHARS - 8) + ";" + "y" * (MAX_LINE_BYTES - MAX_VALUE_CHARS - 1 + extra)
        assert len(line) == MAX_LINE_BYTES + extra
        newline = "\r\n" if crlf else "\n"
        path.write_text(newline.join(["Namn;Anteckning;Mer", "Acme;a;b", line, "Gamma;c;d", ""]), "utf-8", newline="")
        source = CsvSource(path)
        if extra:
            with pytest.raises(SourceError) as info:
                source.check()
            assert str(info.value) == f"customers.csv, line 3: the line is longer than 2 MiB ({MAX_LINE_BYTES:,} bytes)"
        else:
            assert source.check() == 3
            assert [len(row.values[1]) for row in source.rows()] == [1, MAX_VALUE_CHARS - 8, 1]


def test_a_value_at_the_cap_in_utf16_is_read(tmp_path: Path) -> None:
    """The line cap counts code units: a line of 1 MiB characters is more than 2 MiB of UTF-16."""
    path = tmp_path / "customers.csv"
    path.write_bytes(("Namn;Anteckning\r\nAcme;" + "x" * MAX_VALUE_CHARS + "\r\nBeta;kort\r\n").encode("utf-16"))
    source = CsvSource(path)
    assert source.check() == 2
    assert [len(row.values[1]) for row in source.rows()] == [MAX_VALUE_CHARS, 4]


def test_a_header_longer_than_the_sample_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    header = ";".join(f"column number {i}" for i in range(5000))  # > 64 KiB
    path.write_text("\r\n\r\n" + header + "\r\n" + ";".join("x" * 5000) + "\r\n", "utf-8")
    with pytest.raises(SourceError) as info:
        CsvSource(path)
    assert str(info.value) == "customers.csv, line 3: the header is longer than 64 KiB: is this a CSV file?"
    # With the delimiter given the header is read, and the column cap applies.
    with pytest.raises(SourceError) as info:
        CsvSource(path, delimiter=";")
    assert str(info.value) == f"customers.csv, line 3: the header has 5000 columns, at most {MAX_COLUMNS} are supported"


def test_one_line_of_no_line_break_is_refused_as_a_header(huge: Path) -> None:
    write_huge(huge, "", "x")
    text, peak, _ = refused(huge)
    assert peak < 4 * MiB
    assert text == "huge.csv, line 1: the header is longer than 64 KiB: is this a CSV file?"


@pytest.mark.parametrize("delimiter", [None, ";"])
def test_the_column_cap_applies_to_a_header_detected_or_given(tmp_path: Path, delimiter: str | None) -> None:
    path = tmp_path / "customers.csv"
    header = ";".join(f"c{i}" for i in range(MAX_COLUMNS + 1))
    path.write_text(header + "\n" + header + "\n", "utf-8")
    kwargs = {} if delimiter is None else {"delimiter": delimiter}
    with pytest.raises(SourceError) as info:
        CsvSource(path, **kwargs)
    assert str(info.value) == "customers.csv, line 1: the header has 501 columns, at most 500 are supported"


def test_a_plain_file_that_grows_a_huge_line_after_its_check_is_not_read_whole(huge: Path) -> None:
    write_huge(huge, HEAD, "Beta AB;Lund\n", size=16 * MiB)
    source = CsvSource(huge)
    assert source.plain is None and source.check() > 1000 and source.plain is not None
    write_huge(huge, HEAD, "x", size=16 * MiB)  # as long: the slots the check noted end inside it
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match="changed while it was read"):
            list(source.rows())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * MiB  # the file is 16 MiB
