from __future__ import annotations

import codecs
import csv
import io
import random
import re
import string
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from connectors.csv_source import (
    MAX_VALUE_CHARS,
    CsvSource,
    SourceError,
    SourceRow,
    escape_cell,
    unescape_cell,
)

# -- helpers ----------------------------------------------------------------------------------------


def write(tmp_path: Path, data: bytes | str, name: str = "customers.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def read_all(path: Path, **kwargs: str) -> tuple[CsvSource, list[SourceRow]]:
    source = CsvSource(path, **kwargs)
    return source, list(source.rows())


# -- property: values and line numbers round-trip through csv.writer -> file -> CsvSource -------------

SPECIAL = [",", ";", "\t", "|", '"', "'", "\n", "\r", " ", "0", "=", "-", "+", "@"]
SAMPLES = ["", "007", "00123", "Åsa Öberg", "Müller", "Jääskeläinen", "Ærø Øst", "😀", 'say "hi"', "a\r\nb"]
HEADER_CHARS = string.ascii_letters + string.digits + "_ÅÄÖåäöÜü"
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252"]


def values_strategy(encoding: str, names: bool = False) -> st.SearchStrategy[str]:
    """Text the encoding can hold; with `names`, non-ASCII characters only as realistic names have them (`SAMPLES`)."""
    codec = "ascii" if names else "cp1252" if encoding == "cp1252" else None
    chars = st.one_of(
        st.characters(codec=codec, exclude_categories=("Cs", "Cc")),
        st.sampled_from(SPECIAL),
    )
    samples = [s for s in SAMPLES if encoding != "cp1252" or _encodable(s, encoding)]
    return st.one_of(st.text(chars, max_size=12), st.sampled_from(samples))


def _encodable(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_round_trip_values_and_line_numbers(tmp_path: Path, data: st.DataObject) -> None:
    encoding = data.draw(st.sampled_from(ENCODINGS), label="encoding")
    # Every byte is some character in each 8-bit encoding, so which one random cp1252 characters are in cannot be
    # told (and such text may be refused as garbled): detection is asked only of realistic names, here and in
    # test_encodings.py.  Other cp1252 text is read with its encoding given.
    names = encoding == "cp1252" and data.draw(st.booleans(), label="names")
    delimiter = data.draw(st.sampled_from([",", ";", "\t", "|"]), label="delimiter")
    terminator = data.draw(st.sampled_from(["\r\n", "\n"]), label="terminator")
    width = data.draw(st.integers(2, 6), label="width")
    header_chars = string.ascii_letters + string.digits + "_" if names else HEADER_CHARS
    headers = data.draw(
        st.lists(st.text(header_chars, min_size=1, max_size=10), min_size=width, max_size=width, unique=True),
        label="headers",
    )
    values = values_strategy(encoding, names)
    records = data.draw(
        st.lists(st.lists(values, min_size=width, max_size=width), min_size=1, max_size=8), label="records"
    )
    trailing_newline = data.draw(st.booleans(), label="trailing newline")

    pieces: list[str] = []
    for record in [headers, *records]:
        buf = io.StringIO(newline="")
        # Serialise with "\r\n" so that both CR and LF inside values get quoted (Python 3.11's writer
        # only quotes the characters of its own lineterminator), then use the drawn terminator.
        csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerow(record)
        pieces.append(buf.getvalue()[:-2] + terminator)
    text = "".join(pieces)
    if not trailing_newline:
        text = text[: -len(terminator)]
    raw = text.encode(encoding)
    if encoding == "cp1252" and not raw.isascii():
        # cp1252 text whose first non-ASCII bytes also form valid UTF-8 (e.g. "Ã¶") is genuinely
        # ambiguous: UTF-8 wins.
        assume(not _starts_as_utf8(raw))
    # "Ã¶", "Â°": what UTF-8 read as cp1252 looks like, refused as garbled by design (test_encodings.py); random
    # text holds such pairs, names do not.
    assume(not re.search(rb"[\xc2\xc3][\x80-\xbf]", text.encode("cp1252", "replace")))
    path = write(tmp_path, raw)

    expected: list[tuple[int, tuple[str, ...]]] = []
    line = 1 + line_breaks(pieces[0][: -len(terminator)]) + 1
    for record, piece in zip(records, pieces[1:], strict=True):
        if any(record):  # all-empty records (a line of delimiters) are skipped like blank lines
            expected.append((line, tuple(record)))
        line += line_breaks(piece[: -len(terminator)]) + 1

    source = CsvSource(path, encoding=None if names or encoding != "cp1252" else encoding)
    assert source.delimiter == delimiter
    assert source.headers == tuple(headers)
    assert source.header_line == 1
    assert codecs.lookup(source.encoding).name.replace("_sig", "") in {
        codecs.lookup(encoding).name.replace("_sig", ""),
        "utf-8" if raw.isascii() else "",
        "utf-16" if encoding.startswith("utf-16") else "",
    }
    if not expected:
        with pytest.raises(SourceError, match="no data rows"):
            source.check()
        return
    assert source.check() == len(expected)
    got = [(row.line, row.values) for row in source.rows()]
    assert got == expected
    assert all(row.error is None for row in source.rows())


PLAIN_CELLS = st.sampled_from(["", " ", "  ", "\t", "007", "Åsa", "a b", "\xa0", "=1", "x" * 20])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_file_without_quotes_is_read_line_by_line_as_the_csv_reader_reads_it(
    tmp_path: Path, data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the lines (blank, whitespace, only delimiters, too many or too few values, CRLF and LF),
    wherever a read ends and however the file is cut into slots: the same records with the same lines."""
    monkeypatch.setattr("connectors.csv_source._READ_BUFFER", data.draw(st.sampled_from([3, 7, 64, 1 << 20])))
    encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]), label="encoding")
    delimiter = data.draw(st.sampled_from([",", ";", "\t", "|"]), label="delimiter")
    lines = data.draw(st.lists(st.lists(PLAIN_CELLS, min_size=0, max_size=5), max_size=12), label="lines")
    endings = data.draw(st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(lines) + 1, max_size=len(lines) + 1))
    text = "Namn" + delimiter + "Ort" + endings[0]
    text += "".join(delimiter.join(cells) + end for cells, end in zip(lines, endings[1:], strict=True))
    if data.draw(st.booleans(), label="cut last line break"):
        text = text.rstrip("\r\n")
    path = write(tmp_path, text, encoding=encoding)
    by_reader = _rows_or_none(CsvSource(path, delimiter=delimiter))

    source = CsvSource(path, delimiter=delimiter)
    slot_rows = data.draw(st.integers(1, 5), label="slot rows")
    if not by_reader:
        assert source._plain_starts(slot_rows) is None
        return
    assert source.check(slot_rows) == len(by_reader)
    assert source.plain is not None
    assert list(source.rows()) == by_reader
    in_slots = [row for slot in range(source.plain.slots) for row in source.rows(slot)]
    assert in_slots == by_reader
    assert all(len(list(source.rows(slot))) == slot_rows for slot in range(source.plain.slots - 1))


ONE_TO_THREE_COLUMNS = ("Namn", "Ort", "Land")
BLANKISH_LINES = st.sampled_from(["", " ", "   ", "\t", "\xa0", " \t "])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_counting_reading_slots_and_the_csv_reader_agree_for_one_to_three_columns(
    tmp_path: Path, data: st.DataObject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One definition of a blank record: the rows check() counts, the rows read in one pass, the rows read
    slot by slot (as the reading processes do, trusting a short slot as the end) and the rows the csv reader
    yields for the same records (also when every value is quoted) are the same rows, with the same lines."""
    monkeypatch.setattr("connectors.csv_source._READ_BUFFER", data.draw(st.sampled_from([3, 7, 64, 1 << 20])))
    encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]), label="encoding")
    delimiter = data.draw(st.sampled_from([",", ";", "\t", "|"]), label="delimiter")
    width = data.draw(st.integers(1, 3), label="width")
    record = st.lists(PLAIN_CELLS, min_size=0, max_size=width + 2).map(delimiter.join)
    body = data.draw(st.lists(st.one_of(BLANKISH_LINES, record), max_size=14), label="lines")
    before = data.draw(st.lists(BLANKISH_LINES, max_size=2), label="lines before the header")
    lines = [*before, delimiter.join(ONE_TO_THREE_COLUMNS[:width]), *body]
    endings = data.draw(st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(lines), max_size=len(lines)))
    if data.draw(st.booleans(), label="cut last line break"):
        endings[-1] = ""
    text = "".join(line + end for line, end in zip(lines, endings, strict=True))
    path = write(tmp_path, text, encoding=encoding)
    by_reader = _rows_or_none(CsvSource(path, delimiter=delimiter))
    # The same records with every value quoted: read by the csv reader only.
    quoted_lines = [delimiter.join(f'"{cell}"' for cell in line.split(delimiter)) if line else "" for line in lines]
    quoted_text = "".join(line + end for line, end in zip(quoted_lines, endings, strict=True))
    quoted = CsvSource(write(tmp_path, quoted_text, name="quoted.csv", encoding=encoding), delimiter=delimiter)
    assert _rows_or_none(quoted) == by_reader

    source = CsvSource(path, delimiter=delimiter)
    slot_rows = data.draw(st.integers(1, 4), label="slot rows")
    if not by_reader:
        assert source._plain_starts(slot_rows) is None
        with pytest.raises(SourceError, match="no data rows"):
            source.check(slot_rows)
        return
    assert source.check(slot_rows) == len(by_reader)
    assert source.plain is not None
    assert list(source.rows()) == by_reader
    slots = [list(source.rows(slot)) for slot in range(source.plain.slots)]
    assert [row for slot in slots for row in slot] == by_reader
    assert all(len(slot) == slot_rows for slot in slots[:-1]) and 0 < len(slots[-1]) <= slot_rows


def test_a_whitespace_line_in_a_one_column_file_is_blank_for_counting_and_reading(tmp_path: Path) -> None:
    text = "Namn\r\n   \r\nAcme AB\r\n\t\r\n \r\nBeta AB\r\n\xa0\r\n\r\nGamma AB"
    path = write(tmp_path, text)
    expected = [SourceRow(3, ("Acme AB",)), SourceRow(6, ("Beta AB",)), SourceRow(9, ("Gamma AB",))]
    assert list(CsvSource(path).rows()) == expected  # the csv reader
    source = CsvSource(path)
    assert source.check(2) == 3
    assert source.plain is not None
    assert list(source.rows()) == expected
    assert [list(source.rows(slot)) for slot in range(source.plain.slots)] == [expected[:2], expected[2:]]


def test_a_one_column_file_is_read_whole_by_slots(tmp_path: Path) -> None:
    """801 names and a whitespace-only line in the first slot: every reading process's slots together are
    the whole file (a slot shorter than SLOT_ROWS is taken as the end of the input)."""
    from jobs.pipeline.inputs import SLOT_ROWS, CsvInput
    from jobs.pipeline.snapshot import take

    lines = ["name"] + [f"Firma {i}" for i in range(1, 802)]
    lines.insert(10, "   ")
    path = write(tmp_path, "\n".join(lines) + "\n")
    inp = CsvInput(take(str(path)), "customers")
    assert inp.total == 801
    slots = inp.slots()
    assert slots == 3
    read = [[item for item in inp.iter_items(slot=slot) if item is not None] for slot in range(slots)]
    assert [len(items) for items in read] == [SLOT_ROWS, SLOT_ROWS, 1]
    in_slots = [item.row_number for items in read for item in items]
    assert in_slots == [item.row_number for item in inp.iter_items() if item is not None]
    assert in_slots == [*range(2, 11), *range(12, 804)]


def _rows_or_none(source: CsvSource) -> list[SourceRow]:
    try:
        return list(source.rows())
    except SourceError:  # no data rows
        return []


def test_files_only_the_csv_reader_reads(tmp_path: Path) -> None:
    for text in ['Namn;Ort\n"A; AB";Malmö\n', "Namn;Ort\rA;B\r", "Namn;Ort\n\n;;\n"]:
        source = CsvSource(write(tmp_path, text), delimiter=";")
        assert source._plain_starts(400) is None
    source = CsvSource(write(tmp_path, "Namn;Ort\nA;B\n", encoding="utf-16"), delimiter=";")
    assert source._plain_starts(400) is None and source.check() == 1 and source.plain is None


def test_a_plain_file_changed_after_its_check_stops_the_reading(tmp_path: Path) -> None:
    path = write(tmp_path, "Namn;Ort\nA;Malmö\nB;Lund\n")
    source = CsvSource(path)
    assert source.check() == 2
    path.write_text('Namn;Ort\n"A";Malmö\nB;Lund\n', encoding="utf-8")
    with pytest.raises(SourceError, match="changed while it was read"):
        list(source.rows())


def _starts_as_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return not raw[: exc.start].isascii()
    return True


# -- examples: encodings and delimiters --------------------------------------------------------------


def test_windows_1252_nordic_export(tmp_path: Path) -> None:
    text = "Företag;Org.nr;Ort\r\nMalmö Bygg AB;556677-8899;Malmö\r\nÅkesson & Söner;0012345678;Växjö\r\n"
    source, rows = read_all(write(tmp_path, text, encoding="cp1252"))
    assert source.encoding == "cp1252"
    assert source.delimiter == ";"
    assert source.headers == ("Företag", "Org.nr", "Ort")
    assert rows == [
        SourceRow(2, ("Malmö Bygg AB", "556677-8899", "Malmö")),
        SourceRow(3, ("Åkesson & Söner", "0012345678", "Växjö")),
    ]


def test_cp1252_undefined_bytes_fall_back_to_latin1(tmp_path: Path) -> None:
    # Bytes that no Windows program writes count against cp1252 (in a file of little else they read as garbled in
    # every encoding tried, and it is refused); among ordinary Nordic text they are read as latin-1 reads them.
    text = "Namn;Ort\r\nMalmö Bygg AB;Malmö\r\nÅsa Öberg;Växjö\r\nJääskeläinen;x"
    source, rows = read_all(write(tmp_path, text.encode("cp1252") + b"\x81\x9d\r\n"))
    assert source.encoding == "cp1252"
    assert rows[-1].values == ("Jääskeläinen", "x\x81\x9d")


def test_utf16_tab_export_from_excel(tmp_path: Path) -> None:
    text = "Name\tOrg.nr\tCity\r\nÅsa Öberg\t007\tMalmö\r\nMüller GmbH\t\tBerlin\r\n"
    source, rows = read_all(write(tmp_path, text, encoding="utf-16"))
    assert source.encoding == "utf-16"
    assert source.delimiter == "\t"
    assert source.headers == ("Name", "Org.nr", "City")
    assert [r.values for r in rows] == [("Åsa Öberg", "007", "Malmö"), ("Müller GmbH", "", "Berlin")]


def test_utf16_le_without_bom(tmp_path: Path) -> None:
    text = "Name;City\r\nJääskeläinen;Espoo\r\n"
    source, rows = read_all(write(tmp_path, text, encoding="utf-16-le"))
    assert source.encoding == "utf-16-le"
    assert rows == [SourceRow(2, ("Jääskeläinen", "Espoo"))]


def test_utf8_bom_is_not_part_of_the_first_header(tmp_path: Path) -> None:
    source, rows = read_all(write(tmp_path, "Namn,Ort\nÅsa,Umeå\n", encoding="utf-8-sig"))
    assert source.encoding == "utf-8-sig"
    assert source.headers == ("Namn", "Ort")
    assert rows[0].values == ("Åsa", "Umeå")


def test_given_utf8_with_bom_still_drops_the_bom(tmp_path: Path) -> None:
    source = CsvSource(write(tmp_path, "Namn,Ort\nÅsa,Umeå\n", encoding="utf-8-sig"), encoding="utf-8")
    assert source.headers == ("Namn", "Ort")


def test_ascii_head_then_cp1252_later_is_detected_as_cp1252(tmp_path: Path) -> None:
    body = "".join(f"Customer {i};{i:05d};Stockholm\r\n" for i in range(4000))  # > 64 KiB of ASCII
    raw = ("Namn;Nr;Ort\r\n" + body + "Malmö AB;99999;Malmö\r\n").encode("cp1252")
    assert len(raw) > 64 * 1024
    source, rows = read_all(write(tmp_path, raw))
    assert source.encoding == "cp1252"
    assert rows[-1] == SourceRow(4002, ("Malmö AB", "99999", "Malmö"))


def test_sample_boundary_inside_a_multibyte_char_and_a_quoted_value(tmp_path: Path) -> None:
    head = "Namn;Anteckning;Ort\n"
    filler = "".join(f"Kund {i};x;Lund\n" for i in range(5000))
    prefix = (head + filler).encode()[: 64 * 1024 - 20]
    prefix = prefix[: prefix.rfind(b"\n") + 1]
    # the 64 KiB sample ends between the two bytes of "ö"
    pad = 64 * 1024 - len(prefix) - len('Åsa;"rad 1\nrad '.encode()) - 1
    text = prefix.decode() + 'Åsa;"' + "y" * pad + "rad 1\nrad ö\nrad 3"
    raw = (text + '";Malmö\nSist;z;Umeå\n').encode()
    assert raw[64 * 1024 - 1 : 64 * 1024 + 1] == "ö".encode()
    source, rows = read_all(write(tmp_path, raw))
    assert (source.encoding, source.delimiter, source.headers) == (
        "utf-8",
        ";",
        ("Namn", "Anteckning", "Ort"),
    )
    assert rows[-2].values[0] == "Åsa"
    assert rows[-2].values[1].endswith("rad 1\nrad ö\nrad 3")
    assert rows[-1].line == rows[-2].line + 3


def test_utf8_detected_but_a_later_line_is_not_utf8(tmp_path: Path) -> None:
    body = "".join(f"Customer {i};{i:05d};Stockholm\n" for i in range(4000))
    raw = ("Namn;Nr;Ort\nÅsa;1;Umeå\n" + body).encode() + "Malmö;2;Malmö\n".encode("cp1252")
    path = write(tmp_path, raw)
    source = CsvSource(path)
    assert source.encoding == "utf-8"
    with pytest.raises(SourceError) as info:
        source.check()
    assert info.value.line == 4003
    assert str(info.value).startswith("customers.csv, line 4003: bytes that are not valid utf-8")
    with pytest.raises(SourceError):
        list(source.rows())


def test_damaged_utf8_is_reported_not_read_as_cp1252(tmp_path: Path) -> None:
    raw = "Namn;Ort\nÅsa;Umeå\n".encode() + "Malmö;Malmö\n".encode("cp1252") + "Öst;Ö\n".encode()
    # In a small file the error is met while reading the header, so the constructor raises it.
    with pytest.raises(SourceError, match="line 3: bytes that are not valid utf-8"):
        CsvSource(write(tmp_path, raw)).check()
    cut = write(tmp_path, "Namn;Ort\nÅsa;Umeå\nx;".encode() + b"\xc3", name="cut.csv")
    with pytest.raises(SourceError, match="line 3: bytes that are not valid utf-8"):
        CsvSource(cut).check()
    odd = write(tmp_path, "Namn;Ort\nÅsa;Umeå\n".encode("utf-16") + b"\x00", name="odd.csv")
    with pytest.raises(SourceError, match="line 3: bytes that are not valid utf-16"):
        CsvSource(odd).check()


def test_given_encoding_with_undecodable_bytes_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "Namn;Ort\r\nAcme;Lund\r\nMalmö;Malmö\r\n", encoding="cp1252")
    with pytest.raises(SourceError) as info:
        CsvSource(path, encoding="utf-8").check()
    assert info.value.line == 3
    assert "not valid utf-8" in str(info.value)


def test_override_encoding_and_delimiter(tmp_path: Path) -> None:
    path = write(tmp_path, "Namn;Ort,Land\r\nMalmö AB;Malmö,SE\r\n", encoding="latin-1")
    source, rows = read_all(path, encoding="latin-1", delimiter=",")
    assert source.encoding == "iso8859-1"
    assert source.delimiter == ","
    assert source.headers == ("Namn;Ort", "Land")
    assert rows == [SourceRow(2, ("Malmö AB;Malmö", "SE"))]
    tab = write(tmp_path, "a\tb\n1\t2\n", name="tab.csv")
    assert CsvSource(tab, delimiter="tab").delimiter == "\t"
    assert CsvSource(tab, delimiter="\\t").headers == ("a", "b")


def test_invalid_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(ValueError, match="unknown encoding"):
        CsvSource(path, encoding="utf-9")
    with pytest.raises(ValueError, match="invalid delimiter"):
        CsvSource(path, delimiter=";;")
    with pytest.raises(ValueError, match="invalid delimiter"):
        CsvSource(path, delimiter='"')


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("Namn;Belopp;Ort\n1,5;2,75;Lund\n3,0;4,1;Malmö\n", ";"),  # decimal commas
        ("Name,Notes,City\nAcme; Inc,a;b;c,Lund\n", ","),  # semicolons in comma-separated values
        ("Namn, företag;Org.nr;Ort\nAcme;1;Lund\nBeta;2;Umeå\n", ";"),  # comma in a header
        ('"Name","City"\n"Acme; AB","Lund"\n', ","),
        ("Name|City|Country\nAcme|Lund|SE\n", "|"),
        ("Name\tCity\nA, B; C\tLund\n", "\t"),
        ("Name\nAcme\nBeta\n", ","),  # single column: no candidate, assume comma
    ],
)
def test_delimiter_detection(tmp_path: Path, text: str, delimiter: str) -> None:
    assert CsvSource(write(tmp_path, text)).delimiter == delimiter


def test_excel_sep_line(tmp_path: Path) -> None:
    source, rows = read_all(write(tmp_path, "sep=;\r\nName;City\r\nAcme, AB;Lund\r\n"))
    assert source.delimiter == ";"
    assert source.headers == ("Name", "City")
    assert source.header_line == 2
    assert rows == [SourceRow(3, ("Acme, AB", "Lund"))]
    given = CsvSource(write(tmp_path, "sep=;\nName;City\nAcme;Lund\n", name="b.csv"), delimiter=";")
    assert given.headers == ("Name", "City")


# -- examples: structural errors --------------------------------------------------------------------


def test_truncated_file_unterminated_quote(tmp_path: Path) -> None:
    text = 'Name,City\r\nAcme,Lund\r\nBeta,"Malm\r\nGamma,Umeå\r\n'
    source = CsvSource(write(tmp_path, text))
    with pytest.raises(SourceError) as info:
        source.check()
    assert str(info.value) == "customers.csv, line 3: unterminated quoted field (file truncated?)"
    rows = source.rows()
    assert next(rows) == SourceRow(2, ("Acme", "Lund"))
    with pytest.raises(SourceError, match="line 3: unterminated"):
        next(rows)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 4,
        random.Random(7).randbytes(5000),
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(200),  # an .xlsx
        bytes(range(1, 32)) * 50,
    ],
    ids=["png", "random", "xlsx", "control-chars"],
)
def test_binary_file(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(SourceError, match="not a text file"):
        CsvSource(write(tmp_path, data))


def test_binary_data_after_the_sample_names_the_line(tmp_path: Path) -> None:
    body = "".join(f"Customer {i},{i}\n" for i in range(6000))
    raw = ("Name,Nr\n" + body).encode() + b"Bad\x00name,1\n" + b"\x00\x01\x00\x00\x00\x02\x00,1\n"
    source = CsvSource(write(tmp_path, raw))
    with pytest.raises(SourceError) as info:
        source.check()
    assert info.value.line == 6002
    assert "not a text file" in str(info.value)


def test_a_stray_nul_is_read_as_part_of_its_value(tmp_path: Path) -> None:
    """A NUL or two in a value is damage in one row, for the pipeline to fail that row; it is not binary data."""
    body = "".join(f"Customer {i},{i}\n" for i in range(6000))
    source = CsvSource(write(tmp_path, ("Name,Nr\nFirst\x00,0\n" + body + "Bad\x00name,1\n").encode()))
    assert source.check() == 6002
    rows = list(source.rows())
    assert source.has_nuls
    assert (rows[0], rows[-1]) == (SourceRow(2, ("First\x00", "0")), SourceRow(6003, ("Bad\x00name", "1")))
    with pytest.raises(SourceError, match="column 2 of the header holds a NUL"):
        CsvSource(write(tmp_path, b"Name,N\x00r\nAcme,1\n"))


@pytest.mark.parametrize("data", [b"", codecs.BOM_UTF8, b"\r\n\r\n  \n", "\n".encode("utf-16")])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(SourceError, match="empty"):
        CsvSource(write(tmp_path, data))


@pytest.mark.parametrize("text", ["Name;City\r\n", "Name;City", "Name;City\n\n\n;\n"])
def test_header_only(tmp_path: Path, text: str) -> None:
    source = CsvSource(write(tmp_path, text))
    with pytest.raises(SourceError) as info:
        source.check()
    assert str(info.value) == "customers.csv, line 1: there are no data rows after the header"
    with pytest.raises(SourceError):
        list(source.rows())


def test_huge_cell(tmp_path: Path) -> None:
    text = "Name,Notes\nAcme,short\nBeta," + "x" * (10 * 1024 * 1024) + "\nGamma,ok\n"
    source = CsvSource(write(tmp_path, text))
    with pytest.raises(SourceError) as info:
        source.check()
    assert str(info.value) == "customers.csv, line 3: a value is longer than 1 MiB (1,048,576 characters)"


def test_value_of_exactly_the_limit_is_fine(tmp_path: Path) -> None:
    text = "Name,Notes\nAcme," + "x" * MAX_VALUE_CHARS + "\n"
    _, rows = read_all(write(tmp_path, text))
    assert len(rows[0].values[1]) == MAX_VALUE_CHARS


def test_runaway_quote_is_reported_at_its_start(tmp_path: Path) -> None:
    body = "".join(f"Customer {i},{i}\n" for i in range(60000))
    text = 'Name,Nr\nAcme,1\n"Beta,2\n' + body
    with pytest.raises(SourceError) as info:
        CsvSource(write(tmp_path, text)).check()
    assert info.value.line == 3
    assert "unterminated quote" in str(info.value)


def test_header_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        CsvSource(write(tmp_path, "\nName;Telefon;City;Telefon\n1;2;3;4\n"))
    assert str(info.value) == "customers.csv, line 2: duplicate column name 'Telefon' (columns 2 and 4)"
    with pytest.raises(SourceError, match="line 1: column 2 of the header has no name"):
        CsvSource(write(tmp_path, "Name;;City\n1;2;3\n"))
    wide = ";".join(f"c{i}" for i in range(501))
    with pytest.raises(SourceError, match="501 columns, at most 500"):
        CsvSource(write(tmp_path, wide + "\n" + wide + "\n"))
    ok = ";".join(f"c{i}" for i in range(500))
    assert len(CsvSource(write(tmp_path, ok + "\n" + ok + "\n")).headers) == 500


def test_trailing_empty_header_cells_are_ignored(tmp_path: Path) -> None:
    source, rows = read_all(write(tmp_path, " Name ;City;;\r\nAcme;Lund;;\r\nBeta;Umeå\r\n"))
    assert source.headers == ("Name", "City")
    assert rows == [SourceRow(2, ("Acme", "Lund")), SourceRow(3, ("Beta", "Umeå"))]


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ("utf-16", "does not start with a utf-16 byte order mark"),
        ("utf16", "does not start with a utf-16 byte order mark"),
        ("UTF-32", "does not start with a utf-32 byte order mark"),
        ("rot13", "'rot13' is not a character encoding of text files"),
        ("hex", "'hex' is not a character encoding of text files"),
        ("base64", "'base64' is not a character encoding of text files"),
        ("zlib", "'zlib' is not a character encoding of text files"),
        ("idna", "'idna' is not a character encoding of text files"),
        ("punycode", "'punycode' is not a character encoding of text files"),
        ("unicode_escape", "'unicode_escape' is not a character encoding of text files"),
        ("undefined", "'undefined' is not a character encoding of text files"),
    ],
)
def test_a_given_encoding_that_cannot_read_the_file_is_one_source_error(
    tmp_path: Path, encoding: str, message: str
) -> None:
    for text in ("Namn;Org.nr\nAcme AB;556036-0793\nÅsa;1\n", "Namn;Org.nr\nAcme AB;556036-0793\n"):
        path = write(tmp_path, text)  # UTF-8 without a BOM, of an odd and an even number of bytes
        with pytest.raises(SourceError) as info:
            CsvSource(path, encoding=encoding).check()
        assert str(info.value).startswith("customers.csv")
        assert message in str(info.value) and "\n" not in str(info.value)


def test_a_decoder_error_that_is_no_unicode_decode_error_is_a_source_error(tmp_path: Path) -> None:
    path = write(tmp_path, "Namn;Ort\nA;B\n".encode("utf-16"))
    source = CsvSource(path, encoding="utf-16")
    assert source.check() == 1
    path.write_bytes(b"Namn;Ort\nA;B\n")  # changed after the header was read: the stream has no BOM now
    with pytest.raises(SourceError, match=r"customers.csv, line 1: not utf-16 text \(UTF-16 stream does not start"):
        list(source.rows())


def test_a_given_utf16_or_utf32_with_a_bom_is_read(tmp_path: Path) -> None:
    for encoding in ("utf-16", "utf-32"):
        path = write(tmp_path, "Namn;Ort\r\nÅsa;Umeå\r\n", encoding=encoding)
        source, rows = read_all(path, encoding=encoding)
        assert (source.encoding, source.check(), rows) == (encoding, 1, [SourceRow(2, ("Åsa", "Umeå"))])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.csv: cannot read the file"):
        CsvSource(tmp_path / "nope.csv")


def test_source_error_text() -> None:
    assert str(SourceError("/x/customers.csv", "bad", 7)) == "customers.csv, line 7: bad"
    assert str(SourceError("customers.csv", "two\nlines")) == "customers.csv: two lines"


# -- examples: row-level behaviour ------------------------------------------------------------------


def test_too_many_values_is_a_row_error_and_reading_continues(tmp_path: Path) -> None:
    text = "Name;Org;City\r\nAcme;1;Lund\r\nBeta;2;Umeå;extra;;\r\nGamma;3;Malmö\r\n"
    source, rows = read_all(write(tmp_path, text))
    assert rows == [
        SourceRow(2, ("Acme", "1", "Lund")),
        SourceRow(3, ("Beta", "2", "Umeå", "extra"), "the line has 4 values but the header has 3 columns"),
        SourceRow(4, ("Gamma", "3", "Malmö")),
    ]
    assert source.check() == 3


def test_fewer_values_are_padded_and_trailing_delimiters_are_fine(tmp_path: Path) -> None:
    text = "Name;Org;City\nAcme\nBeta;2\nGamma;3;Lund;;;\n"
    _, rows = read_all(write(tmp_path, text))
    assert rows == [
        SourceRow(2, ("Acme", "", "")),
        SourceRow(3, ("Beta", "2", "")),
        SourceRow(4, ("Gamma", "3", "Lund")),
    ]


def test_malformed_quoting_is_a_row_error(tmp_path: Path) -> None:
    text = 'Name;Org;City\r\nAcme;1;Lund\r\n"Beta "Best" AB";2;Umeå\r\nGamma;3;Malmö\r\n'
    _, rows = read_all(write(tmp_path, text))
    assert [(r.line, r.error is None) for r in rows] == [(2, True), (3, False), (4, True)]
    assert rows[1].values == ('Beta Best" AB"', "2", "Umeå")  # best effort, for the report
    assert rows[1].error is not None
    assert "malformed quoting" in rows[1].error
    assert rows[2].values == ("Gamma", "3", "Malmö")


def test_blank_lines_and_embedded_newlines_keep_line_numbers(tmp_path: Path) -> None:
    text = '\r\nName,Notes,City\r\n\r\nAcme,"two\r\nlines",Lund\r\n   \r\n,,\r\nBeta,"a\nb\rc",Umeå\r\nGamma,,x'
    source, rows = read_all(write(tmp_path, text))
    assert source.header_line == 2
    assert rows == [
        SourceRow(4, ("Acme", "two\r\nlines", "Lund")),
        SourceRow(8, ("Beta", "a\nb\rc", "Umeå")),
        SourceRow(11, ("Gamma", "", "x")),
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings(tmp_path: Path, newline: str) -> None:
    text = newline.join(["Name,City", "Acme,Lund", "", "Beta,Umeå", ""])
    _, rows = read_all(write(tmp_path, text))
    assert [(r.line, r.values) for r in rows] == [(2, ("Acme", "Lund")), (4, ("Beta", "Umeå"))]


def test_values_stay_text(tmp_path: Path) -> None:
    text = "Nr;Org;Zip;Amount;Flag\n007;0012345678; 211 45 ;1,50;TRUE\n"
    _, rows = read_all(write(tmp_path, text))
    assert rows[0].values == ("007", "0012345678", " 211 45 ", "1,50", "TRUE")


def test_rows_is_a_lazy_generator(tmp_path: Path) -> None:
    body = "".join(f"Customer {i};{i}\n" for i in range(20000))
    source = CsvSource(write(tmp_path, "Name;Nr\n" + body))
    rows = source.rows()
    assert isinstance(rows, types.GeneratorType)
    assert next(rows) == SourceRow(2, ("Customer 0", "0"))
    rows.close()


# -- spreadsheet-safe escaping ----------------------------------------------------------------------


CALC = "cmd|' /C calc'!A0"  # DDE: Excel starts a program


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("=1+2", "'=1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("@home", "'@home"),
        ("+" + CALC, "'+" + CALC),
        ("-2+3+" + CALC, "'-2+3+" + CALC),
        ('-HYPERLINK("http://evil.example")', '\'-HYPERLINK("http://evil.example")'),
        ("- buy milk", "'- buy milk"),  # "- HYPERLINK(...)" is a formula: text after a sign stays escaped
        ("+1E5", "'+1E5"),
        ("-1\n=2", "'-1\n=2"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\t+46 8", "'\t+46 8"),
        # A sign before digits and number punctuation computes a number at most: left as it is.
        ("+46 8 123 45 67", "+46 8 123 45 67"),
        ("+4681234567", "+4681234567"),
        ("+46 (0)8-123 45 67", "+46 (0)8-123 45 67"),
        ("-12.50", "-12.50"),
        ("-12,50", "-12,50"),
        ("-1\u00a0234,50", "-1\u00a0234,50"),
        ("-5", "-5"),
        ("-", "-"),
        ("+", "+"),
        ("-01/02/2024", "-01/02/2024"),
        # Quotes before what `unescape_cell` looks for get one more, whether the rest is dangerous or not.
        ("'=x", "''=x"),
        ("'+46 8 123", "''+46 8 123"),
        ("''-5", "'''-5"),
        ("Acme", "Acme"),
        ("", ""),
        ("'", "'"),
        ("'quoted'", "'quoted'"),
        ("a=b", "a=b"),
    ],
)
def test_escape_cell_examples(value: str, escaped: str) -> None:
    assert escape_cell(value) == escaped
    assert unescape_cell(escaped) == value


def test_unescape_removes_exactly_the_prefix() -> None:
    assert unescape_cell("'=1+2") == "=1+2"
    assert unescape_cell("'Acme") == "'Acme"
    assert unescape_cell("'") == "'"
    assert unescape_cell("=x") == "=x"


def test_a_report_from_before_numbers_were_left_alone_reimports_as_its_values() -> None:
    """Older reports escaped every + and -: their `'` still comes off."""
    assert unescape_cell("'+46 8 123") == "+46 8 123"
    assert unescape_cell("'+4681234567") == "+4681234567"
    assert unescape_cell("'-12.50") == "-12.50"
    assert unescape_cell("'-") == "-"


def _runs_as_formula(cell: str) -> bool:
    """What a spreadsheet runs, written out apart from the module's rule: = @ tab CR, or a sign before
    anything but digits and number punctuation."""
    return cell[:1] in ("=", "@", "\t", "\r") or (
        cell[:1] in ("+", "-") and not set(cell[1:]) <= set("0123456789 \u00a0\u202f().,/-")
    )


# Any text, and text made to start like the cells the escape is about (which st.text() seldom writes).
cells = st.text() | st.builds(
    lambda quotes, start, rest: quotes + start + rest,
    st.text(alphabet="'", max_size=3),
    st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'", "+46 8", "-12"]),
    st.text(alphabet="0123456789 ().,/-+=@'|!aZ\t\r\n\u00a0") | st.text(),
)


@given(cells)
def test_escape_round_trip(value: str) -> None:
    escaped = escape_cell(value)
    assert unescape_cell(escaped) == value
    assert not _runs_as_formula(escaped)


@given(st.from_regex(r"[+-][0-9 ().,/-]*", fullmatch=True))
def test_signed_numbers_are_never_escaped(value: str) -> None:
    assert escape_cell(value) == value
